/// tc's words for pedit keys (m_pedit.c's parse_munge and parse_cmd, p_ip.c, p_ip6.c,
/// p_eth.c, p_tcp.c, p_udp.c), packed into 32-bit keys exactly as tc packs them
/// (pack_key8/16/32, pack_mac, pack_ipv6), so Sluice's own grammar and Debian's tc send the
/// same keys. Keys hold network-order words in memory order.
enum PeditGrammar {
    enum ValueType { case u32, ipv4, ipv6, mac }
    static let network: UInt16 = 0, eth: UInt16 = 1, ip4: UInt16 = 2, ip6: UInt16 = 3, tcp: UInt16 = 4, udp: UInt16 = 5

    /// One field a `munge KIND FIELD` names: its header, offset, length, value type, the bits
    /// it keeps (retain) and whether `decrement` applies.
    struct Field { var htype: UInt16; var off: UInt32; var len: Int; var type: ValueType; var retain: UInt32; var dec = false }

    static func field(_ kind: String, _ name: String, extended: Bool) -> Field? {
        let ip = extended ? ip4 : network
        switch (kind, name) {
        case ("ip", "src"): return Field(htype: ip, off: 12, len: 4, type: .ipv4, retain: ~0)
        case ("ip", "dst"): return Field(htype: ip, off: 16, len: 4, type: .ipv4, retain: ~0)
        case ("ip", "tos"), ("ip", "dsfield"), ("ip", "precedence"): return Field(htype: ip, off: 1, len: 1, type: .u32, retain: 0xFF)
        case ("ip", "ihl"): return Field(htype: ip, off: 0, len: 1, type: .u32, retain: 0x0F)
        case ("ip", "ttl"): return Field(htype: ip, off: 8, len: 1, type: .u32, retain: 0xFF, dec: true)
        case ("ip", "protocol"): return Field(htype: ip, off: 9, len: 1, type: .u32, retain: 0xFF)
        case ("ip", "nofrag"): return Field(htype: ip, off: 6, len: 1, type: .u32, retain: 0x3F)
        case ("ip", "firstfrag"): return Field(htype: ip, off: 6, len: 1, type: .u32, retain: 0x1F)
        case ("ip", "ce"): return Field(htype: ip, off: 6, len: 1, type: .u32, retain: 0x80)
        case ("ip", "df"): return Field(htype: ip, off: 6, len: 1, type: .u32, retain: 0x40)
        case ("ip", "mf"): return Field(htype: ip, off: 6, len: 1, type: .u32, retain: 0x20)
        // Beyond the IP header (plain keys only; extended keys name the transport header).
        // icmp_code sits at 20 as tc 6.1 puts it.
        case ("ip", "dport") where !extended: return Field(htype: ip, off: 22, len: 2, type: .u32, retain: 0xFFFF)
        case ("ip", "sport") where !extended: return Field(htype: ip, off: 20, len: 2, type: .u32, retain: 0xFFFF)
        case ("ip", "icmp_type") where !extended: return Field(htype: ip, off: 20, len: 1, type: .u32, retain: 0xFF)
        case ("ip", "icmp_code") where !extended: return Field(htype: ip, off: 20, len: 1, type: .u32, retain: 0xFF)
        case ("ip6", "src"): return Field(htype: ip6, off: 8, len: 16, type: .ipv6, retain: ~0)
        case ("ip6", "dst"): return Field(htype: ip6, off: 24, len: 16, type: .ipv6, retain: ~0)
        case ("ip6", "flow_lbl"): return Field(htype: ip6, off: 0, len: 4, type: .u32, retain: 0x0007_FFFF)
        case ("ip6", "payload_len"): return Field(htype: ip6, off: 4, len: 2, type: .u32, retain: 0xFFFF)
        case ("ip6", "nexthdr"): return Field(htype: ip6, off: 6, len: 1, type: .u32, retain: 0xFF)
        case ("ip6", "hoplimit"): return Field(htype: ip6, off: 7, len: 1, type: .u32, retain: 0xFF, dec: true)
        case ("ip6", "traffic_class"): return Field(htype: ip6, off: 1, len: 1, type: .u32, retain: 0xFF)
        case ("eth", "type"): return Field(htype: eth, off: 12, len: 2, type: .u32, retain: 0xFFFF)
        case ("eth", "dst"): return Field(htype: eth, off: 0, len: 6, type: .mac, retain: ~0)
        case ("eth", "src"): return Field(htype: eth, off: 6, len: 6, type: .mac, retain: ~0)
        case ("tcp", "sport"): return Field(htype: tcp, off: 0, len: 2, type: .u32, retain: 0xFFFF)
        case ("tcp", "dport"): return Field(htype: tcp, off: 2, len: 2, type: .u32, retain: 0xFFFF)
        case ("tcp", "flags"): return Field(htype: tcp, off: 13, len: 1, type: .u32, retain: 0xFF)
        case ("udp", "sport"): return Field(htype: udp, off: 0, len: 2, type: .u32, retain: 0xFFFF)
        case ("udp", "dport"): return Field(htype: udp, off: 2, len: 2, type: .u32, retain: 0xFFFF)
        default: return nil
        }
    }

    /// One `munge …`: `offset OFF u8|u16|u32 [at AT OFFMASK SHIFT] CMD`, or `KIND FIELD CMD`.
    static func munge(_ a: inout TcArgs, extended: Bool, _ keys: inout [HeaderEdit.PeditKey]) throws(SluiceError) {
        guard let w = a.next() else { throw SluiceError("Error: Bad pedit construct (munge)") }
        var k = HeaderEdit.PeditKey(mask: 0, val: 0, off: 0)
        if w == "offset" {
            let v = try a.value(for: "offset")
            guard let off = Int32(v) ?? Int32(hex: v) else { throw SluiceError("Error: Bad pedit construct (offset \(v))") }
            k.off = UInt32(bitPattern: off)
            let size = try a.value(for: "offset")
            let len: Int, retain: UInt32
            switch size {
            case "u32": len = 4; retain = 0xFFFF_FFFF
            case "u16": len = 2; retain = 0xFFFF
            case "u8": len = 1; retain = 0xFF
            default: throw SluiceError("Error: Bad pedit construct (\(size): u8, u16 or u32)")
            }
            if a.peek == "at" {
                a.i += 1
                k.at = try u32(try a.value(for: "at"))
                guard let m = UInt32(try a.value(for: "at"), radix: 16) else { throw SluiceError("Error: Bad pedit construct (offmask)") }
                k.offmask = m
                k.shift = try u32(try a.value(for: "at"))
            }
            try command(&a, k, Field(htype: network, off: k.off, len: len, type: .u32, retain: retain), extended: extended, &keys)
            return
        }
        let name = try a.value(for: w)
        guard let f = field(w, name, extended: extended) else { throw SluiceError("Error: Bad pedit construct (munge \(w) \(name))") }
        k.htype = f.htype
        k.off = f.off
        try command(&a, k, f, extended: extended, &keys)
    }

    /// get_u32 with base 0.
    static func u32(_ s: String) throws(SluiceError) -> UInt32 {
        let v = s.hasPrefix("0x") || s.hasPrefix("0X") ? UInt32(s.dropFirst(2), radix: 16)
            : (s.count > 1 && s.hasPrefix("0") ? UInt32(s.dropFirst(), radix: 8) : UInt32(s))
        guard let v else { throw SluiceError("Error: Illegal value \"\(s)\"") }
        return v
    }

    /// parse_cmd: invert | set VAL | add VAL | decrement | preserve | clear, then [retain R].
    static func command(_ a: inout TcArgs, _ key: HeaderEdit.PeditKey, _ f: Field, extended: Bool,
                        _ keys: inout [HeaderEdit.PeditKey]) throws(SluiceError) {
        var k = key
        var retain = f.retain
        var val: UInt32 = 0, mask: UInt32 = 0
        var bytes: [UInt8] = []
        let ones: UInt32 = f.len == 2 ? 0xFFFF : f.len == 4 ? 0xFFFF_FFFF : 0xFF
        guard let c = a.next() else { throw SluiceError("Error: Bad pedit construct (a command is missing)") }
        switch c {
        case "invert": val = ones; mask = ones
        case "set", "add":
            if c == "add" { k.cmd = 1 }
            if !extended && k.cmd != 0 { throw SluiceError("Error: Non extended mode. only 'set' command is supported") }
            let v = try a.value(for: c)
            switch f.type {
            case .u32: val = try u32(v)
            case .ipv4:
                guard let ip = CommandRunner.parseIPv4(v.split(separator: "/").first ?? "") else { throw SluiceError("Error: Illegal IPv4 address \"\(v)\"") }
                val = ip
            case .ipv6:
                guard let ip = CommandRunner.parseIPv6(v.split(separator: "/").first ?? "") else { throw SluiceError("Error: Illegal IPv6 address \"\(v)\"") }
                bytes = (0..<16).map { UInt8(truncatingIfNeeded: ip >> (120 - 8 * UInt128($0))) }
            case .mac:
                guard let m = MACAddress(parsing: v) else { throw SluiceError("Error: Illegal MAC address \"\(v)\"") }
                bytes = m.octets
            }
        case "decrement":
            guard f.dec else { throw SluiceError("Error: decrement command is not supported for this field") }
            guard extended else { throw SluiceError("Error: Non extended mode. only 'set' command is supported") }
            k.cmd = 1
            val = retain
        case "preserve": retain = 0
        case "clear": break
        default: throw SluiceError("Error: Bad pedit construct (\(c): set, add, decrement, invert, preserve or clear)")
        }
        if a.peek == "retain" { a.i += 1; retain = try u32(try a.value(for: "retain")) }
        if f.len > 4 && retain != ~0 { throw SluiceError("Error: retain is not supported for fields longer the 32 bits") }
        func be32(_ b: ArraySlice<UInt8>) -> UInt32 { b.reduce(0) { $0 << 8 | UInt32($1) } }
        // A MAC or IPv6 field without a value (invert, clear, decrement) packs tc's value
        // array as it lies in memory: its first word, little-endian, then zeros.
        if bytes.isEmpty { bytes = (0..<16).map { $0 < 4 ? UInt8(truncatingIfNeeded: val >> (8 * UInt32($0))) : 0 } }
        switch f.type {
        case .mac:
            if k.off & 3 == 0 {
                k.val = be32(bytes[0..<4]); k.mask = 0; try pack32(~0, k, extended, &keys)
                k.off += 4; k.val = be32(bytes[4..<6]); k.mask = 0; try pack16(~0, k, extended, &keys)
            } else if k.off & 1 == 0 {
                k.val = be32(bytes[0..<2]); k.mask = 0
                let first = try pack16(~0, k, extended, &keys)
                k.off = first.off + 4; k.val = be32(bytes[2..<6]); k.mask = 0; try pack32(~0, k, extended, &keys)
            } else {
                throw SluiceError("Error: pack_mac: mac offsets must begin in 32bit or 16bit boundaries")
            }
        case .ipv6:
            guard k.off & 3 == 0 else { throw SluiceError("Error: pack_ipv6: IPv6 offsets must begin in 32bit boundaries") }
            for i in 0..<4 {
                k.val = be32(bytes[(4 * i)..<(4 * i + 4)]); k.mask = 0
                try pack32(~0, k, extended, &keys)
                k.off += 4
            }
        case .u32, .ipv4:
            k.val = val; k.mask = mask
            switch f.len {
            case 1: try pack8(retain, k, extended, &keys)
            case 2: try pack16(retain, k, extended, &keys)
            default: try pack32(retain, k, extended, &keys)
            }
        }
    }

    /// pack_key: the key as sent (a plain key must be a network-header set).
    @discardableResult
    static func pack(_ k: HeaderEdit.PeditKey, _ extended: Bool, _ keys: inout [HeaderEdit.PeditKey]) throws(SluiceError) -> HeaderEdit.PeditKey {
        guard keys.count < 128 else { throw SluiceError("Error: pedit: too many keys (128 at most)") }
        guard k.off % 4 == 0 else { throw SluiceError("Error: offsets MUST be in 32 bit boundaries") }
        if !extended && (k.htype != network || k.cmd != 0) { throw SluiceError("Error: Munge parameters not supported. Use 'pedit ex munge ...'.") }
        keys.append(k)
        return k
    }

    @discardableResult
    static func pack32(_ retain: UInt32, _ key: HeaderEdit.PeditKey, _ ex: Bool, _ keys: inout [HeaderEdit.PeditKey]) throws(SluiceError) -> HeaderEdit.PeditKey {
        var k = key
        guard k.off & 3 == 0 else { throw SluiceError("Error: pack_key32: 32 bit offsets must begin in 32bit boundaries") }
        k.val = (k.val & retain).bigEndian
        k.mask = (k.mask | ~retain).bigEndian
        return try pack(k, ex, &keys)
    }

    @discardableResult
    static func pack16(_ retain: UInt32, _ key: HeaderEdit.PeditKey, _ ex: Bool, _ keys: inout [HeaderEdit.PeditKey]) throws(SluiceError) -> HeaderEdit.PeditKey {
        var k = key
        let m: [UInt32] = [0x0000_FFFF, 0xFF00_00FF, 0xFFFF_0000]
        guard k.val <= 0xFFFF, k.mask <= 0xFFFF else { throw SluiceError("Error: pack_key16 bad value") }
        let ind = Int(k.off & 3)
        guard ind != 3 else { throw SluiceError("Error: pack_key16 bad index value 3") }
        let stride = UInt32(8 * (2 - ind))
        k.val = ((k.val & retain) &<< stride).bigEndian
        k.mask = (((k.mask | ~retain) &<< stride) | m[ind]).bigEndian
        k.off &= ~3
        return try pack(k, ex, &keys)
    }

    @discardableResult
    static func pack8(_ retain: UInt32, _ key: HeaderEdit.PeditKey, _ ex: Bool, _ keys: inout [HeaderEdit.PeditKey]) throws(SluiceError) -> HeaderEdit.PeditKey {
        var k = key
        let m: [UInt32] = [0x00FF_FFFF, 0xFF00_FFFF, 0xFFFF_00FF, 0xFFFF_FF00]
        guard k.val <= 0xFF, k.mask <= 0xFF else {
            throw SluiceError("Error: pack_key8 bad value (val \(String(k.val, radix: 16)) mask \(String(k.mask, radix: 16)))")
        }
        let ind = Int(k.off & 3)
        let stride = UInt32(8 * (3 - ind))
        k.val = ((k.val & retain) &<< stride).bigEndian
        k.mask = (((k.mask | ~retain) &<< stride) | m[ind]).bigEndian
        k.off &= ~3
        return try pack(k, ex, &keys)
    }
}

extension Int32 {
    /// A 0x-prefixed hexadecimal integer (get_integer with base 0).
    init?(hex s: String) {
        guard s.hasPrefix("0x") || s.hasPrefix("0X"), let v = Int32(s.dropFirst(2), radix: 16) else { return nil }
        self = v
    }
}
