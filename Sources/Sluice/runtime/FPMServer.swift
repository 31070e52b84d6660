import CSluiceLinux
#if canImport(Glibc)
import Glibc
#endif

/// Principles
/// ----------
/// Routes from a routing suite, as FRR's zebra sends them to a Forwarding Plane Manager
/// (dplane_fpm_nl, `fpm address A port P`): zebra connects over TCP and sends frames of a
/// 4-byte header (version 1, type 1 = netlink, 16-bit length in network order, header
/// included) around rtnetlink messages — RTM_NEWROUTE and RTM_DELROUTE for the routes it has
/// chosen, and with `fpm use-next-hop-groups` (zebra's default) RTM_NEWNEXTHOP/DELNEXTHOP for
/// the nexthop objects and groups those routes name by RTA_NH_ID (Nexthops.swift). Each
/// message is applied exactly as the same request on the control socket would
/// be (the same queue to the worker, the same apply step, whole or not at all), with two
/// differences:
/// - a new route or nexthop replaces what is there (zebra sends its current choice, not an edit);
/// - interface indexes are zebra's, i.e. the kernel's in the daemon's namespace: an index is
///   mapped to the Sluice device of the same name, or to the AF_PACKET/AF_XDP port bound to
///   the kernel interface of that name.
/// Other messages (MACs, LSPs) are ignored and counted. A refused route is
/// logged with its reason. One zebra at a time; a new connection replaces the old one.
public final class FPMServer: @unchecked Sendable {
    let control: ControlServer
    let listenFD: Int32
    var thread: pthread_t?
    var stopping = false
    /// The connection being read (shut down by `stop` so the reader wakes).
    var connection: Int32 = -1
    public private(set) var port: UInt16 = 0
    /// The fake client id under which FPM requests travel the control queue.
    static let clientFD: Int32 = Int32.max - 1

    /// Listens on `address:port` (TCP).
    public init(address: String, port: UInt16, control: ControlServer) throws(SluiceError) {
        self.control = control
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SluiceError("fpm: socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(4))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        guard inet_pton(AF_INET, address, &sa.sin_addr) == 1 else { Glibc.close(fd); throw SluiceError("fpm: \"\(address)\" is not an IPv4 address") }
        let ok = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0, listen(fd, 4) == 0 else {
            let e = String(cString: strerror(errno)); Glibc.close(fd); throw SluiceError("fpm: \(address):\(port): \(e)")
        }
        var bound = sockaddr_in(); var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        self.port = UInt16(bigEndian: bound.sin_port)
        listenFD = fd
        control.fpmTranslate = true
    }

    public func start() throws(SluiceError) {
        let box = Unmanaged.passRetained(self)
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { arg in
            let s = Unmanaged<FPMServer>.fromOpaque(arg!).takeRetainedValue()
            s.serve()
            return nil
        }, box.toOpaque())
        guard rc == 0 else { box.release(); throw SluiceError("fpm: thread: \(rc)") }
        thread = t
    }

    public func stop() {
        stopping = true
        shutdown(listenFD, Int32(SHUT_RDWR))
        let c = connection
        if c >= 0 { shutdown(c, Int32(SHUT_RDWR)) }
        if let t = thread { pthread_join(t, nil) }
        Glibc.close(listenFD)
    }

    func serve() {
        while !stopping {
            let c = accept(listenFD, nil, nil)
            if c < 0 { if stopping { return }; continue }
            control.log("fpm: zebra connected")
            connection = c
            read(from: c)
            connection = -1
            Glibc.close(c)
            control.log("fpm: connection closed")
        }
    }

    /// Reads frames until the peer goes away; each netlink message goes to the worker's queue.
    func read(from fd: Int32) {
        var buf: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !stopping {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return }
            buf += chunk[0..<n]
            while buf.count >= 4 {
                let version = buf[0], type = buf[1], len = Int(buf[2]) << 8 | Int(buf[3])
                guard version == 1, len >= 4 else { control.log("fpm: bad frame header (version \(version), length \(len)); closing"); return }
                guard buf.count >= len else { break }
                if type == 1 { submit(Array(buf[4..<len])) } else { control.fpmIgnored &+= 1 }
                buf.removeFirst(len)
            }
        }
    }

    /// Splits a frame's netlink messages and queues the route ones as requests.
    func submit(_ bytes: [UInt8]) {
        var o = 0
        while o + 16 <= bytes.count {
            let len = Int(bytes.le32(o))
            guard len >= 16, o + len <= bytes.count else { return }
            var m = Array(bytes[o..<(o + len)])
            let type = m.le16(4)
            if type == NL.RTM_NEWROUTE || type == NL.RTM_DELROUTE || type == NHA.RTM_NEWNEXTHOP || type == NHA.RTM_DELNEXTHOP {
                var flags = m.le16(6) | NL.F_REQUEST | NL.F_ACK
                if type == NL.RTM_NEWROUTE || type == NHA.RTM_NEWNEXTHOP { flags |= NL.F_CREATE | NL.F_REPLACE; flags &= ~NL.F_EXCL }
                m[6] = UInt8(flags & 0xFF); m[7] = UInt8(flags >> 8)
                control.enqueue(ControlServer.Request(fd: Self.clientFD, bytes: m, pid: 0, mayChange: true, options: .init(), closed: false))
            } else {
                control.fpmIgnored &+= 1
            }
            o += (len + 3) & ~3
        }
    }
}

extension FPMServer {
    /// The Sluice device for a kernel interface index: same name, or the port bound to it.
    static func sluiceIfindex(_ kernel: Int32, _ dp: Datapath) -> Int32 {
        var buf = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(UInt32(bitPattern: kernel), &buf) != nil else { return 0 }
        let name = String(cString: buf)
        for d in dp.allDevices {
            if let p = d.driver as? PacketSocketDriver, p.kernelName == name { return d.ifindex }
            if let x = d.driver as? XDPDriver, x.kernelName == name { return d.ifindex }
        }
        return dp.device(named: name)?.ifindex ?? 0
    }
}
