import CSluiceLinux
import SluiceFrontend
import SluiceVIF
#if canImport(Glibc)
import Glibc
#endif

/// `sluice-vnic`: a virtual NIC frontend bridged to a kernel TAP interface, so that unmodified
/// programs and the kernel's own stack use a Sluice `vif` port: frames the kernel sends on the
/// TAP go to Sluice through the shared rings, frames Sluice sends to the vif come out of the TAP.
/// For measurement, `--blast` and `--sink` drive the rings directly (no TAP): a generator of
/// fixed frames as fast as the rings take them, and a counter of what arrives.
///
///   sluice-vnic --vif NAME --tap TAPNAME [--ring SLOTS] [--socket PATH]
///   sluice-vnic --vif NAME --blast SECONDS --dst MAC [--size BYTES | --gso BYTES] [--socket PATH]
///   sluice-vnic --vif NAME --sink SECONDS [--mac MAC] [--socket PATH]
let usage = """
    usage: sluice-vnic --vif NAME --tap TAPNAME [--ring SLOTS] [--socket PATH]
           sluice-vnic --vif NAME --blast SECONDS --dst MAC [--size BYTES | --gso BYTES] [--socket PATH]
           sluice-vnic --vif NAME --sink SECONDS [--mac MAC] [--socket PATH]
    (the daemon needs `link add NAME type vif`)
    """
var vif: String?, tapName: String?
var blastSeconds: Int?, sinkSeconds: Int?, dstMAC: [UInt8]?, ownMAC: [UInt8] = [0x02, 0, 0, 0, 0xbe, 0xef], frameSize = 64
var gsoFrame = false
var ringSlots = 256
func parseMAC(_ s: String) -> [UInt8]? {
    let p = s.split(separator: ":").compactMap { UInt8($0, radix: 16) }
    return p.count == 6 ? p : nil
}
var socketPath = "/run/sluice/sluice.sock"
var args = Array(CommandLine.arguments.dropFirst())
/// One line on stderr (fd 2).
func say(_ s: String) { var b = Array(s.utf8); b.append(10); _ = write(2, &b, b.count) }
func fail(_ m: String) -> Never { say("sluice-vnic: \(m)"); exit(2) }
while !args.isEmpty {
    let a = args.removeFirst()
    func value() -> String { guard !args.isEmpty else { fail("\(a) needs a value (sluice-vnic --help)") }; return args.removeFirst() }
    switch a {
    case "--vif": vif = value()
    case "--tap": tapName = value()
    case "--socket": socketPath = value()
    case "--blast": guard let v = Int(value()), v > 0 else { fail("--blast needs seconds") }; blastSeconds = v
    case "--sink": guard let v = Int(value()), v > 0 else { fail("--sink needs seconds") }; sinkSeconds = v
    case "--dst": guard let m = parseMAC(value()) else { fail("--dst needs a MAC address") }; dstMAC = m
    case "--mac": guard let m = parseMAC(value()) else { fail("--mac needs a MAC address") }; ownMAC = m
    case "--size": guard let v = Int(value()), (60...1514).contains(v) else { fail("--size is 60 to 1514") }; frameSize = v
    case "--gso": guard let v = Int(value()), (1514...65000).contains(v) else { fail("--gso is 1514 to 65000") }; frameSize = v; gsoFrame = true
    case "--ring":
        guard let v = Int(value()), v >= 32, v <= 4096, v & (v - 1) == 0 else { fail("--ring is a power of two from 32 to 4096 slots") }
        ringSlots = v
    case "-h", "--help": print(usage); exit(0)
    default: fail("unknown argument \"\(a)\" (sluice-vnic --help)")
    }
}
guard let vif else { fail("--vif NAME is required (sluice-vnic --help)") }

/// A number with `d` decimals (no Foundation here).
func fixed(_ x: Double, _ d: Int) -> String {
    var m = 1.0; for _ in 0..<d { m *= 10 }
    let v = Int((x * m).rounded())
    let i = v / Int(m), f = v % Int(m)
    guard d > 0 else { return String(i) }
    let fs = String(f)
    return "\(i)." + String(repeating: "0", count: d - fs.count) + fs
}
func monotonic() -> Double { var t = timespec(); clock_gettime(CLOCK_MONOTONIC, &t); return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9 }

if let seconds = blastSeconds ?? sinkSeconds {
    let nic: VirtualNIC
    do { nic = try VirtualNIC(socketPath: socketPath, interface: vif, ringSlots: ringSlots, dataPages: max(1024, 4 * ringSlots)) } catch { fail("\(error)") }
    let end = monotonic() + Double(seconds)
    if blastSeconds != nil {
        guard let dst = dstMAC else { fail("--blast needs --dst MAC") }
        // Plain frames, or (--gso) TCP/IPv4 super-frames of MSS 1448 with the checksum left blank,
        // as a stack with TSO hands them over.
        var frame = dst + [0x02, 0, 0, 0, 0xbe, 0xee]
        if gsoFrame {
            let ipLen = frameSize - 14
            frame += [0x08, 0x00, 0x45, 0, UInt8(ipLen >> 8), UInt8(ipLen & 0xFF), 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 70, 1, 198, 18, 70, 2]
            frame += [0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]
            frame += [UInt8](repeating: 0x5a, count: frameSize - frame.count)
            var sum: UInt32 = 0
            for i in stride(from: 14, to: 34, by: 2) { sum += UInt32(frame[i]) << 8 | UInt32(frame[i + 1]) }
            while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
            frame[24] = UInt8((~sum >> 8) & 0xFF); frame[25] = UInt8(~sum & 0xFF)
        } else {
            frame += [0x88, 0xb5] + [UInt8](repeating: 0x5a, count: frameSize - 14)
        }
        let gso = gsoFrame ? VIFExtraGSO(size: 1448, type: VIF.gsoTCPv4) : nil
        var sent = 0
        let start = monotonic()
        while monotonic() < end {
            var k = 0
            while k < 256 && frame.withUnsafeBytes({ nic.send($0, gso: gso, csumBlank: gsoFrame) }) { k += 1 }
            sent += k
            nic.flush()
            if k < 256 { nic.wait(timeoutMs: 1); nic.reclaim() }
        }
        let t = monotonic() - start
        print("blast: sent \(sent) frames of \(frameSize) bytes in \(fixed(t, 2)) s: \(Int(Double(sent) / t)) pps, \(fixed(Double(sent * frameSize) * 8 / t / 1e9, 2)) Gbit/s, notifications to the backend \(nic.notificationsSent) (\(fixed(Double(nic.notificationsSent) / Double(max(sent, 1)), 4)) per frame)")
    } else {
        // One frame first, so that the bridge learns where this MAC is.
        _ = nic.send([0xff, 0xff, 0xff, 0xff, 0xff, 0xff] + ownMAC + [0x88, 0xb5] + [UInt8](repeating: 0, count: 46))
        nic.flush()
        var got = 0, bytes = 0, wakeups = 0, first = 0.0, last = 0.0
        while monotonic() < end {
            var p = pollfd(fd: nic.eventFD, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 100) > 0 { nic.acknowledgeEvent(); wakeups += 1 }
            let n = nic.receive(max: 1024) { f in bytes += f.count }
            if n > 0 { if got == 0 { first = monotonic() }; last = monotonic(); got += n }
        }
        let t = max(last - first, 1e-9)
        print("sink: received \(got) frames: \(Int(Double(got) / t)) pps, \(fixed(Double(bytes) * 8 / t / 1e9, 2)) Gbit/s over \(fixed(t, 2)) s, wakeups \(wakeups) (\(fixed(Double(wakeups) / Double(max(got, 1)), 4)) per frame)")
    }
    exit(0)
}

guard let tapName else { fail("--tap NAME (or --blast/--sink) is required (sluice-vnic --help)") }
guard tapName.utf8.count < 16, !tapName.isEmpty else { fail("the TAP name must be 1–15 bytes") }

// The TAP speaks virtio-net headers, so TCP super-frames and checksum-blank frames cross whole:
// the kernel hands us what TUNSETOFFLOAD allows, and we hand it what the backend sends.
let vnetLen = 10
let tap = open("/dev/net/tun", O_RDWR | O_CLOEXEC)
guard tap >= 0 else { fail("cannot open /dev/net/tun: \(String(cString: strerror(errno)))") }
guard csl_tun_set_iff(tap, tapName, 0x0002 | 0x1000 | 0x4000) == 0 else {       // IFF_TAP | IFF_NO_PI | IFF_VNET_HDR
    fail("TUNSETIFF \(tapName): \(String(cString: strerror(errno)))")
}
_ = fcntl(tap, F_SETFL, fcntl(tap, F_GETFL) | O_NONBLOCK)

let nic: VirtualNIC
do { nic = try VirtualNIC(socketPath: socketPath, interface: vif, ringSlots: ringSlots, dataPages: max(1024, 4 * ringSlots)) } catch { fail("\(error)") }
// TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, as far as the virtual NIC carries them.
let gsoTx = nic.layout.features & VIF.featureCsumOffload != 0
_ = csl_ioctl_ulong(tap, csl_TUNSETOFFLOAD(), gsoTx ? 0x1 | 0x2 | 0x4 : 0)
say("sluice-vnic: \(tapName) ↔ vif \(vif) connected")

/// The transport header's offset and checksum field offset (TCP 16, UDP 6) of a frame, or nil.
func transport(_ f: UnsafeRawBufferPointer) -> (start: Int, csum: Int, tcpEnd: Int)? {
    guard f.count >= 14 + 20 else { return nil }
    let type = UInt16(f[12]) << 8 | UInt16(f[13])
    var l4 = 0, proto: UInt8 = 0
    if type == 0x0800 { l4 = 14 + Int(f[14] & 0x0F) * 4; proto = f[14 + 9] }
    else if type == 0x86DD, f.count >= 14 + 40 { l4 = 14 + 40; proto = f[14 + 6] }
    else { return nil }
    switch proto {
    case 6: guard l4 + 13 < f.count else { return nil }; return (l4, 16, l4 + Int(f[l4 + 12] >> 4) * 4)
    case 17: return (l4, 6, l4 + 8)
    default: return nil
    }
}

// Frames move between the TAP and the shared pages without a copy of ours: readv(2) from the
// TAP straight into reserved tx pages, writev(2) to the TAP straight from the received pages.
let hdrIn = UnsafeMutableRawPointer.allocate(byteCount: vnetLen, alignment: 8)
let hdrOut = UnsafeMutableRawPointer.allocate(byteCount: vnetLen, alignment: 8)
var iov = [iovec](repeating: iovec(), count: VIF.maxSlotsPerPacket + 1)
var ringFull = false
var tooBig = 0
while true {
    var fds = [pollfd(fd: ringFull ? -1 : tap, events: Int16(POLLIN), revents: 0), pollfd(fd: nic.eventFD, events: Int16(POLLIN), revents: 0),
               pollfd(fd: nic.connectionFD, events: Int16(POLLIN), revents: 0)]
    let n = poll(&fds, 3, ringFull ? 1 : 1000)
    if n < 0 && errno != EINTR { fail("poll: \(String(cString: strerror(errno)))") }
    if fds[1].revents != 0 { nic.acknowledgeEvent() }
    if fds[2].revents != 0 && !nic.isConnected { fail("the daemon closed the connection to vif \(vif)") }
    // Sluice → TAP, each frame behind the virtio header its metadata makes.
    nic.receive(pieces: { pieces, info in
        for i in 0..<vnetLen { hdrOut.storeBytes(of: UInt8(0), toByteOffset: i, as: UInt8.self) }
        let first = pieces.first ?? UnsafeRawBufferPointer(start: nil, count: 0)
        if let g = info.gso, let t = transport(first) {
            hdrOut.storeBytes(of: UInt8(1), as: UInt8.self)                               // VIRTIO_NET_HDR_F_NEEDS_CSUM
            hdrOut.storeBytes(of: g.type == VIF.gsoTCPv4 ? UInt8(1) : UInt8(4), toByteOffset: 1, as: UInt8.self)
            hdrOut.storeBytes(of: UInt16(t.tcpEnd).littleEndian, toByteOffset: 2, as: UInt16.self)
            hdrOut.storeBytes(of: g.size.littleEndian, toByteOffset: 4, as: UInt16.self)
            hdrOut.storeBytes(of: UInt16(t.start).littleEndian, toByteOffset: 6, as: UInt16.self)
            hdrOut.storeBytes(of: UInt16(t.csum).littleEndian, toByteOffset: 8, as: UInt16.self)
        } else if info.csumBlank, let t = transport(first) {
            hdrOut.storeBytes(of: UInt8(1), as: UInt8.self)
            hdrOut.storeBytes(of: UInt16(t.start).littleEndian, toByteOffset: 6, as: UInt16.self)
            hdrOut.storeBytes(of: UInt16(t.csum).littleEndian, toByteOffset: 8, as: UInt16.self)
        } else if info.dataValidated {
            hdrOut.storeBytes(of: UInt8(2), as: UInt8.self)                               // VIRTIO_NET_HDR_F_DATA_VALID
        }
        iov[0] = iovec(iov_base: hdrOut, iov_len: vnetLen)
        for (i, p) in pieces.enumerated() { iov[i + 1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: p.baseAddress), iov_len: p.count) }
        _ = writev(tap, iov, Int32(pieces.count + 1))
    })
    nic.reclaim()
    // TAP → Sluice, a batch at a time, each frame read into pages reserved for it.
    ringFull = false
    var sent = 0
    while sent < 64 {
        var read = false, empty = false
        let ok = nic.send(filling: VIF.maxPacket) { pages in
            read = true
            iov[0] = iovec(iov_base: hdrIn, iov_len: vnetLen)
            for (i, p) in pages.enumerated() { iov[i + 1] = iovec(iov_base: p.baseAddress, iov_len: p.count) }
            let r = readv(tap, iov, Int32(pages.count + 1))
            if r <= vnetLen {
                if r < 0 && errno != EAGAIN && errno != EINTR { fail("reading \(tapName): \(String(cString: strerror(errno)))") }
                empty = true
                return nil
            }
            guard r - vnetLen <= VIF.maxPacket else { tooBig += 1; return nil }     // cannot be said in 16 bits: dropped
            let flags = hdrIn.load(as: UInt8.self), gsoType = hdrIn.load(fromByteOffset: 1, as: UInt8.self) & 0x7F
            let gsoSize = UInt16(littleEndian: hdrIn.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
            let gso: VIFExtraGSO? = gsoType == 1 ? VIFExtraGSO(size: gsoSize, type: VIF.gsoTCPv4)
                : gsoType == 4 ? VIFExtraGSO(size: gsoSize, type: VIF.gsoTCPv6) : nil
            if gsoType != 0 && gso == nil { return nil }                                  // not offered: cannot happen
            return VirtualNIC.Fill(length: r - vnetLen, gso: gso, csumBlank: flags & 1 != 0, dataValidated: flags & 2 != 0)
        }
        if !read { ringFull = true; break }                                               // wait for responses
        if empty { break }
        if ok { sent += 1 }
    }
    nic.flush()
}
