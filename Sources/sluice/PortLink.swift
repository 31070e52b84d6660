import Foundation
import Sluice
#if canImport(Glibc)
import Glibc
#endif

/// `sluice link add NAME [mtu N] [address MAC] type afpacket|afxdp|pcap OPTIONS`: kinds only
/// Sluice has, whose options Debian's `ip` cannot send. The client sends the RTM_NEWLINK itself
/// (IFLA_LINKINFO with the options as `IFLA.Port` attributes in IFLA_INFO_DATA) over the
/// daemon's socket and reports the answer as ip does: nothing on success, `Error: …` and
/// status 2 when the daemon refuses, one line and status 255 for words it cannot read.
///   afpacket dev IFNAME [vnet_hdr on|off] [rx ring|mmsg]
///   afxdp dev IFNAME [queue N] [mode auto|copy|zerocopy] [rx_ring N] [multibuffer on|off]
///   pcap [in FILE] [out FILE]
///   vif [rate RATE|unlimited] [window TIME]
/// and `sluice link set NAME type vif [rate RATE|unlimited] [window TIME]`: a live vif's rate
/// (netback's credit, changed as when the toolstack rewrites `rate`).
enum PortLink {
    static let kinds: Set<String> = ["afpacket", "afxdp", "pcap", "vif"]

    /// nil when `words` (after `link`) are not such a request.
    static func runIfPortLink(_ words: [String], socket: String?) -> Int32? {
        guard let t = words.firstIndex(of: "type"), t + 1 < words.count, kinds.contains(words[t + 1]) else { return nil }
        let kind = words[t + 1]
        let create = words.first == "add"
        guard create || (words.first == "set" && kind == "vif") else { return nil }
        var name: String?, mtu: UInt32?, mac: [UInt8]?
        var i = 1
        func fail(_ m: String) -> Int32 { FileHandle.standardError.write(Data("Error: \(m)\n".utf8)); return 255 }
        while i < t {
            let w = words[i]
            switch w {
            case "name", "dev":
                guard i + 1 < t else { return fail("\"\(w)\" needs a value") }
                name = words[i + 1]; i += 2
            case "mtu":
                guard i + 1 < t, let v = UInt32(words[i + 1]), (68...65535).contains(v) else { return fail("argument of \"mtu\" is wrong") }
                mtu = v; i += 2
            case "address":
                guard i + 1 < t, let m = MACAddress(parsing: Substring(words[i + 1])) else { return fail("\"address\" needs a MAC address") }
                mac = m.octets; i += 2
            default:
                guard name == nil else { return fail("unknown link attribute \"\(w)\"") }
                name = w; i += 1
            }
        }
        guard let name, !name.isEmpty, name.utf8.count <= 15 else { return fail("a device name of 1 to 15 bytes is required") }
        var data: [(UInt16, [UInt8])] = []
        func str(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }
        func u32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * UInt32($0))) } }
        func u64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
        i = t + 2
        while i < words.count {
            let k = words[i]
            guard i + 1 < words.count else { return fail("\"\(k)\" needs a value") }
            let v = words[i + 1]
            switch (kind, k) {
            case ("afpacket", "dev"), ("afxdp", "dev"): data.append((IFLA.Port.DEV, str(v)))
            case ("afpacket", "vnet_hdr"):
                guard v == "on" || v == "off" else { return fail("vnet_hdr must be on or off") }
                data.append((IFLA.Port.VNET_HDR, [v == "on" ? 1 : 0]))
            case ("afpacket", "rx"): data.append((IFLA.Port.RX_MODE, str(v)))
            case ("afxdp", "queue"):
                guard let q = UInt32(v) else { return fail("argument of \"queue\" is wrong") }
                data.append((IFLA.Port.QUEUE, u32(q)))
            case ("afxdp", "mode"): data.append((IFLA.Port.MODE, str(v)))
            case ("afxdp", "multibuffer"):
                guard v == "on" || v == "off" else { return fail("multibuffer must be on or off") }
                data.append((IFLA.Port.MULTIBUFFER, [v == "on" ? 1 : 0]))
            case ("afxdp", "rx_ring"):
                guard let r = UInt32(v) else { return fail("argument of \"rx_ring\" is wrong") }
                data.append((IFLA.Port.RX_RING, u32(r)))
            case ("vif", "rate"):
                if v == "unlimited" { data.append((IFLA.Port.VIF_RATE, u64(0))); break }
                guard let r = TcUnits.rate(v), r >= 8 else { return fail("vif: invalid rate \"\(v)\" (tc's units: 10mbit, 1gbit, ...; or unlimited)") }
                data.append((IFLA.Port.VIF_RATE, u64(r)))
            case ("vif", "window"):
                guard let ns = TcUnits.time(v), ns >= 1_000, ns <= 10_000_000_000 else { return fail("vif: invalid window \"\(v)\" (1us to 10s)") }
                data.append((IFLA.Port.VIF_WINDOW_USEC, u32(UInt32(ns / 1000))))
            case ("pcap", "in"): data.append((IFLA.Port.PCAP_IN, str(absolute(v))))
            case ("pcap", "out"): data.append((IFLA.Port.PCAP_OUT, str(absolute(v))))
            default: return fail("\"\(k)\" is not an argument of type \(kind)")
            }
            i += 2
        }
        var w = NetlinkWriter()
        let start = w.begin(type: NL.RTM_NEWLINK, flags: NL.F_REQUEST | NL.F_ACK | (create ? NL.F_CREATE | NL.F_EXCL : 0), seq: 1, pid: 0)
        w.put([UInt8](repeating: 0, count: 16))                                // struct ifinfomsg
        w.attr(IFLA.IFNAME, string: name)
        if let mtu { w.attr(IFLA.MTU, u32: mtu) }
        if let mac { w.attr(IFLA.ADDRESS, mac) }
        let li = w.beginNest(IFLA.LINKINFO)
        w.attr(IFLA.INFO_KIND, string: kind)
        let d = w.beginNest(IFLA.INFO_DATA)
        for (t, v) in data { w.attr(t, v) }
        w.endNest(d)
        w.endNest(li)
        w.end(start)
        return send(w.bytes, socket: ControlSocket.path(socket))
    }

    /// A pcap path as the daemon must see it: absolute, from this client's directory.
    static func absolute(_ p: String) -> String {
        p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p
    }

    /// Sends one request with extended acks on and reads its acknowledgement.
    static func send(_ request: [UInt8], socket path: String) -> Int32 {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return report("cannot make a socket") }
        defer { Glibc.close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return report("socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (k, b) in bytes.enumerated() { p[k] = b } }
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard ok == 0 else { return report("cannot reach the daemon at \(path): \(String(cString: strerror(errno)))") }
        var buf = [UInt8](repeating: 0, count: 65536)
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = recv(fd, &buf, buf.count, 0)                                      // the NLMSG_NOOP greeting
        var opt = NetlinkWriter()                                              // NETLINK_EXT_ACK on
        let s = opt.begin(type: ControlServer.sockoptType, flags: 0, seq: 0, pid: 0)
        opt.put32(UInt32(bitPattern: NL.SOL_NETLINK)); opt.put32(UInt32(bitPattern: NL.EXT_ACK)); opt.put32(1)
        opt.end(s)
        _ = opt.bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        _ = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            guard n > 0 else { return report("no answer from the daemon") }
            for m in NetlinkMessages(Array(buf[0..<n])) where m.header.type == NL.ERROR && m.header.seq == 1 {
                func le32(_ o: Int) -> UInt32 {
                    let b = m.payload.startIndex + o
                    return UInt32(m.payload[b]) | UInt32(m.payload[b + 1]) << 8 | UInt32(m.payload[b + 2]) << 16 | UInt32(m.payload[b + 3]) << 24
                }
                let errno = -Int32(bitPattern: le32(0))
                if errno == 0 { return 0 }
                var text = String(cString: strerror(errno))
                // NLMSGERR_ATTR_MSG after the echoed header (NLM_F_CAPPED) or request.
                let echoed = m.header.flags & NL.F_CAPPED != 0 ? NL.hdrLen : Int(le32(4))
                let tlvStart = 4 + NL.align(echoed)
                if m.header.flags & NL.F_ACK_TLVS != 0, m.payload.count > tlvStart,
                   let a = try? NLAttributes.parse(m.payload.dropFirst(tlvStart), base: 0, policy: NLAPolicy(maxType: 8, [:]), strict: false),
                   let msg = a.string(NL.ERR_ATTR_MSG) {
                    text = msg
                }
                FileHandle.standardError.write(Data("Error: \(text).\n".utf8))
                return 2
            }
        }
    }

    static func report(_ m: String) -> Int32 {
        FileHandle.standardError.write(Data("sluice: \(m)\n".utf8))
        return 1
    }
}
