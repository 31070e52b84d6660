import Foundation
import XCTest
import CSluiceVIF
import SluiceVIF
@testable import Sluice

/// The virtual NIC's rings, grants and backend, with a frontend written here slot by slot (so
/// that it can also lie). Expected behaviour is Xen's (io/ring.h's index and event rules,
/// grant_table.h's busy rule, netback's fatal-error cases), not Sluice's own output.
final class VIFTests: XCTestCase {
    /// A frontend that writes the shared memory by hand.
    final class RawFront {
        let layout: VIFLayout
        let memfd: Int32
        let base: UnsafeMutableRawPointer
        let toBackend = csv_eventfd(), fromBackend = csv_eventfd()
        let tx: VIFRingHeader, rx: VIFRingHeader
        let grants: VIFGrantTable
        var txProd: UInt32 = 0, rxProd: UInt32 = 0, txRspCons: UInt32 = 0, rxRspCons: UInt32 = 0
        var notified = 0
        init(slots: Int = 32, pages: Int = 256) {
            layout = VIFLayout(ringSlots: slots, grants: pages, dataPages: pages, features: VIF.featureSG)
            memfd = csv_memfd("test-vif", layout.totalSize)
            base = mmap(nil, layout.totalSize, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0)!
            layout.write(to: base)
            tx = VIFRingHeader(base + layout.txRingOffset)
            rx = VIFRingHeader(base + layout.rxRingOffset)
            tx.reqEvent = 1; tx.rspEvent = 1; rx.reqEvent = 1; rx.rspEvent = 1
            grants = VIFGrantTable(base + layout.grantOffset, count: pages)
        }
        deinit { munmap(base, layout.totalSize); close(memfd); close(toBackend); close(fromBackend) }

        func connect(_ dp: Datapath, owner: Int32 = 99, name: String = "vif1") throws {
            var payload = [UInt8](repeating: 0, count: 16)
            for (i, b) in name.utf8.enumerated() { payload[i] = b }
            payload += Array(UnsafeRawBufferPointer(start: base, count: VIFLayout.headerBytes))
            try dp.connectVif(payload: payload, fds: [dup(memfd), dup(toBackend), dup(fromBackend)], owner: owner)
        }
        func page(_ n: Int) -> UnsafeMutableRawPointer { base + layout.dataOffset + n * VIF.pageSize }
        func txSlot(_ i: UInt32) -> UnsafeMutableRawPointer { base + layout.txRingOffset + VIF.ringHeaderSize + Int(i & UInt32(layout.ringSlots - 1)) * VIF.txSlotSize }
        func rxSlot(_ i: UInt32) -> UnsafeMutableRawPointer { base + layout.rxRingOffset + VIF.ringHeaderSize + Int(i & UInt32(layout.ringSlots - 1)) * VIF.rxSlotSize }

        /// Writes `frame` into page `pg`, grants it read-only and queues one tx request.
        func queueTx(_ frame: [UInt8], page pg: Int, id: UInt16? = nil, flags: UInt16 = 0, grant: Bool = true) {
            frame.withUnsafeBytes { page(pg).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            if grant { grants.grant(pg, page: pg, offset: 0, length: frame.count, readOnly: true) }
            VIFTxRequest(gref: UInt32(pg), offset: 0, flags: flags, id: id ?? UInt16(txProd & UInt32(layout.ringSlots - 1)), size: UInt16(frame.count))
                .store(to: txSlot(txProd))
            txProd &+= 1
        }
        /// Publishes tx requests, notifying when the backend asked (returns whether it did).
        @discardableResult
        func pushTx() -> Bool {
            let old = tx.reqProd
            tx.reqProd = txProd
            guard VIF.needsNotify(new: txProd, old: old, event: tx.reqEvent) else { return false }
            var one: UInt64 = 1
            _ = write(toBackend, &one, 8)
            notified += 1
            return true
        }
        /// Posts an rx request for page `pg` (writable unless `readOnly`).
        func postRx(page pg: Int, readOnly: Bool = false) {
            grants.grant(pg, page: pg, offset: 0, length: VIF.pageSize, readOnly: readOnly)
            let s = rxSlot(rxProd)
            s.storeBytes(of: UInt16(rxProd & UInt32(layout.ringSlots - 1)), as: UInt16.self)
            s.storeBytes(of: UInt32(pg), toByteOffset: 4, as: UInt32.self)
            rxProd &+= 1
            rx.reqProd = rxProd
            var one: UInt64 = 1
            _ = write(toBackend, &one, 8)
        }
        /// Tx responses as (id, status).
        func takeTxResponses() -> [(UInt16, Int16)] {
            var out: [(UInt16, Int16)] = []
            while txRspCons != tx.rspProd {
                let s = txSlot(txRspCons)
                out.append((s.loadUnaligned(as: UInt16.self), s.loadUnaligned(fromByteOffset: 2, as: Int16.self)))
                txRspCons &+= 1
            }
            return out
        }
        /// Rx responses as (id, flags, status).
        func takeRxResponses() -> [(UInt16, UInt16, Int16)] {
            var out: [(UInt16, UInt16, Int16)] = []
            while rxRspCons != rx.rspProd {
                let s = rxSlot(rxRspCons)
                out.append((s.loadUnaligned(as: UInt16.self), s.loadUnaligned(fromByteOffset: 4, as: UInt16.self), s.loadUnaligned(fromByteOffset: 6, as: Int16.self)))
                rxRspCons &+= 1
            }
            return out
        }
    }

    /// A bridge with the vif and two in-memory ports.
    final class Switch {
        let dp = Datapath(poolSize: 1024, clock: .virtual(start: 1))
        let m1 = MemoryDriver(), m2 = MemoryDriver()
        let runner: CommandRunner
        init() throws {
            dp.log = { _ in }
            runner = CommandRunner(datapath: dp)
            try runner.execute("link add br0 type bridge")
            try runner.execute("link add vif1 type vif")
            try dp.addMemory(name: "m1", driver: m1)
            try dp.addMemory(name: "m2", driver: m2)
            for p in ["vif1", "m1", "m2"] { try runner.execute("link set \(p) master br0 up") }
            try runner.execute("link set br0 up")
        }
        var vif: VifDriver { dp.device(named: "vif1")!.driver as! VifDriver }
        func run() {
            for _ in 0..<50 {
                dp.runOnce(timeoutMs: 0)
                if dp.pollListCount == 0 && m1.pending == 0 && m2.pending == 0 { break }
            }
        }
    }

    static func frame(dst: UInt8, src: UInt8, size: Int = 60, fill: UInt8 = 0x42) -> [UInt8] {
        FrameBuilder.ethernet(dst: MACAddress(raw: 0x0200_0000_0000 | UInt64(dst)), src: MACAddress(raw: 0x0200_0000_0000 | UInt64(src)),
                              type: 0x88B5, payload: [UInt8](repeating: fill, count: size - 14))
    }

    // MARK: rings and grants

    func testEventIndexRuleAcrossWrapAround() {
        // RING_PUSH_REQUESTS_AND_CHECK_NOTIFY: notify iff the event index is in (old, new].
        XCTAssertTrue(VIF.needsNotify(new: 5, old: 0, event: 1))
        XCTAssertTrue(VIF.needsNotify(new: 5, old: 0, event: 5))
        XCTAssertFalse(VIF.needsNotify(new: 5, old: 0, event: 6))
        XCTAssertFalse(VIF.needsNotify(new: 5, old: 3, event: 3))
        XCTAssertTrue(VIF.needsNotify(new: 2, old: 0xFFFF_FFFE, event: 0xFFFF_FFFF))
        XCTAssertTrue(VIF.needsNotify(new: 2, old: 0xFFFF_FFFE, event: 0))
        XCTAssertFalse(VIF.needsNotify(new: 2, old: 0xFFFF_FFFE, event: 3))
        XCTAssertFalse(VIF.needsNotify(new: 2, old: 0xFFFF_FFFE, event: 0xFFFF_FFFE))
    }

    func testGrantsAreCheckedAndBusyGrantsCannotBeRevoked() {
        let f = RawFront()
        let g = f.grants
        XCTAssertEqual(g.begin(9999, write: false, dataPages: 256), .failure(.badRef))
        XCTAssertEqual(g.begin(3, write: false, dataPages: 256), .failure(.notGranted))
        g.grant(3, page: 3, offset: 100, length: 200, readOnly: true)
        XCTAssertEqual(g.begin(3, write: true, dataPages: 256), .failure(.readOnly))
        XCTAssertEqual(g.begin(3, write: false, dataPages: 256), .success(.init(page: 3, offset: 100, length: 200)))
        // gnttab_end_foreign_access_ref: not while the backend reads it.
        XCTAssertFalse(g.revoke(3))
        g.end(3, write: false)
        XCTAssertTrue(g.revoke(3))
        XCTAssertEqual(g.begin(3, write: false, dataPages: 256), .failure(.notGranted))
        // A grant naming a page outside the data pages, or past the page's end, is refused.
        g.grant(4, page: 300, offset: 0, length: 10, readOnly: false)
        XCTAssertEqual(g.begin(4, write: true, dataPages: 256), .failure(.notGranted))
        g.grant(5, page: 5, offset: 4000, length: 200, readOnly: false)
        XCTAssertEqual(g.begin(5, write: true, dataPages: 256), .failure(.notGranted))
        XCTAssertEqual(g.flags(4) & (VIF.reading | VIF.writing), 0, "a refused grant is not left busy")
    }

    // MARK: the backend

    func testFramesCrossBothWaysAndSlotsAreAnswered() throws {
        let s = try Switch(), f = RawFront()
        try f.connect(s.dp)
        XCTAssertTrue(s.dp.device(named: "vif1")!.isOperational)
        let out = Self.frame(dst: 0xB2, src: 0xA1)
        f.queueTx(out, page: 0)
        f.pushTx()
        s.run()
        XCTAssertTrue(s.m1.takeCaptured() == [out], "flooded to the bridge's other ports")
        XCTAssertTrue(s.m2.takeCaptured() == [out])
        XCTAssertEqual(f.takeTxResponses().map { $0.1 }, [VIF.statusOkay])
        // The other way: learnt, so a frame for 0xA1 goes to the vif, into posted pages (a
        // jumbo frame: two of them, chained with moreData).
        for d in ["vif1", "m1", "m2"] { try s.runner.execute("link set \(d) mtu 9000") }
        let back = Self.frame(dst: 0xA1, src: 0xB2, size: 5000, fill: 7)
        f.postRx(page: 100); f.postRx(page: 101)
        s.m1.inject(back)
        s.run()
        let rsp = f.takeRxResponses()
        XCTAssertEqual(rsp.map { $0.2 }, [4096, 904])
        XCTAssertEqual(rsp.map { $0.1 & VIF.rxMoreData }, [VIF.rxMoreData, 0])
        let got = Array(UnsafeRawBufferPointer(start: f.page(100), count: 4096)) + Array(UnsafeRawBufferPointer(start: f.page(101), count: 904))
        XCTAssertTrue(got == back, "the frame as sent")
        XCTAssertEqual(f.grants.flags(100) & (VIF.reading | VIF.writing), 0)
        XCTAssertEqual(s.dp.pool.inUse, 0)
    }

    /// netback's credit scheduler (`rate`): 8 Mbit/s over 10 ms windows is 10 000 bytes a
    /// window (xen_net_read_rate). As tx_credit_exceeded and tx_add_credit: the credit starts
    /// full at connect, a packet over what is left waits on the ring (not consumed, not
    /// dropped) until the credit timeout, which adds one window's bytes; idle time adds one
    /// window's bytes, not one per window that passed. So 1000-byte frames go 10 per window.
    func testGuestTxIsPacedByNetbacksCreditScheduler() throws {
        let s = try Switch()
        try s.runner.execute("link add vif2 type vif rate 8mbit window 10ms")
        try s.runner.execute("link set vif2 master br0 up")
        let f = RawFront(slots: 256, pages: 512)
        try f.connect(s.dp, name: "vif2")
        let vif = s.dp.device(named: "vif2")!
        let t0 = s.dp.clock.now
        for k in 0..<100 { f.queueTx(Self.frame(dst: 0xB2, src: 0xA1, size: 1000), page: k) }
        f.pushTx()
        var seen: [UInt64] = []
        for ms in stride(from: 0, through: 95, by: 5) {
            s.dp.clock.advance(to: t0 + UInt64(ms) * 1_000_000)
            s.run()
            seen.append(vif.stats.rxPackets)
        }
        // At t ms: 10 * (t / 10 + 1) frames, the rest still on the ring.
        XCTAssertEqual(seen, stride(from: 0, through: 95, by: 5).map { UInt64(10 * ($0 / 10 + 1)) })
        XCTAssertEqual(f.takeTxResponses().count, 100)
        XCTAssertEqual(vif.stats.rxDropped, 0)
        // Idle for a second: one window's credit, not a hundred.
        s.dp.clock.advance(by: 1_000_000_000)
        s.run()
        for k in 0..<30 { f.queueTx(Self.frame(dst: 0xB2, src: 0xA1, size: 1000), page: k) }
        f.pushTx()
        s.run()
        XCTAssertEqual(vif.stats.rxPackets, 110)
        XCTAssertTrue((s.dp.device(named: "vif2")!.driver as! VifDriver).details.contains("rate 10000B/10000us"))
        _ = s.m1.takeCaptured(); _ = s.m2.takeCaptured()
        XCTAssertEqual(s.dp.pool.inUse, 0)
    }

    /// A live vif's rate changed as xen_net_rate_changed does when the toolstack rewrites
    /// `rate`: a credit timeout that is pending fires at once (mod_timer_pending to now, and
    /// tx_credit_callback adds one new window's bytes); otherwise the credit left is clamped
    /// to the new window's bytes. Expected counts follow netback.c's tx_credit_exceeded and
    /// tx_add_credit by hand for 1000-byte frames and 10 ms windows.
    func testAVifsRateChangesLiveAsNetbackHearsANewRate() throws {
        let s = try Switch()
        try s.runner.execute("link add vif2 type vif rate 8mbit window 10ms")
        try s.runner.execute("link set vif2 master br0 up")
        let f = RawFront(slots: 256, pages: 512)
        try f.connect(s.dp, name: "vif2")
        let vif = s.dp.device(named: "vif2")!, drv = vif.driver as! VifDriver
        let t0 = s.dp.clock.now
        func at(_ ms: UInt64) { s.dp.clock.advance(to: t0 + ms * 1_000_000); s.run() }
        for k in 0..<200 { f.queueTx(Self.frame(dst: 0xB2, src: 0xA1, size: 1000), page: k) }
        f.pushTx()
        at(0)
        XCTAssertEqual(vif.stats.rxPackets, 10, "the first window's 10 000 bytes")
        // 16 Mbit/s while the timeout (due at 10 ms) is pending: it fires now with 20 000 bytes.
        at(5)
        try s.runner.execute("link set vif2 type vif rate 16mbit")
        XCTAssertTrue(drv.details.contains("rate 20000B/10000us"), drv.details)
        at(5)
        XCTAssertEqual(vif.stats.rxPackets, 30)
        at(15); XCTAssertEqual(vif.stats.rxPackets, 30, "the next window starts at 20 ms")
        at(20); XCTAssertEqual(vif.stats.rxPackets, 50)
        at(30); XCTAssertEqual(vif.stats.rxPackets, 70)
        // Unlimited: the pending timeout fires and everything waiting goes.
        at(35)
        try s.runner.execute("link set vif2 type vif rate unlimited")
        at(35)
        XCTAssertEqual(vif.stats.rxPackets, 200)
        XCTAssertFalse(drv.details.contains(" rate "), drv.details)
        XCTAssertEqual(f.takeTxResponses().count, 200)
        _ = s.m1.takeCaptured(); _ = s.m2.takeCaptured()

        // No timeout pending: the credit left (90 000 of 100 000) is clamped to the new window's.
        try s.runner.execute("link set vif2 type vif rate 80mbit window 10ms")
        for k in 0..<10 { f.queueTx(Self.frame(dst: 0xB2, src: 0xA1, size: 1000), page: k) }
        f.pushTx()
        at(40)
        XCTAssertEqual(vif.stats.rxPackets, 210)
        XCTAssertEqual(drv.remainingCredit, 90_000)
        try s.runner.execute("link set vif2 type vif rate 8mbit")
        XCTAssertEqual(drv.remainingCredit, 10_000)
        _ = f.takeTxResponses()
        for k in 0..<50 { f.queueTx(Self.frame(dst: 0xB2, src: 0xA1, size: 1000), page: k) }
        f.pushTx()
        at(41)
        XCTAssertEqual(vif.stats.rxPackets, 220)
        // A window alone keeps the rate: 8 Mbit/s over 20 ms.
        try s.runner.execute("link set vif2 type vif window 20ms")
        XCTAssertTrue(drv.details.contains("rate 20000B/20000us"), drv.details)

        // Refused, nothing changed.
        for bad in ["link set vif2 type vif rate 3bit", "link set vif2 type vif rate fast", "link set vif2 type vif window 0",
                    "link set vif2 type vif window 11s", "link set vif2 type vif burst 10", "link set br0 type vif rate 1mbit"] {
            XCTAssertThrowsError(try s.runner.execute(bad), bad)
        }
        XCTAssertTrue(drv.details.contains("rate 20000B/20000us"), drv.details)
        try s.runner.execute("link add vif3 type vif")
        XCTAssertThrowsError(try s.runner.execute("link set vif3 type vif window 10ms"), "no rate to keep")
        _ = s.m1.takeCaptured(); _ = s.m2.takeCaptured()
        XCTAssertEqual(s.dp.pool.inUse, 0)
    }

    func testABusyRingNeedsFarFewerNotificationsThanPackets() throws {
        let s = try Switch(), f = RawFront(slots: 256, pages: 512)
        try f.connect(s.dp)
        var sent = 0
        // Bursts of 32 frames; the backend is run only every few bursts, as a busy worker would be.
        for round in 0..<64 {
            for k in 0..<32 {
                f.queueTx(Self.frame(dst: 0xB2, src: 0xA1), page: (round * 32 + k) % 256)
                sent += 1
            }
            f.pushTx()
            if round % 4 == 3 { s.run(); _ = f.takeTxResponses(); _ = s.m1.takeCaptured(); _ = s.m2.takeCaptured() }
        }
        s.run()
        XCTAssertEqual(s.dp.device(named: "vif1")!.stats.rxPackets, UInt64(sent))
        XCTAssertLessThanOrEqual(f.notified, sent / 32, "at most one wakeup per burst, fewer while the backend is busy")
        XCTAssertLessThan(s.vif.interrupts, UInt64(sent / 32))
    }

    func testHostileRingsDisconnectOnlyThatVifAndFreeEverything() throws {
        // Each case: what the frontend writes, and the reason netback would give.
        let cases: [(String, (RawFront) -> Void, VifDriver.Reason)] = [
            ("producer index past the ring", { f in f.queueTx(Self.frame(dst: 1, src: 2), page: 0); f.txProd = 1000 }, .prodJump),
            ("request id out of range", { f in f.queueTx(Self.frame(dst: 1, src: 2), page: 0, id: 999) }, .badID),
            ("a chain that never ends", { f in for k in 0..<20 { f.queueTx(Self.frame(dst: 1, src: 2), page: k, flags: VIF.moreData) } }, .tooManySlots),
            ("offset + size past the page", { f in
                f.queueTx(Self.frame(dst: 1, src: 2), page: 0, flags: VIF.moreData)
                VIFTxRequest(gref: 1, offset: 4000, flags: 0, id: 1, size: 200).store(to: f.txSlot(f.txProd)); f.txProd &+= 1 }, .slotOverflow),
            ("a size below a header", { f in f.queueTx([1, 2, 3], page: 0) }, .badSize),
            ("later slots larger than the packet the first names", { f in
                f.queueTx(Self.frame(dst: 1, src: 2), page: 0, flags: VIF.moreData)
                VIFTxRequest(gref: 1, offset: 0, flags: 0, id: 1, size: 4000).store(to: f.txSlot(f.txProd)); f.txProd &+= 1 }, .badSize),
            ("an extra-info slot of no known type", { f in
                f.queueTx(Self.frame(dst: 1, src: 2), page: 0, flags: VIF.extraInfo)
                f.txSlot(f.txProd).storeBytes(of: UInt64(0x77), as: UInt64.self); f.txProd &+= 1 }, .badExtra),
        ]
        for (what, write, reason) in cases {
            let s = try Switch(), f = RawFront()
            try f.connect(s.dp)
            write(f)
            f.pushTx()
            s.run()
            XCTAssertNil(s.vif.conn, what)
            XCTAssertEqual(s.vif.counts[reason.rawValue], 1, what)
            XCTAssertFalse(s.dp.device(named: "vif1")!.isOperational, what)
            // Every other port still forwards; nothing leaked.
            let x = Self.frame(dst: 0xB2, src: 0xA1)
            s.m1.inject(x)
            s.run()
            XCTAssertTrue(s.m2.takeCaptured() == [x], what)
            XCTAssertEqual(s.dp.pool.inUse, 0, what)
            // The vif takes a new frontend afterwards.
            let g = RawFront()
            try g.connect(s.dp)
            XCTAssertNotNil(s.vif.conn, what)
        }
    }

    func testMemoryThatCouldShrinkIsRefused() throws {
        let s = try Switch(), f = RawFront()
        // The same layout in an ordinary file: it could be truncated under the mapping.
        let path = NSTemporaryDirectory() + "vif-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        defer { unlink(path) }
        XCTAssertEqual(ftruncate(fd, off_t(f.layout.totalSize)), 0)
        XCTAssertEqual(pwrite(fd, f.base, VIFLayout.headerBytes, 0), VIFLayout.headerBytes)
        XCTAssertThrowsError(try s.dp.connectVif(named: "vif1", memfd: fd, toBackend: dup(f.toBackend), toFrontend: dup(f.fromBackend))) { e in
            XCTAssertTrue("\(e)".contains("sealed against shrinking"), "\(e)")
        }
        XCTAssertNil(s.vif.conn)
        // The sealed memfd of the same frontend is taken.
        try f.connect(s.dp)
        XCTAssertNotNil(s.vif.conn)
    }

    /// A frontend that never takes its responses (nor posts buffers) costs the backend nothing
    /// more: its requests are answered into the ring, the other ports keep forwarding.
    func testAFrontendThatStopsConsumingResponsesHurtsOnlyItself() throws {
        let s = try Switch(), f = RawFront()
        try f.connect(s.dp)
        for round in 0..<10 {
            for k in 0..<32 { f.queueTx(Self.frame(dst: 0xB2, src: 0xA1), page: (round * 32 + k) % 256) }
            f.pushTx()
            s.run()
        }
        XCTAssertEqual(s.dp.device(named: "vif1")!.stats.rxPackets, 320, "every request served")
        XCTAssertNotNil(s.vif.conn)
        let x = Self.frame(dst: 0xB2, src: 0xC3)
        s.m1.inject(x)
        s.run()
        XCTAssertTrue(s.m2.takeCaptured().contains(x))
        // The flooded copy for the vif waits in its queue (no buffers posted); nothing else is held.
        XCTAssertEqual(s.dp.pool.inUse, s.vif.pending.count)
        s.vif.disconnect("test")
        XCTAssertEqual(s.dp.pool.inUse, 0)
    }

    func testRefusedGrantsAreAnsweredWithErrorsAndCounted() throws {
        let s = try Switch(), f = RawFront()
        try f.connect(s.dp)
        f.queueTx(Self.frame(dst: 0xB2, src: 0xA1), page: 0, grant: false)          // never granted
        f.queueTx(Self.frame(dst: 0xB2, src: 0xA1), page: 1)
        f.pushTx()
        s.run()
        XCTAssertEqual(f.takeTxResponses().map { $0.1 }, [VIF.statusError, VIF.statusOkay])
        XCTAssertEqual(s.m1.takeCaptured().count, 1)
        XCTAssertEqual(s.vif.counts[VifDriver.Reason.grantRefused.rawValue], 1)
        // An rx request whose page is granted read-only: the frame is not written, the request errs.
        f.postRx(page: 50, readOnly: true)
        s.m1.inject(Self.frame(dst: 0xA1, src: 0xB2))
        s.run()
        XCTAssertEqual(f.takeRxResponses().map { $0.2 }, [VIF.statusError])
        XCTAssertEqual(s.vif.counts[VifDriver.Reason.grantReadOnly.rawValue], 1)
        XCTAssertNotNil(s.vif.conn, "refused grants are the frontend's loss, not fatal")
        XCTAssertEqual(s.dp.pool.inUse, 0)
    }

    func testAFrontendThatPostsNoBuffersCostsAtMostItsQueue() throws {
        let s = try Switch(), f = RawFront()
        try f.connect(s.dp)
        try s.runner.execute("link set vif1 txqueuelen 100")
        f.queueTx(Self.frame(dst: 0xB2, src: 0xA1), page: 0)     // teaches the bridge where 0xA1 is
        f.pushTx()
        s.run()
        for _ in 0..<300 { s.m1.inject(Self.frame(dst: 0xA1, src: 0xB2)) }
        s.run()
        XCTAssertEqual(s.vif.pending.count, 100)
        XCTAssertEqual(s.vif.counts[VifDriver.Reason.queueFull.rawValue], 200)
        XCTAssertEqual(s.dp.pool.inUse, 100)
        // Buffers posted later take what waited.
        for k in 0..<32 { f.postRx(page: 100 + k) }
        s.run()
        XCTAssertEqual(f.takeRxResponses().count, 32)
        s.vif.disconnect("test")
        XCTAssertEqual(s.dp.pool.inUse, 0, "a disconnect frees what waited")
    }

    /// netback's rx queue is bounded in bytes, not only packets: at XENVIF_RX_QUEUE_BYTES (half
    /// the rx ring's worth of pages) xenvif_rx_queue_tail stops the device's queue, so what a
    /// slow frontend has not taken yet waits in the qdisc (where fq_codel acts), and
    /// xenvif_rx_dequeue wakes it once the frontend's buffers took the queue below that again.
    func testASlowFrontendsBacklogWaitsInTheQdiscNotTheVif() throws {
        let s = try Switch(), f = RawFront(slots: 32, pages: 256)
        try f.connect(s.dp)
        for d in ["vif1", "m1", "m2"] { try s.runner.execute("link set \(d) mtu 9000") }
        f.queueTx(Self.frame(dst: 0xB2, src: 0xA1), page: 0)     // teaches the bridge where 0xA1 is
        f.pushTx()
        s.run()
        _ = f.takeTxResponses()
        let rxQueueBytes = 32 / 2 * 4096                          // XEN_NETIF_RX_RING_SIZE / 2 * PAGE_SIZE
        for _ in 0..<100 { s.m1.inject(Self.frame(dst: 0xA1, src: 0xB2, size: 6000)) }
        s.run()
        let vif = s.dp.device(named: "vif1")!
        XCTAssertGreaterThanOrEqual(s.vif.pendingBytes, rxQueueBytes - 6000, "the vif's queue filled up to its byte limit")
        XCTAssertLessThan(s.vif.pendingBytes, rxQueueBytes + 6000, "and no further than one frame past it")
        XCTAssertEqual(s.vif.queueStops, 1)
        XCTAssertEqual(s.vif.counts[VifDriver.Reason.queueFull.rawValue], 0, "nothing dropped by the vif")
        let held = vif.qdisc.statsSnapshot().qlen
        XCTAssertEqual(held + s.vif.pending.count, 100, "the rest waits in the qdisc")
        // The frontend posts buffers: each wake lets the qdisc refill the vif's queue, and
        // everything arrives, in order.
        var got = 0
        var page = 0
        for _ in 0..<40 where got < 100 {
            while f.rxProd &- f.rxRspCons < 32 { f.postRx(page: 100 + page % 150); page += 1 }
            s.run()
            got += f.takeRxResponses().filter { $0.1 & VIF.rxMoreData == 0 }.count
        }
        XCTAssertEqual(got, 100)
        XCTAssertEqual(vif.qdisc.statsSnapshot().qlen, 0)
        XCTAssertEqual(s.vif.pendingBytes, 0)
        XCTAssertEqual(vif.stats.txPackets, 100)
        XCTAssertEqual(s.dp.pool.inUse, 0)
    }

    func testRandomHostileRingStatesNeverHurtTheDatapath() throws {
        let s = try Switch()
        var f = RawFront()
        try f.connect(s.dp)
        var rng = SystemRandomNumberGenerator()
        var reconnects = 0
        for i in 0..<100_000 {
            // Random bytes into a random tx or rx slot, random producer moves, random grants.
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: f.txSlot(UInt32.random(in: 0...64, using: &rng)).storeBytes(of: UInt64.random(in: 0...UInt64.max, using: &rng), as: UInt64.self)
            case 1: f.txProd &+= UInt32.random(in: 0...3, using: &rng); f.pushTx()
            case 2: f.rxSlot(UInt32.random(in: 0...64, using: &rng)).storeBytes(of: UInt64.random(in: 0...UInt64.max, using: &rng), as: UInt64.self)
            case 3: f.rxProd &+= UInt32.random(in: 0...2, using: &rng); f.rx.reqProd = f.rxProd
            case 4: f.grants.grant(Int.random(in: 0..<256, using: &rng), page: Int.random(in: 0..<300, using: &rng),
                                   offset: Int.random(in: 0..<4096, using: &rng), length: Int.random(in: 0..<5000, using: &rng), readOnly: Bool.random(using: &rng))
            default: s.m1.inject(Self.frame(dst: 0xA1, src: UInt8(i % 200)))
            }
            if i % 16 == 0 {
                var one: UInt64 = 1
                _ = write(f.toBackend, &one, 8)
                s.run()
                _ = s.m1.takeCaptured(); _ = s.m2.takeCaptured()
            }
            if s.vif.conn == nil {
                f = RawFront()
                try f.connect(s.dp)
                reconnects += 1
            }
        }
        s.vif.disconnect("test end")
        // Still forwarding between the other ports (0xF0 taught at m2 first), and every buffer back.
        s.m2.inject(Self.frame(dst: 0xA1, src: 0xF0))
        s.run()
        let x = Self.frame(dst: 0xF0, src: 0xA1)
        s.m1.inject(x)
        s.run()
        XCTAssertTrue(s.m2.takeCaptured().last == x, "m1 → m2 still forwards")
        XCTAssertEqual(s.dp.pool.inUse, 0)
        XCTAssertGreaterThan(reconnects, 0, "the random frontend was caught breaking the ring")
        print("random hostile frontend: \(reconnects) disconnects, counts \(VifDriver.Reason.allCases.map { "\($0.name)=\(s.vif.counts[$0.rawValue])" }.joined(separator: " "))")
    }
}
