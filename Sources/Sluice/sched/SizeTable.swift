/// Principles (net/sched/sch_api.c: qdisc_get_stab, __qdisc_calculate_pkt_len; tc_stab.c)
/// ----------
/// A size table replaces the length a root qdisc charges for a packet with the length it
/// takes on the real link below: the frame's length plus `overhead`, looked up by cells of
/// 2^cell_log bytes in a table tc computed (the minimum packet `mpu`, ATM's 53-byte cells
/// per 48 bytes), scaled by 2^size_log, at least 1. tc sends the table (TCA_STAB_DATA) with
/// its parameters (struct tc_sizespec); only an overhead needs no table. Sluice applies the
/// table of the device's root qdisc, where __dev_xmit_skb does; size tables on inner
/// qdiscs are refused.
public final class SizeTable {
    public let cellLog: UInt8, sizeLog: UInt8
    public let cellAlign: Int16
    public let overhead: Int32
    public let linklayer: UInt32, mpu: UInt32, mtu: UInt32, tsize: UInt32
    let data: UnsafeMutablePointer<UInt16>

    init(cellLog: UInt8, sizeLog: UInt8, cellAlign: Int16, overhead: Int32, linklayer: UInt32, mpu: UInt32, mtu: UInt32, table: [UInt16]) {
        self.cellLog = cellLog; self.sizeLog = sizeLog; self.cellAlign = cellAlign; self.overhead = overhead
        self.linklayer = linklayer; self.mpu = mpu; self.mtu = mtu; tsize = UInt32(table.count)
        data = .allocate(capacity: max(table.count, 1))
        for (i, v) in table.enumerated() { (data + i).initialize(to: v) }
    }
    deinit { data.deallocate() }

    /// qdisc_get_stab's checks on struct tc_sizespec (24 bytes) and the table.
    static func decode(base: ArraySlice<UInt8>, table: ArraySlice<UInt8>?) throws(SluiceError) -> SizeTable {
        let tsize = base.le32(at: 20)
        var entries: [UInt16] = []
        if tsize > 0 {
            guard let t = table else { throw SluiceError("Error: Size table data attribute is missing") }
            entries = stride(from: 0, to: t.count - 1, by: 2).map { UInt16(t[t.startIndex + $0]) | UInt16(t[t.startIndex + $0 + 1]) << 8 }
        }
        guard entries.count == Int(tsize) else { throw SluiceError("Error: Invalid size of size table") }
        let cellLog = base[base.startIndex], sizeLog = base[base.startIndex + 1]
        guard sizeLog <= 30, cellLog <= 30 else { throw SluiceError("Error: Invalid logarithmic size of size table") }
        return SizeTable(cellLog: cellLog, sizeLog: sizeLog, cellAlign: Int16(bitPattern: UInt16(base[base.startIndex + 2]) | UInt16(base[base.startIndex + 3]) << 8),
                         overhead: Int32(bitPattern: base.le32(at: 4)), linklayer: base.le32(at: 8), mpu: base.le32(at: 12), mtu: base.le32(at: 16),
                         table: entries)
    }

    /// struct tc_sizespec as qdisc_dump_stab puts it.
    var sizespec: [UInt8] {
        var b: [UInt8] = [cellLog, sizeLog, UInt8(truncatingIfNeeded: UInt16(bitPattern: cellAlign)), UInt8(UInt16(bitPattern: cellAlign) >> 8)]
        for v in [UInt32(bitPattern: overhead), linklayer, mpu, mtu, tsize] { for i in 0..<4 { b.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
        return b
    }

    /// tc's `stab` words (parse_size_table and tc_calc_size_table): mtu, tsize, mpu, overhead,
    /// linklayer ethernet|atm|adsl; the table computed as tc computes it.
    static func parse(_ a: inout TcArgs) throws(SluiceError) -> SizeTable {
        var mtu: UInt32 = 0, tsize: UInt32 = 0, mpu: UInt32 = 0, overhead: Int32 = 0, linklayer: UInt32 = 0
        while let k = a.peek {
            guard ["mtu", "tsize", "mpu", "overhead", "linklayer"].contains(k) else { break }
            a.i += 1
            let v = try a.value(for: k)
            switch k {
            case "mtu": guard let n = UInt32(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: invalid mtu") }; mtu = n
            case "tsize": guard let n = UInt32(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: invalid table size") }; tsize = n
            case "mpu": guard let n = UInt32(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: invalid mpu") }; mpu = n
            case "overhead": guard let n = Int32(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: invalid overhead") }; overhead = n
            default:
                switch v {
                case "ethernet": linklayer = 1
                case "atm", "adsl": linklayer = 2
                default: throw SluiceError("Error: argument \"\(v)\" is wrong: invalid linklayer")
                }
            }
        }
        guard linklayer >= 1 || mpu != 0 || overhead != 0 else { throw SluiceError("Error: stab needs an overhead, an mpu or a linklayer.") }
        if linklayer <= 1 && mpu == 0 {
            return SizeTable(cellLog: 0, sizeLog: 0, cellAlign: 0, overhead: overhead, linklayer: linklayer, mpu: mpu, mtu: 0, table: [])
        }
        if mtu == 0 { mtu = 2047 }
        if tsize == 0 { tsize = 512 }
        var cellLog: UInt8 = 0
        while (mtu >> UInt32(cellLog)) > tsize - 1 { cellLog += 1 }
        var sizeLog: UInt8 = 0
        var table = [UInt16](repeating: 0, count: Int(tsize))
        var done = false
        while !done {
            done = true
            for i in stride(from: Int(tsize) - 1, through: 0, by: -1) {
                var sz = UInt32((i + 1) << Int(cellLog))
                if sz < mpu { sz = mpu }
                if linklayer == 2 { sz = (sz + 47) / 48 * 53 }
                if sz >> UInt32(sizeLog) > UInt32(UInt16.max) { sizeLog += 1; done = false; break }
                table[i] = UInt16(sz >> UInt32(sizeLog))
            }
        }
        return SizeTable(cellLog: cellLog, sizeLog: sizeLog, cellAlign: -1, overhead: overhead, linklayer: linklayer, mpu: mpu, mtu: mtu, table: table)
    }

    /// __qdisc_calculate_pkt_len for a frame of `len` bytes.
    @inline(__always) func length(_ len: Int) -> UInt32 {
        var pkt = len + Int(overhead)
        if tsize > 0 {
            var slot = pkt + Int(cellAlign)
            if slot < 0 { slot = 0 }
            slot >>= Int(cellLog)
            let n = Int(tsize)
            pkt = slot < n ? Int(data[slot]) : Int(data[n - 1]) * (slot / n) + Int(data[slot % n])
            pkt <<= Int(sizeLog)
        }
        return UInt32(clamping: max(pkt, 1))
    }

    /// tc's print_size_table words (`tc -d qdisc show`).
    var words: String {
        var s = ""
        if linklayer != 0 { s += "linklayer \(linklayer == 2 ? "atm" : linklayer == 1 ? "ethernet" : "unknown") " }
        if overhead != 0 { s += "overhead \(overhead) " }
        if mpu != 0 { s += "mpu \(mpu) " }
        if mtu != 0 { s += "mtu \(mtu) " }
        if tsize != 0 { s += "tsize \(tsize) " }
        return s
    }
}
