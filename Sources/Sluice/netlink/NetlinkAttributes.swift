#if canImport(Glibc)
import Glibc
#endif

/// The type of an attribute in a policy (lib/nlattr.c's NLA_* types that rtnetlink uses).
public indirect enum NLAType: Sendable {
    case u8, u16, u32, u64, s32
    /// NLA_STRING with a maximum length (a trailing NUL is not counted).
    case string(maxLength: Int)
    /// NLA_BINARY: at most `maxLength` bytes.
    case binary(maxLength: Int)
    /// NLA_UNSPEC with a minimum length (a C struct).
    case minLength(Int)
    case flag
    case nested(NLAPolicy)
    /// Any length, any content.
    case unspec

    /// The exact length NLA_U*/S* require (nla_attr_len), or nil.
    var exactLength: Int? {
        switch self {
        case .u8: 1
        case .u16: 2
        case .u32, .s32: 4
        case .u64: 8
        default: nil
        }
    }
}

/// An attribute policy as data (`struct nla_policy[]`): the highest type, and the type of each
/// attribute that has one. Types without an entry are accepted unvalidated in liberal parsing
/// and refused in strict parsing, as NL_VALIDATE_UNSPEC does.
public struct NLAPolicy: Sendable {
    public let maxType: UInt16
    public let types: [UInt16: NLAType]
    public init(maxType: UInt16, _ types: [UInt16: NLAType]) { self.maxType = maxType; self.types = types }
}

/// Attributes parsed against a policy: for each type, its value (the last one wins, as in
/// nla_parse) and its offset from the start of the message (for extack).
public struct NLAttributes {
    public private(set) var values: [UInt16: ArraySlice<UInt8>] = [:]
    public private(set) var offsets: [UInt16: Int] = [:]

    public subscript(_ type: UInt16) -> ArraySlice<UInt8>? { values[type] }
    public func has(_ type: UInt16) -> Bool { values[type] != nil }
    public func u8(_ t: UInt16) -> UInt8? { values[t].flatMap { $0.count >= 1 ? $0.first : nil } }
    public func u16(_ t: UInt16) -> UInt16? { values[t].flatMap { $0.count >= 2 ? $0.le16(at: 0) : nil } }
    public func u32(_ t: UInt16) -> UInt32? { values[t].flatMap { $0.count >= 4 ? $0.le32(at: 0) : nil } }
    public func u64(_ t: UInt16) -> UInt64? { values[t].flatMap { $0.count >= 8 ? $0.le64(at: 0) : nil } }
    /// A string attribute without its trailing NUL.
    public func string(_ t: UInt16) -> String? {
        guard var v = values[t] else { return nil }
        if let z = v.firstIndex(of: 0) { v = v[v.startIndex..<z] }
        return String(decoding: v, as: UTF8.self)
    }

    /// nla_parse over `data`, whose first byte is at `base` bytes from the start of the message.
    /// `strict` is NL_VALIDATE_DEPRECATED_STRICT, what rtnetlink's nlmsg_parse_deprecated_strict
    /// gives NETLINK_GET_STRICT_CHK requests: bytes left over and types beyond the policy are
    /// refused; lengths are checked as always (a short integer is ERANGE, a long one passes) and
    /// a nest need not carry NLA_F_NESTED — iproute2 sends IFLA_LINKINFO without it.
    /// Every attribute of `data` in order, repeated types included (nla_for_each_attr): its
    /// type (flags masked off), payload, and offset from the start of the message.
    public static func list(_ data: ArraySlice<UInt8>, base: Int) throws(NetlinkError) -> [(type: UInt16, value: ArraySlice<UInt8>, offset: Int)] {
        var out: [(type: UInt16, value: ArraySlice<UInt8>, offset: Int)] = []
        var i = data.startIndex
        while data.endIndex - i >= 4 {
            let len = Int(UInt16(data[i]) | UInt16(data[i + 1]) << 8)
            let type = (UInt16(data[i + 2]) | UInt16(data[i + 3]) << 8) & 0x3FFF
            guard len >= 4, i + len <= data.endIndex else { throw NetlinkError(EINVAL, "Attribute failed policy validation", offset: base + (i - data.startIndex)) }
            out.append((type, data[(i + 4)..<(i + len)], base + (i - data.startIndex)))
            i += (len + 3) & ~3
        }
        return out
    }

    public static func parse(_ data: ArraySlice<UInt8>, base: Int, policy: NLAPolicy, strict: Bool) throws(NetlinkError) -> NLAttributes {
        var out = NLAttributes()
        var off = 0
        let n = data.count
        while n - off >= NL.attrHdrLen {
            let len = Int(data.le16(at: off))
            let rawType = data.le16(at: off + 2)
            guard len >= NL.attrHdrLen, len <= n - off else { break }   // nla_ok fails: the walk stops
            let type = rawType & NL.NLA_TYPE_MASK
            let nested = rawType & NL.NLA_F_NESTED != 0
            let value = data[(data.startIndex + off + NL.attrHdrLen)..<(data.startIndex + off + len)]
            let at = base + off
            if type > policy.maxType {
                if strict { throw NetlinkError(EINVAL, "Unknown attribute type", offset: at) }
            } else if let pt = policy.types[type] {
                try validate(value, pt, nested: nested, at: at, strict: strict)
                out.values[type] = value
                out.offsets[type] = at
            } else {
                out.values[type] = value
                out.offsets[type] = at
            }
            off += NL.align(len)
        }
        if off < n && strict {
            throw NetlinkError(EINVAL, "bytes leftover after parsing attributes", offset: base + off)
        }
        return out
    }

    /// validate_nla: the checks for one attribute's type and length.
    static func validate(_ v: ArraySlice<UInt8>, _ pt: NLAType, nested: Bool, at: Int, strict: Bool) throws(NetlinkError) {
        let failed = NetlinkError(ERANGE, "Attribute failed policy validation", offset: at)
        switch pt {
        case .u8, .u16, .u32, .u64, .s32:
            if v.count < pt.exactLength! { throw failed }
        case .string(let maxLen):
            guard !v.isEmpty else { throw failed }
            let len = v.last == 0 ? v.count - 1 : v.count
            if len > maxLen { throw failed }
        case .binary(let maxLen):
            if v.count > maxLen { throw failed }
        case .minLength(let minLen):
            if v.count < minLen { throw failed }
        case .flag:
            if !v.isEmpty { throw failed }
        case .nested(let inner):
            if v.isEmpty { return }
            if v.count < NL.attrHdrLen { throw failed }
            _ = try parse(v, base: at + NL.attrHdrLen, policy: inner, strict: strict)
        case .unspec:
            break
        }
    }
}

/// Builds netlink messages into a byte buffer: headers, attributes, nests, padding.
public struct NetlinkWriter {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    public var count: Int { bytes.count }

    /// Starts a message; returns its start, for `end(_:)`.
    public mutating func begin(type: UInt16, flags: UInt16, seq: UInt32, pid: UInt32) -> Int {
        let start = bytes.count
        put32(0); put16(type); put16(flags); put32(seq); put32(pid)
        return start
    }

    /// Closes a message: sets its length and pads it to 4 bytes.
    public mutating func end(_ start: Int) {
        set32(start, UInt32(bytes.count - start))
        pad()
    }

    public mutating func put(_ b: some Sequence<UInt8>) { bytes.append(contentsOf: b) }
    public mutating func put8(_ v: UInt8) { bytes.append(v) }
    public mutating func put16(_ v: UInt16) { bytes.append(UInt8(v & 0xFF)); bytes.append(UInt8(v >> 8)) }
    public mutating func put32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
    /// Drops everything from byte `count` on (a message that did not fit).
    public mutating func truncate(to count: Int) { bytes.removeSubrange(count...) }
    /// Overwrites the u32 at byte `at` (little-endian, as put32).
    public mutating func patch32(at: Int, _ v: UInt32) { for i in 0..<4 { bytes[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) } }
    public mutating func put64(_ v: UInt64) { put32(UInt32(truncatingIfNeeded: v)); put32(UInt32(v >> 32)) }
    public mutating func set16(_ at: Int, _ v: UInt16) { bytes[at] = UInt8(v & 0xFF); bytes[at + 1] = UInt8(v >> 8) }
    public mutating func set32(_ at: Int, _ v: UInt32) { for i in 0..<4 { bytes[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) } }
    mutating func pad() { while bytes.count % 4 != 0 { bytes.append(0) } }

    /// An attribute with `value` bytes, padded.
    public mutating func attr(_ type: UInt16, _ value: some Collection<UInt8>) {
        put16(UInt16(NL.attrHdrLen + value.count)); put16(type); put(value); pad()
    }
    public mutating func attr(_ type: UInt16, u8 v: UInt8) { attr(type, [v]) }
    public mutating func attr(_ type: UInt16, u16 v: UInt16) { attr(type, [UInt8(v & 0xFF), UInt8(v >> 8)]) }
    public mutating func attr(_ type: UInt16, u32 v: UInt32) { put16(8); put16(type); put32(v) }
    public mutating func attr(_ type: UInt16, u64 v: UInt64) { put16(12); put16(type); put64(v) }
    /// A NUL-terminated string attribute.
    public mutating func attr(_ type: UInt16, string s: String) { attr(type, Array(s.utf8) + [0]) }
    public mutating func flag(_ type: UInt16) { put16(4); put16(type) }

    /// Opens a nested attribute (NLA_F_NESTED set); returns its start, for `endNest(_:)`.
    public mutating func beginNest(_ type: UInt16, flagged: Bool = true) -> Int {
        let start = bytes.count
        put16(0); put16(type | (flagged ? NL.NLA_F_NESTED : 0))
        return start
    }
    public mutating func endNest(_ start: Int) {
        let len = UInt16(bytes.count - start)
        bytes[start] = UInt8(len & 0xFF); bytes[start + 1] = UInt8(len >> 8)
    }

    /// netlink_ack: NLMSG_ERROR for `request` with `error` (nil: success). The request is
    /// echoed after the error unless the reader set NETLINK_CAP_ACK or there is no error
    /// (NLM_F_CAPPED); with NETLINK_EXT_ACK the message and the offending attribute's offset
    /// follow as NLMSGERR_ATTR_* (NLM_F_ACK_TLVS).
    /// A success may carry a warning (NL_SET_ERR_MSG on a request that went through).
    public mutating func ack(_ request: NetlinkMessage, error: NetlinkError?, pid: UInt32, extAck: Bool, capAck: Bool, warning: String? = nil) {
        let errno = error.map { -$0.errno } ?? 0
        let echo = errno != 0 && !capAck
        var flags: UInt16 = echo ? 0 : NL.F_CAPPED
        let msg = extAck ? (error?.message ?? warning) : nil
        let offs = extAck ? error?.offset : nil
        if msg != nil || offs != nil { flags |= NL.F_ACK_TLVS }
        let start = begin(type: NL.ERROR, flags: flags, seq: request.header.seq, pid: pid)
        put32(UInt32(bitPattern: errno))
        // The request's header, and with an echo its whole payload.
        put(echo ? Array(request.bytes) : Array(request.bytes.prefix(NL.hdrLen)))
        pad()
        if let msg { attr(NL.ERR_ATTR_MSG, string: msg) }
        if let offs { attr(NL.ERR_ATTR_OFFS, u32: UInt32(offs)) }
        end(start)
    }

    /// NLMSG_DONE ending a dump (the dump's status as its payload, 0).
    public mutating func done(seq: UInt32, pid: UInt32, flags: UInt16 = NL.F_MULTI) {
        let start = begin(type: NL.DONE, flags: flags, seq: seq, pid: pid)
        put32(0)
        end(start)
    }
}
