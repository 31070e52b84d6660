import Foundation
import XCTest
import Sluice

/// setns(2) from glibc (not exported by Swift's Glibc module without _GNU_SOURCE).
@_silgen_name("setns") private func c_setns(_ fd: Int32, _ nstype: Int32) -> Int32
private let CLONE_NEWNET: Int32 = 0x4000_0000

/// A command line that fails while it is being applied (not in validation) must leave nothing
/// changed: the steps already applied are undone.
final class RollbackTests: XCTestCase {
    var net: TestNet!
    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    /// Runs `body` with this thread in network namespace `ns` (sockets made there stay there).
    func inNamespace<T>(_ ns: String, _ body: () throws -> T) throws -> T {
        let own = open("/proc/self/ns/net", O_RDONLY)
        let target = open("/var/run/netns/\(ns)", O_RDONLY)
        defer { Glibc.close(own); Glibc.close(target) }
        guard own >= 0, target >= 0, c_setns(target, CLONE_NEWNET) == 0 else { throw HarnessError("setns into \(ns) failed: errno \(errno)") }
        defer { _ = c_setns(own, CLONE_NEWNET) }
        return try body()
    }

    func testFailureWhileApplyingUndoesTheStepsAlreadyApplied() throws {
        let ns = try net.netns("rb")
        try sh(["ip", "-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1"])
        let dp = Datapath(poolSize: 256)
        dp.log = { _ in }
        let r = CommandRunner(datapath: dp)
        try r.execute("link add br0 type bridge")
        let port = try inNamespace(ns) { try dp.addPacketSocket(name: "p0", kernelInterface: "v0") }
        defer { dp.shutdown() }
        let mtu = port.mtu, qlen = port.txQueueLen
        // The kernel interface goes away under Sluice: joining the bridge needs promiscuous
        // mode (PACKET_MR_PROMISC), which the kernel now refuses.
        try sh(["ip", "-n", ns, "link", "del", "v0"])
        XCTAssertThrowsError(try r.execute("link set p0 mtu 1400 txqueuelen 77 master br0")) { e in
            XCTAssertTrue("\(e)".contains("PACKET_MR_PROMISC"), "\(e)")
        }
        // mtu and txqueuelen were applied before the failure; both are back.
        XCTAssertEqual(port.mtu, mtu)
        XCTAssertEqual(port.txQueueLen, qlen)
        XCTAssertEqual(port.master, 0)
        XCTAssertEqual(port.promiscuity, 0)
        XCTAssertEqual(dp.bridge(dp.device(named: "br0")!)!.ports, [])
    }
}
