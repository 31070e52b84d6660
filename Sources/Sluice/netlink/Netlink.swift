#if canImport(Glibc)
import Glibc
#endif

/// Principles (linux/netlink.h, net/netlink/af_netlink.c, lib/nlattr.c)
/// ----------
/// The wire format of Sluice's control protocol is rtnetlink's, byte for byte: a datagram holds
/// one or more messages, each a 16-byte `nlmsghdr` and a payload padded to 4 bytes; rtnetlink
/// payloads start with a fixed family header (ifinfomsg, tcmsg, ndmsg) followed by attributes
/// (`nlattr`: 16-bit length and type, value, padding), which nest (NLA_F_NESTED).
///
/// Reading never trusts a length: `NetlinkMessages` walks a datagram as netlink_rcv_skb does
/// (a header shorter than 16 bytes or longer than what is left ends the walk silently),
/// `NLAttributes.parse` validates every attribute against a policy given as data (type, length,
/// nesting), as nla_parse does, and reports the kernel's errno with an extack message and the
/// offset of the offending attribute. Replies (`NetlinkWriter`) are built into a byte buffer.

/// Netlink and rtnetlink constants (linux/netlink.h, linux/rtnetlink.h: stable ABI).
public enum NL {
    public static let hdrLen = 16
    @inline(__always) public static func align(_ n: Int) -> Int { (n + 3) & ~3 }

    // nlmsg_type control messages
    public static let NOOP: UInt16 = 1, ERROR: UInt16 = 2, DONE: UInt16 = 3, OVERRUN: UInt16 = 4
    public static let MIN_TYPE: UInt16 = 0x10

    // nlmsg_flags
    public static let F_REQUEST: UInt16 = 0x01, F_MULTI: UInt16 = 0x02, F_ACK: UInt16 = 0x04, F_ECHO: UInt16 = 0x08
    public static let F_DUMP_INTR: UInt16 = 0x10, F_DUMP_FILTERED: UInt16 = 0x20
    public static let F_ROOT: UInt16 = 0x100, F_MATCH: UInt16 = 0x200, F_ATOMIC: UInt16 = 0x400
    public static let F_DUMP: UInt16 = 0x300
    public static let F_REPLACE: UInt16 = 0x100, F_EXCL: UInt16 = 0x200, F_CREATE: UInt16 = 0x400, F_APPEND: UInt16 = 0x800
    public static let F_CAPPED: UInt16 = 0x100, F_ACK_TLVS: UInt16 = 0x200

    // nlattr
    public static let attrHdrLen = 4
    public static let NLA_F_NESTED: UInt16 = 0x8000, NLA_F_NET_BYTEORDER: UInt16 = 0x4000
    public static let NLA_TYPE_MASK: UInt16 = 0x3FFF

    // NLMSGERR_ATTR_*
    public static let ERR_ATTR_MSG: UInt16 = 1, ERR_ATTR_OFFS: UInt16 = 2

    // Socket options (SOL_NETLINK)
    public static let SOL_NETLINK: Int32 = 270
    public static let EXT_ACK: Int32 = 11, CAP_ACK: Int32 = 10, GET_STRICT_CHK: Int32 = 12
    public static let ADD_MEMBERSHIP: Int32 = 1, DROP_MEMBERSHIP: Int32 = 2

    // rtnetlink message types
    public static let RTM_NEWLINK: UInt16 = 16, RTM_DELLINK: UInt16 = 17, RTM_GETLINK: UInt16 = 18, RTM_SETLINK: UInt16 = 19
    public static let RTM_NEWADDR: UInt16 = 20, RTM_DELADDR: UInt16 = 21, RTM_GETADDR: UInt16 = 22
    public static let RTM_NEWROUTE: UInt16 = 24, RTM_DELROUTE: UInt16 = 25, RTM_GETROUTE: UInt16 = 26
    public static let RTM_NEWCHAIN: UInt16 = 100, RTM_DELCHAIN: UInt16 = 101, RTM_GETCHAIN: UInt16 = 102, RTM_GETNSID: UInt16 = 90
    public static let RTM_NEWNEIGH: UInt16 = 28, RTM_DELNEIGH: UInt16 = 29, RTM_GETNEIGH: UInt16 = 30
    public static let RTM_NEWQDISC: UInt16 = 36, RTM_DELQDISC: UInt16 = 37, RTM_GETQDISC: UInt16 = 38
    public static let RTM_NEWTCLASS: UInt16 = 40, RTM_DELTCLASS: UInt16 = 41, RTM_GETTCLASS: UInt16 = 42
    public static let RTM_NEWTFILTER: UInt16 = 44, RTM_DELTFILTER: UInt16 = 45, RTM_GETTFILTER: UInt16 = 46
    public static let RTM_NEWACTION: UInt16 = 48, RTM_DELACTION: UInt16 = 49, RTM_GETACTION: UInt16 = 50
    public static let RTM_BASE: UInt16 = 16, RTM_MAX: UInt16 = 127

    /// The size of the fixed header that follows nlmsghdr for each rtnetlink family.
    public static func familyHeaderLength(_ type: UInt16) -> Int {
        switch type {
        case 16...19: return 16            // ifinfomsg
        case 20...23: return 8             // ifaddrmsg
        case 24...27: return 12            // rtmsg
        case 28...31: return 12            // ndmsg
        case 36...47: return 20            // tcmsg
        case 48...51: return 4             // tcamsg
        case 72...75: return 12            // ifaddrlblmsg
        default: return 1                  // rtgenmsg
        }
    }
}

/// A request or reply error as the kernel reports it: a negative errno, an extack message, and
/// the offset (from the start of the message) of the attribute at fault.
public struct NetlinkError: Error, Equatable, CustomStringConvertible {
    public var errno: Int32
    public var message: String?
    public var offset: Int?
    public init(_ errno: Int32, _ message: String? = nil, offset: Int? = nil) {
        self.errno = errno; self.message = message; self.offset = offset
    }
    public var description: String {
        "netlink error \(errno) (\(String(cString: strerror(errno))))" + (message.map { ": \($0)" } ?? "")
    }
}

/// The fixed `struct nlmsghdr`.
public struct NLMsgHeader: Equatable, Sendable {
    public var length: UInt32
    public var type: UInt16
    public var flags: UInt16
    public var seq: UInt32
    public var pid: UInt32
    public init(length: UInt32 = 0, type: UInt16, flags: UInt16, seq: UInt32, pid: UInt32) {
        self.length = length; self.type = type; self.flags = flags; self.seq = seq; self.pid = pid
    }
}

/// One message of a datagram: its header and where its payload lies in the datagram.
public struct NetlinkMessage {
    public let header: NLMsgHeader
    /// The whole message (header included), as received.
    public let bytes: ArraySlice<UInt8>
    public var payload: ArraySlice<UInt8> { bytes.dropFirst(NL.hdrLen) }
}

/// netlink_rcv_skb's walk over a datagram: messages while a whole header fits; a header whose
/// length is below 16 or beyond the datagram stops the walk (the kernel does not answer it).
public struct NetlinkMessages: Sequence, IteratorProtocol {
    let data: [UInt8]
    var offset = 0
    public init(_ datagram: [UInt8]) { data = datagram }

    public mutating func next() -> NetlinkMessage? {
        let left = data.count - offset
        guard left >= NL.hdrLen else { return nil }
        let len = Int(data.le32(offset))
        guard len >= NL.hdrLen, len <= left else { return nil }
        let h = NLMsgHeader(length: UInt32(len), type: data.le16(offset + 4), flags: data.le16(offset + 6),
                            seq: data.le32(offset + 8), pid: data.le32(offset + 12))
        let m = NetlinkMessage(header: h, bytes: data[offset..<(offset + len)])
        offset += Swift.min(NL.align(len), left)
        return m
    }
}

extension Array where Element == UInt8 {
    @inline(__always) func le16(_ o: Int) -> UInt16 { UInt16(self[o]) | UInt16(self[o + 1]) << 8 }
    @inline(__always) func le32(_ o: Int) -> UInt32 {
        UInt32(self[o]) | UInt32(self[o + 1]) << 8 | UInt32(self[o + 2]) << 16 | UInt32(self[o + 3]) << 24
    }
}

extension ArraySlice where Element == UInt8 {
    /// Little-endian reads at an offset from the slice's start (not its base index).
    @inline(__always) func le16(at o: Int) -> UInt16 { UInt16(self[startIndex + o]) | UInt16(self[startIndex + o + 1]) << 8 }
    @inline(__always) func le32(at o: Int) -> UInt32 {
        let b = startIndex + o
        return UInt32(self[b]) | UInt32(self[b + 1]) << 8 | UInt32(self[b + 2]) << 16 | UInt32(self[b + 3]) << 24
    }
    @inline(__always) func le64(at o: Int) -> UInt64 { UInt64(le32(at: o)) | UInt64(le32(at: o + 4)) << 32 }
}
