/// Principles (cls_api.c)
/// ----------
/// A qdisc's filters form its block: evaluated in priority order (lowest first), each matching
/// on its protocol (or all), the first that matches gives the classification result: a class id
/// (`classid`/`flowid`) or an action verdict. This first cut has the matchers matchall, fw
/// (packet mark) and u32 (32-bit value/mask words at offsets from the network header, with the
/// `match ip src/dst/sport/dport/protocol/tos` shorthands).
public enum TcResult: Equatable, Sendable {
    case classid(TcHandle)
    case drop
}

enum FilterMatch {
    case all
    case fw(mark: UInt32, mask: UInt32)
    /// (value, mask, offset from the network header; `nexthdr` offsets are from the L4 header).
    case u32([(value: UInt32, mask: UInt32, offset: Int, l4: Bool)])
}

struct TcFilter {
    var prio: UInt16
    var proto: UInt16          // ETH_P_ALL (3) matches every protocol
    var handle: UInt32
    var kind: String
    var match: FilterMatch
    var result: TcResult?
    var hits: UInt64 = 0
}

public struct FilterBlock {
    var filters: [TcFilter] = []

    var isEmpty: Bool { filters.isEmpty }

    mutating func add(_ f: TcFilter) {
        filters.append(f)
        filters.sort { $0.prio < $1.prio }
    }

    /// tcf_classify: the first matching filter's result, or nil.
    func classify(_ p: borrowing Packet, pool: PacketPool) -> TcResult? {
        if filters.isEmpty { return nil }
        let m = pool.metas[Int(p.index)]
        let data = pool.data(p)
        let len = Int(m.length)
        guard len >= EthernetHeader.length else { return nil }
        var l3 = EthernetHeader.length
        var proto = UInt16(bigEndian: data.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
        if proto == EtherType.vlan && len >= 18 {
            proto = UInt16(bigEndian: data.loadUnaligned(fromByteOffset: 16, as: UInt16.self))
            l3 = 18
        }
        var l4 = -1
        if proto == EtherType.ipv4 && len >= l3 + 20 { l4 = l3 + Int(data.load(fromByteOffset: l3, as: UInt8.self) & 0x0F) * 4 }
        else if proto == EtherType.ipv6 && len >= l3 + 40 { l4 = l3 + 40 }
        for f in filters {
            if f.proto != 3 && f.proto != proto { continue }
            var hit = false
            switch f.match {
            case .all: hit = true
            case .fw(let mark, let mask): hit = m.mark & mask == mark
            case .u32(let keys):
                hit = true
                for k in keys {
                    let base = k.l4 ? l4 : l3
                    let o = base + k.offset
                    guard base >= 0, o >= 0, o + 4 <= len else { hit = false; break }
                    let w = UInt32(bigEndian: data.loadUnaligned(fromByteOffset: o, as: UInt32.self))
                    if w & k.mask != k.value & k.mask { hit = false; break }
                }
            }
            if hit, let r = f.result { return r }
        }
        return nil
    }
}
