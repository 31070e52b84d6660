import XCTest
@testable import Sluice

/// mirred from every place an action runs (ingress hook, clsact egress hook, a qdisc's
/// classifier), mirror and redirect, towards a device that already has more than a batch
/// (256) staged in the same pass. Before staging was made re-entry-free, a full stage flushed
/// from inside the action, re-entering the flush that was draining the shared transmit batch:
/// with exclusivity checking on (as these tests run) that traps; without it, packets were sent
/// twice or freed twice. The invariant: every packet arrives exactly as often as the kernel's
/// mirred semantics say, in order, and the pool is balanced.
final class MirredReentryTests: XCTestCase {
    /// p1, p2, p3 on a bridge; `n` distinct broadcast frames from p1 are flooded to p2 and p3,
    /// so both stages exceed one batch in one pass.
    func burst(_ lab: Lab, _ n: Int) -> ([[UInt8]], [String: [[UInt8]]]) {
        var sent: [[UInt8]] = []
        for i in 0..<n {
            var f = frame(.broadcast, macA, length: 64)
            f[60] = UInt8(i & 0xFF); f[61] = UInt8(i >> 8)
            sent.append(f)
            lab.ports["p1"]!.inject(f)
        }
        return (sent, lab.runUntilIdle())
    }

    func lab() throws -> Lab {
        let lab = try Lab(ports: ["p1", "p2", "p3"], poolSize: 4096)
        // A weight as large as a batch, so one poll stages 256 frames per port.
        for p in ["p1", "p2", "p3"] { try lab.runner.execute("link set \(p) napi_weight 256") }
        return lab
    }

    func testIngressMirrorAndRedirectToAFullStage() throws {
        for redirect in [false, true] {
            let lab = try lab()
            try lab.runner.execute("qdisc add dev p1 ingress")
            try lab.runner.execute("filter add dev p1 parent ffff: protocol all prio 1 matchall action mirred egress \(redirect ? "redirect" : "mirror") dev p3")
            let (sent, out) = burst(lab, 600)
            // Mirror: p3 gets each frame from the bridge and a copy from mirred; redirect: only
            // mirred's (the bridge never sees the frame), and p2 nothing.
            XCTAssertEqual(out["p2"]!.count, redirect ? 0 : 600)
            XCTAssertEqual(out["p3"]!.count, redirect ? 600 : 1200)
            XCTAssertEqual(Set(out["p3"]!), Set(sent))
            if redirect { XCTAssertEqual(out["p3"]!, sent, "in order") }
            XCTAssertEqual(lab.dp.pool.inUse, 0)
        }
    }

    func testEgressHookMirrorAndRedirectToAFullStage() throws {
        for redirect in [false, true] {
            let lab = try lab()
            try lab.runner.execute("qdisc add dev p2 clsact")
            try lab.runner.execute("filter add dev p2 egress protocol all prio 1 matchall action mirred egress \(redirect ? "redirect" : "mirror") dev p3")
            let (sent, out) = burst(lab, 600)
            XCTAssertEqual(out["p2"]!, redirect ? [] : sent)
            // p3: its own flooded copy of each frame, plus what p2's egress handed over.
            XCTAssertEqual(out["p3"]!.count, 1200)
            XCTAssertEqual(Set(out["p3"]!), Set(sent))
            XCTAssertEqual(lab.dp.pool.inUse, 0)
        }
    }

    func testQdiscClassifierMirrorAndRedirectToAFullStage() throws {
        for redirect in [false, true] {
            let lab = try lab()
            try lab.runner.execute("qdisc add dev p2 root handle 1: prio")
            try lab.runner.execute("filter add dev p2 parent 1: protocol all prio 1 matchall action mirred egress \(redirect ? "redirect" : "mirror") dev p3")
            let (sent, out) = burst(lab, 600)
            XCTAssertEqual(out["p2"]!, redirect ? [] : sent)
            XCTAssertEqual(out["p3"]!.count, 1200)
            XCTAssertEqual(lab.dp.pool.inUse, 0)
            let stats = try lab.runner.execute("-s qdisc show dev p2")
            XCTAssertTrue(stats.contains("dropped 0"), stats)
        }
    }

    func testIngressRedirectToIngressOfAnotherPort() throws {
        let lab = try lab()
        try lab.runner.execute("qdisc add dev p1 ingress")
        try lab.runner.execute("filter add dev p1 parent ffff: protocol all prio 1 matchall action mirred ingress redirect dev p3")
        // As if received on p3: flooded to p1 and p2, never back out p3.
        let (sent, out) = burst(lab, 600)
        XCTAssertEqual(out["p1"]!, sent)
        XCTAssertEqual(out["p2"]!, sent)
        XCTAssertEqual(out["p3"]!, [])
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }

    /// Two egress hooks redirecting to each other: the kernel stops the loop at
    /// MIRRED_NEST_LIMIT and drops; so does Sluice, counted, nothing leaked, and the
    /// datapath goes on forwarding.
    func testRedirectLoopIsBoundedAndCounted() throws {
        let lab = try lab()
        try lab.runner.execute("qdisc add dev p2 clsact")
        try lab.runner.execute("qdisc add dev p3 clsact")
        try lab.runner.execute("filter add dev p2 egress protocol all prio 1 matchall action mirred egress redirect dev p3")
        try lab.runner.execute("filter add dev p3 egress protocol all prio 1 matchall action mirred egress redirect dev p2")
        let (_, out) = burst(lab, 300)
        XCTAssertEqual(out["p2"]!, [])
        XCTAssertEqual(out["p3"]!, [])
        let dropped = lab.dev("p2").dropCount(.nestLimit) + lab.dev("p3").dropCount(.nestLimit)
        XCTAssertEqual(dropped, 600, "both flooded copies of each frame end at the nest limit")
        XCTAssertEqual(lab.dp.pool.inUse, 0)
        try lab.runner.execute("filter del dev p2 egress prio 1")
        let (sent, out2) = burst(lab, 10)
        // p2 sends its own flooded copy and the one p3's egress still redirects to it.
        XCTAssertEqual(out2["p2"]!.count, 20, "still forwarding")
        XCTAssertEqual(Set(out2["p2"]!), Set(sent))
        XCTAssertEqual(out2["p3"]!.count, 0)
        XCTAssertEqual(lab.dp.pool.inUse, 0)
    }
}
