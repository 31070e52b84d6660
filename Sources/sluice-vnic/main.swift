import CSluiceLinux
import SluiceFrontend
import SluiceVIF
#if canImport(Glibc)
import Glibc
#endif

/// `sluice-vnic`: a virtual NIC frontend bridged to a kernel TAP interface, so that unmodified
/// programs and the kernel's own stack use a Sluice `vif` port: frames the kernel sends on the
/// TAP go to Sluice through the shared rings, frames Sluice sends to the vif come out of the TAP.
///
///   sluice-vnic --vif NAME --tap TAPNAME [--socket PATH]
let usage = "usage: sluice-vnic --vif NAME --tap TAPNAME [--socket PATH]   (the daemon needs `link add NAME type vif`)"
var vif: String?, tapName: String?
var socketPath = "/run/sluice/sluice.sock"
var args = Array(CommandLine.arguments.dropFirst())
/// One line on stderr (fd 2).
func say(_ s: String) { var b = Array(s.utf8); b.append(10); _ = write(2, &b, b.count) }
func fail(_ m: String) -> Never { say("sluice-vnic: \(m)"); exit(2) }
while !args.isEmpty {
    let a = args.removeFirst()
    func value() -> String { guard !args.isEmpty else { fail("\(a) needs a value\n\(usage)") }; return args.removeFirst() }
    switch a {
    case "--vif": vif = value()
    case "--tap": tapName = value()
    case "--socket": socketPath = value()
    case "-h", "--help": print(usage); exit(0)
    default: fail("unknown argument \"\(a)\"\n\(usage)")
    }
}
guard let vif, let tapName else { fail(usage) }
guard tapName.utf8.count < 16, !tapName.isEmpty else { fail("the TAP name must be 1–15 bytes") }

let tap = open("/dev/net/tun", O_RDWR | O_CLOEXEC)
guard tap >= 0 else { fail("cannot open /dev/net/tun: \(String(cString: strerror(errno)))") }
guard csl_tun_set_iff(tap, tapName, 0x0002 | 0x1000) == 0 else {       // IFF_TAP | IFF_NO_PI
    fail("TUNSETIFF \(tapName): \(String(cString: strerror(errno)))")
}
_ = fcntl(tap, F_SETFL, fcntl(tap, F_GETFL) | O_NONBLOCK)

let nic: VirtualNIC
do { nic = try VirtualNIC(socketPath: socketPath, interface: vif) } catch { fail("\(error)") }
say("sluice-vnic: \(tapName) ↔ vif \(vif) connected")

var buf = [UInt8](repeating: 0, count: 65536)
var stalled: [UInt8]?
while true {
    var fds = [pollfd(fd: stalled == nil ? tap : -1, events: Int16(POLLIN), revents: 0), pollfd(fd: nic.eventFD, events: Int16(POLLIN), revents: 0)]
    let n = poll(&fds, 2, stalled == nil ? 1000 : 1)
    if n < 0 && errno != EINTR { fail("poll: \(String(cString: strerror(errno)))") }
    if fds[1].revents != 0 { nic.acknowledgeEvent() }
    // Sluice → TAP.
    nic.receive { f in _ = write(tap, f.baseAddress, f.count) }
    nic.reclaim()
    // TAP → Sluice, a batch at a time; a frame that finds the ring full waits for responses.
    if let s = stalled {
        if nic.send(s) { stalled = nil } else { nic.flush(); continue }
    }
    var sent = 0
    while sent < 64 {
        let r = buf.withUnsafeMutableBytes { read(tap, $0.baseAddress, $0.count) }
        if r <= 0 {
            if r < 0 && errno != EAGAIN && errno != EINTR { fail("reading \(tapName): \(String(cString: strerror(errno)))") }
            break
        }
        let ok = buf.withUnsafeBytes { nic.send(UnsafeRawBufferPointer(rebasing: $0[0..<r])) }
        if !ok { stalled = Array(buf[0..<r]); break }
        sent += 1
    }
    nic.flush()
}
