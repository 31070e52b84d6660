import Benchmark
import CSluiceVIF
import Sluice
import SluiceVIF
#if canImport(Glibc)
import Glibc
#endif

/// The in-memory forwarding loop: a generator port receives 64-byte frames in NAPI polls of 64,
/// the bridge looks each destination up in the FDB and stages it for the sink port, the sink
/// transmits and frees. Steady state must allocate nothing per packet.
/// One benchmark iteration forwards `packetsPerIteration` packets.
let packetsPerIteration = 1024

/// What every rig is: a datapath with a generator port (`src`, fed by `source`) whose frames
/// the rig's configuration sends somewhere; `forward` runs `n` of them through.
class LoopRig {
    let dp = Datapath(poolSize: 2048, clock: .virtual(start: 1))
    var source = MemoryDriver()
    var src: NetDevice!

    @inline(never)
    func forward(_ n: Int) { runSource(dp, source, src, n) }
}

final class ForwardingRig: LoopRig {

    /// `templates` replace the eight default flows; `extra` is configuration applied after
    /// the bridge is up.
    init(flood: Bool, templates: [[UInt8]]? = nil, extra: [String] = []) throws {
        super.init()
        let r = CommandRunner(datapath: dp)
        try r.execute("link add br0 type bridge")
        source = MemoryDriver()
        let a = MACAddress(raw: 0x0200_0000_000A), b = MACAddress(raw: 0x0200_0000_000B)
        // Eight flows (source MACs) to one destination, as a switch sees.
        source.setTemplates(templates ?? (0..<8).map { FrameBuilder.udpFrame(dst: flood ? .broadcast : b, src: MACAddress(raw: a.raw + UInt64($0)), frameLength: 60) })
        src = try dp.addMemory(name: "src", driver: source)
        for n in ["sink", "sink2"] {
            let d = MemoryDriver()
            d.capture = false
            try dp.addMemory(name: n, driver: d)
            try r.execute("link set \(n) master br0 up")
        }
        try r.execute("link set src master br0 up")
        try r.execute("link set br0 up")
        try r.execute("fdb add 02:00:00:00:00:0b dev sink static")
        for l in extra { try r.execute(l) }
        forward(4096)   // warm up: learn, fault in buffers
    }

    /// A stateful firewall on the forwarding loop (tc's ct and flower's ct_state at the
    /// generator port's ingress, as OVS-style rule sets write it): every frame is tracked (one
    /// table lookup), classified by its state and committed; 64 UDP flows, all in the table
    /// after warm-up.
    static func conntrackFirewall() throws -> ForwardingRig {
        let a = MACAddress(raw: 0x0200_0000_000A), b = MACAddress(raw: 0x0200_0000_000B)
        return try ForwardingRig(flood: false, templates: (0..<64).map { FrameBuilder.udpFrame(dst: b, src: a, sport: UInt16(10_000 + $0), dport: 53, frameLength: 60) }, extra: [
            "qdisc add dev src clsact",
            "filter add dev src ingress protocol ip chain 0 prio 1 flower ct_state -trk action ct pipe action goto chain 1",
            "filter add dev src ingress protocol ip chain 1 prio 1 flower ct_state +trk+est action gact pass",
            "filter add dev src ingress protocol ip chain 1 prio 2 flower ct_state +trk+new action ct commit pipe action gact pass",
            "filter add dev src ingress protocol ip chain 1 prio 3 flower action drop",
        ])
    }

    /// A large flower table at the generator port's ingress, as OVS-style rule sets write one:
    /// `rules` filters under one mask (IP protocol and UDP source port), the 64 flows matching
    /// the last 64 of them.
    static func flowerTable(rules: Int) throws -> ForwardingRig {
        let a = MACAddress(raw: 0x0200_0000_000A), b = MACAddress(raw: 0x0200_0000_000B)
        let first = 10_064 - rules
        return try ForwardingRig(flood: false, templates: (0..<64).map { FrameBuilder.udpFrame(dst: b, src: a, sport: UInt16(10_000 + $0), dport: 53, frameLength: 60) },
                                 extra: ["qdisc add dev src clsact"] + (0..<rules).map {
            "filter add dev src ingress protocol ip prio 1 flower ip_proto udp src_port \(first + $0) action gact pass"
        })
    }

}

/// Generates `n` packets on `src` and runs NAPI until they are all through.
@inline(never)
func runSource(_ dp: Datapath, _ source: MemoryDriver, _ src: NetDevice, _ n: Int) {
    source.toGenerate = n
    while source.toGenerate > 0 || dp.pollListCount > 0 {
        dp.napiSchedule(src)
        dp.netRxAction()
    }
}

/// GRO and GSO on the same loop: one TCP flow of 1448-byte segments (44 in sequence, then the
/// stream starts over, which ends an aggregate as a sequence jump does), checksums marked valid
/// as a NIC or virtio hands them, GRO on at the source port. The sink either takes the
/// super-frames (TSO) or makes them into segments again (software GSO + checksum completion).
final class OffloadRig: LoopRig {
    /// gro_flush_timeout on the source: polls of 22 segments, 2 ms of virtual time apart, so each
    /// poll's aggregate is held for the next (and aged out at every other jiffy).
    let held: Bool

    init(segmentAgain: Bool, heldAcrossPolls: Bool = false) throws {
        held = heldAcrossPolls
        super.init()
        let r = CommandRunner(datapath: dp)
        try r.execute("link add br0 type bridge")
        source = MemoryDriver(features: segmentAgain ? [] : DeviceFeatures.offloads)
        source.rxChecksum = .unnecessary
        let a = MACAddress(raw: 0x0200_0000_000A), b = MACAddress(raw: 0x0200_0000_000B)
        let payload = [UInt8](repeating: 0x5A, count: 1448)
        let src4 = FrameBuilder.ip(198, 18, 0, 1), dst4 = FrameBuilder.ip(198, 18, 0, 2)
        source.setTemplates((0..<44).map { i in
            var tcp = FrameBuilder.tcp(srcIP: src4, dstIP: dst4, sport: 40000, dport: 5201, seq: 1000 + UInt32(i * 1448), payload: payload)
            tcp = Array(tcp.dropFirst(20))
            return FrameBuilder.ethernet(dst: b, src: a, type: EtherType.ipv4,
                                         payload: FrameBuilder.ipv4(src: src4, dst: dst4, proto: IPProto.tcp, id: UInt16(i + 1), payload: tcp))
        })
        src = try dp.addMemory(name: "src", driver: source)
        let d = MemoryDriver(features: segmentAgain ? [] : DeviceFeatures.offloads)
        d.capture = false
        try dp.addMemory(name: "sink", driver: d)
        try r.execute("link set sink master br0 up")
        try r.execute("link set src master br0 up gro on" + (heldAcrossPolls ? " gro_flush_timeout 1000000" : ""))
        try r.execute("link set br0 up")
        try r.execute("fdb add 02:00:00:00:00:0b dev sink static")
        forward(4096)
    }

    @inline(never)
    override func forward(_ n: Int) {
        guard held else { return super.forward(n) }
        var left = n
        while left > 0 {
            let k = min(22, left)
            source.toGenerate = k
            dp.napiSchedule(src)
            dp.netRxAction()
            dp.clock.advance(by: 2 * Time.ms)
            left -= k
        }
    }

}

/// VLANs on the same loop: 64-byte frames tagged VLAN 10 arrive on a trunk port. Either a VLAN
/// device takes them (untag, vlan_do_receive) into a bridge whose other port sends them untagged,
/// or a VLAN-filtering bridge admits them on the trunk and sends them tagged out another trunk.
final class VLANRig: LoopRig {

    init(filteringBridge: Bool) throws {
        super.init()
        let r = CommandRunner(datapath: dp)
        source = MemoryDriver()
        let a = MACAddress(raw: 0x0200_0000_000A), b = MACAddress(raw: 0x0200_0000_000B)
        source.setTemplates((0..<8).map { i in
            let f = FrameBuilder.udpFrame(dst: b, src: MACAddress(raw: a.raw + UInt64(i)), frameLength: 60)
            return Array(f[0..<12]) + [0x81, 0x00, 0x00, 10] + Array(f[12...])
        })
        src = try dp.addMemory(name: "src", driver: source)
        let d = MemoryDriver()
        d.capture = false
        try dp.addMemory(name: "sink", driver: d)
        try r.execute("link add br0 type bridge")
        try r.execute("link set src up")
        if filteringBridge {
            try r.execute("link set src master br0 up")
            try r.execute("link set sink master br0 up")
            try r.execute("vlan add dev src vid 10")
            try r.execute("vlan add dev sink vid 10")
            try r.execute("link set br0 type bridge vlan_filtering 1")
        } else {
            try r.execute("link add link src name src.10 type vlan id 10")
            try r.execute("link set src.10 master br0 up")
            try r.execute("link set sink master br0 up")
        }
        try r.execute("link set br0 up")
        try r.execute("fdb add 02:00:00:00:00:0b dev sink static" + (filteringBridge ? " vlan 10" : ""))
        forward(4096)
    }

}

/// Routing on the same loop: 64-byte UDP frames from 198.18.0.1 to eight hosts in
/// 198.18.9.0/24 (or from 2001:db8::1 to eight hosts in 2001:db8:9::/64) arrive on r1 addressed
/// to the router's MAC and are forwarded out of r2 to a gateway whose neighbour entry is known
/// (or, connected, to the hosts themselves): the IP checks, the FIB walk, TTL and checksum (hop
/// limit), the neighbour lookup and the new Ethernet header, per packet.
final class RoutingRig: LoopRig {

    init(connected: Bool, ipv6: Bool = false, rpFilter: Bool = false) throws {
        super.init()
        let r = CommandRunner(datapath: dp)
        source = MemoryDriver()
        src = try dp.addMemory(name: "r1", driver: source)
        let d = MemoryDriver()
        d.capture = false
        try dp.addMemory(name: "r2", driver: d)
        var config = ["link set r1 up", "link set r2 up"]
        if ipv6 {
            config += ["addr add 2001:db8::fe/64 dev r1", "addr add 2001:db8:1::fe/64 dev r2",
                       "route add 2001:db8:9::/64 via 2001:db8:1::1", "neigh add 2001:db8:1::1 lladdr 02:00:00:00:01:01 dev r2"]
        } else {
            config += ["addr add 198.18.0.254/24 dev r1", "addr add 198.18.1.254/24 dev r2"]
            config += connected ? (1...8).map { "neigh add 198.18.1.\($0) lladdr 02:00:00:00:01:0\($0) dev r2" }
                : ["route add 198.18.9.0/24 via 198.18.1.1", "neigh add 198.18.1.1 lladdr 02:00:00:00:01:01 dev r2"]
        }
        // Strict reverse-path filtering: every packet's source looked up again (fib_validate_source).
        if rpFilter { config.append("sysctl net.ipv4.conf.all.rp_filter=1") }
        for c in config { try r.execute(c) }
        let routerMAC = src.mac, hostMAC = MACAddress(raw: 0x0200_0000_000A)
        let src6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
        source.setTemplates((1...8).map { h in
            guard ipv6 else {
                return FrameBuilder.udpFrame(dst: routerMAC, src: hostMAC, srcIP: FrameBuilder.ip(198, 18, 0, 1),
                                             dstIP: FrameBuilder.ip(198, 18, connected ? 1 : 9, UInt8(h)), frameLength: 60)
            }
            let dst6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0, 9] + [UInt8](repeating: 0, count: 9) + [UInt8(h)]
            let udp: [UInt8] = [0x9c, 0x40, 0x14, 0x51, 0, 10, 0, 0, 0x5A, 0x5A]
            return FrameBuilder.ethernet(dst: routerMAC, src: hostMAC, type: EtherType.ipv6,
                                         payload: FrameBuilder.ipv6(src: src6, dst: dst6, next: IPProto.udp, payload: udp))
        })
        forward(4096)
        // Warmed up: every packet was forwarded, none refused by the source check.
        precondition(ipv6 || (dp.ipv4.stats.forwDatagrams == 4096 && dp.ipv4.stats.rpFilter == 0), "the routing rig does not forward")
    }

}

/// A virtual NIC on the same loop, its frontend in this process writing the shared rings: guest
/// tx (64-byte frames from the frontend through the vif and a bridge to a sink) or guest rx
/// (frames from a generator port through the bridge into the frontend's posted pages). Per
/// packet: the request copied out of the ring and checked, the grant begun and ended, the copy,
/// the response (and the same the other way).
final class VifRig {
    let dp = Datapath(poolSize: 2048, clock: .virtual(start: 1))
    let layout = VIFLayout(ringSlots: 256, grants: 1024, dataPages: 1024, features: VIF.featureSG)
    let base: UnsafeMutableRawPointer
    let tx: VIFRingHeader, rx: VIFRingHeader
    let vif: NetDevice
    var source = MemoryDriver()
    var src: NetDevice!
    var txProd: UInt32 = 0, rxProd: UInt32 = 0
    let guestRx: Bool
    let toBackend = csv_eventfd(), toFrontend = csv_eventfd()

    init(guestRx: Bool) throws {
        self.guestRx = guestRx
        let r = CommandRunner(datapath: dp)
        try r.execute("link add br0 type bridge")
        vif = try dp.addVif(name: "vif1", mac: MACAddress(raw: 0x0200_0000_00F1))
        let frontMAC = MACAddress(raw: 0x0200_0000_00FE), sinkMAC = MACAddress(raw: 0x0200_0000_000B)
        if guestRx {
            source.setTemplates([FrameBuilder.udpFrame(dst: frontMAC, src: sinkMAC, frameLength: 60)])
            src = try dp.addMemory(name: "src", driver: source)
        } else {
            let d = MemoryDriver()
            d.capture = false
            src = try dp.addMemory(name: "sink", driver: d)
        }
        for p in ["vif1", src.name] { try r.execute("link set \(p) master br0 up") }
        try r.execute("link set br0 up")
        try r.execute(guestRx ? "fdb add 02:00:00:00:00:fe dev vif1 static" : "fdb add 02:00:00:00:00:0b dev sink static")
        let memfd = csv_memfd("bench-vif", layout.totalSize)
        base = mmap(nil, layout.totalSize, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0)!
        layout.write(to: base)
        tx = VIFRingHeader(base + layout.txRingOffset)
        rx = VIFRingHeader(base + layout.rxRingOffset)
        tx.reqEvent = 1; tx.rspEvent = 1; rx.reqEvent = 1; rx.rspEvent = 1
        let grants = VIFGrantTable(base + layout.grantOffset, count: layout.grants)
        // Tx pages 0..<256 hold one frame each, granted read-only for good; rx pages 256..<512 writable.
        let frame = FrameBuilder.udpFrame(dst: sinkMAC, src: frontMAC, frameLength: 60)
        for pg in 0..<256 {
            frame.withUnsafeBytes { (base + layout.dataOffset + pg * VIF.pageSize).copyMemory(from: $0.baseAddress!, byteCount: 60) }
            grants.grant(pg, page: pg, offset: 0, length: 60, readOnly: true)
            grants.grant(256 + pg, page: 256 + pg, offset: 0, length: VIF.pageSize, readOnly: false)
        }
        try dp.connectVif(named: "vif1", memfd: memfd, toBackend: dup(toBackend), toFrontend: dup(toFrontend))
        postRx()
        forward(4096)
    }

    /// Posts rx requests up to a full ring (request position i: page 256 + i % 256).
    func postRx() {
        let slots = base + layout.rxRingOffset + VIF.ringHeaderSize
        while rxProd &- rx.rspProd < 256 {
            let s = slots + Int(rxProd & 255) * VIF.rxSlotSize
            s.storeBytes(of: UInt16(rxProd & 255), as: UInt16.self)
            s.storeBytes(of: UInt32(256 + (rxProd & 255)), toByteOffset: 4, as: UInt32.self)
            rxProd &+= 1
        }
        rx.reqProd = rxProd
    }

    @inline(never)
    func forward(_ n: Int) {
        var left = n
        while left > 0 {
            let k = min(left, 256)
            if guestRx {
                source.toGenerate = k
                while source.toGenerate > 0 || dp.pollListCount > 0 { dp.napiSchedule(src); dp.netRxAction() }
                postRx()
            } else {
                let slots = base + layout.txRingOffset + VIF.ringHeaderSize
                for _ in 0..<k {
                    VIFTxRequest(gref: txProd & 255, offset: 0, flags: 0, id: UInt16(txProd & 255), size: 60).store(to: slots + Int(txProd & 255) * VIF.txSlotSize)
                    txProd &+= 1
                }
                tx.reqProd = txProd
                dp.napiSchedule(vif)
                while dp.pollListCount > 0 { dp.netRxAction() }
            }
            left -= k
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .instructions, .retainCount, .releaseCount],
        scalingFactor: .one,
        maxDuration: .seconds(3),
        maxIterations: 100_000
    )
    // The harness's own allocations per iteration, to subtract.
    Benchmark("baseline (empty iteration)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(0) }
    }
    nonisolated(unsafe) let unicast = try! ForwardingRig(flood: false)
    Benchmark("forward unicast 64B x\(packetsPerIteration)") { benchmark in
        for _ in benchmark.scaledIterations { unicast.forward(packetsPerIteration) }
    }
    nonisolated(unsafe) let flood = try! ForwardingRig(flood: true)
    Benchmark("flood broadcast 64B x\(packetsPerIteration) to 2 ports") { benchmark in
        for _ in benchmark.scaledIterations { flood.forward(packetsPerIteration) }
    }
    nonisolated(unsafe) let vlanDev = try! VLANRig(filteringBridge: false)
    Benchmark("VLAN device: tagged 64B x\(packetsPerIteration) untagged through a bridge") { benchmark in
        for _ in benchmark.scaledIterations { vlanDev.forward(packetsPerIteration) }
    }
    nonisolated(unsafe) let vlanBr = try! VLANRig(filteringBridge: true)
    Benchmark("VLAN-filtering bridge: tagged 64B x\(packetsPerIteration) trunk to trunk") { benchmark in
        for _ in benchmark.scaledIterations { vlanBr.forward(packetsPerIteration) }
    }
    nonisolated(unsafe) let routed = try! RoutingRig(connected: false)
    Benchmark("route 64B x\(packetsPerIteration) via a gateway") { benchmark in
        for _ in benchmark.scaledIterations { routed.forward(packetsPerIteration) }
    }
    nonisolated(unsafe) let routedConnected = try! RoutingRig(connected: true)
    Benchmark("route 64B x\(packetsPerIteration) to connected hosts") { benchmark in
        for _ in benchmark.scaledIterations { routedConnected.forward(packetsPerIteration) }
    }
    nonisolated(unsafe) let routedRPF = try! RoutingRig(connected: false, rpFilter: true)
    Benchmark("route 64B x\(packetsPerIteration) via a gateway, rp_filter strict") { benchmark in
        for _ in benchmark.scaledIterations { routedRPF.forward(packetsPerIteration) }
    }
    nonisolated(unsafe) let routed6 = try! RoutingRig(connected: false, ipv6: true)
    Benchmark("route IPv6 64B x\(packetsPerIteration) via a gateway") { benchmark in
        for _ in benchmark.scaledIterations { routed6.forward(packetsPerIteration) }
    }
    nonisolated(unsafe) let vifTx = try! VifRig(guestRx: false)
    Benchmark("vif guest tx 64B x\(packetsPerIteration) through a bridge") { benchmark in
        for _ in benchmark.scaledIterations { vifTx.forward(packetsPerIteration) }
    }
    nonisolated(unsafe) let vifRx = try! VifRig(guestRx: true)
    Benchmark("vif guest rx 64B x\(packetsPerIteration) through a bridge") { benchmark in
        for _ in benchmark.scaledIterations { vifRx.forward(packetsPerIteration) }
    }
    nonisolated(unsafe) let acts = try! ForwardingRig(flood: false, extra: [
        "qdisc add dev src clsact",
        "filter add dev src ingress protocol ip prio 1 u32 match u32 0 0 action police rate 100gbit burst 1m pipe action pedit ex munge ip ttl set 9 pipe action skbedit priority 1:1 pipe action gact pass",
    ])
    Benchmark("tc actions police, pedit, skbedit 64B x\(packetsPerIteration) through a bridge") { benchmark in
        for _ in benchmark.scaledIterations { acts.forward(packetsPerIteration) }
    }
    nonisolated(unsafe) let redirect = try! ForwardingRig(flood: false, extra: [
        "qdisc add dev src clsact",
        "filter add dev src ingress protocol ip prio 1 u32 match u32 0 0 action mirred egress redirect dev sink2",
    ])
    Benchmark("tc mirred egress redirect 64B x\(packetsPerIteration) to another port") { benchmark in
        for _ in benchmark.scaledIterations { redirect.forward(packetsPerIteration) }
    }
    nonisolated(unsafe) let ct = try! ForwardingRig.conntrackFirewall()
    Benchmark("conntrack firewall 64B x\(packetsPerIteration) (ct, ct_state, commit) through a bridge") { benchmark in
        for _ in benchmark.scaledIterations { ct.forward(packetsPerIteration) }
    }
    nonisolated(unsafe) let flowers = try! ForwardingRig.flowerTable(rules: 1024)
    Benchmark("tc flower 1024 rules under one mask 64B x\(packetsPerIteration) through a bridge") { benchmark in
        for _ in benchmark.scaledIterations { flowers.forward(packetsPerIteration) }
    }
    nonisolated(unsafe) let gro = try! OffloadRig(segmentAgain: false)
    Benchmark("GRO 1448B TCP x\(packetsPerIteration) to a TSO port") { benchmark in
        for _ in benchmark.scaledIterations { gro.forward(packetsPerIteration) }
    }
    nonisolated(unsafe) let groHeld = try! OffloadRig(segmentAgain: false, heldAcrossPolls: true)
    Benchmark("GRO held across polls (gro_flush_timeout) 1448B TCP x\(packetsPerIteration) to a TSO port") { benchmark in
        for _ in benchmark.scaledIterations { groHeld.forward(packetsPerIteration) }
    }
    nonisolated(unsafe) let groGSO = try! OffloadRig(segmentAgain: true)
    Benchmark("GRO+GSO 1448B TCP x\(packetsPerIteration) to a port without offloads") { benchmark in
        for _ in benchmark.scaledIterations { groGSO.forward(packetsPerIteration) }
    }
}
