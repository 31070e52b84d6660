#if canImport(Glibc)
import Glibc
#endif

/// The /proc/net files that describe multicast memberships, as the kernel prints them, for
/// programs run by `sluice exec` (`ip maddr show` reads them): dev_mcast (dev_mc_seq_show),
/// igmp (igmp_mc_seq_show) and igmp6 (igmp6_mc_seq_show). Sluice's stacks are IGMP and MLD
/// hosts (ipv4/IGMPListener.swift, ipv6/MLD.swift), whose per-group report timers these show.
public enum ProcFiles {
    public static let served = ["/proc/net/dev_mcast", "/proc/net/igmp", "/proc/net/igmp6"]

    static func pad(_ s: String, _ n: Int, left: Bool = true) -> String {
        s.count >= n ? s : left ? s + String(repeating: " ", count: n - s.count) : String(repeating: " ", count: n - s.count) + s
    }

    static func hex(_ v: UInt64, _ digits: Int) -> String {
        let h = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - h.count)) + h
    }

    public static func text(_ path: String, _ dp: Datapath) -> String? {
        let devices = dp.allDevices
        switch path {
        case "/proc/net/dev_mcast":
            var out = ""
            for d in devices {
                // Users, then global_use: 1 for an address added by `bridge fdb add … self`
                // (dev_mc_add_excl, global), which ip maddr shows as "static".
                let stack = dp.stackMulticastList(d)
                for (i, m) in (stack + d.userMulticast).enumerated() {
                    let mac = m.octets.map { let h = String($0, radix: 16); return $0 < 16 ? "0" + h : h }.joined()
                    out += "\(pad(String(d.ifindex), 4)) \(pad(d.name, 15)) \(pad("1", 5)) \(pad(i < stack.count ? "0" : "1", 5)) \(mac)\n"
                }
            }
            return out
        case "/proc/net/igmp":
            // ip_mc_up joins 224.0.0.1 on every device that is up (a snooping bridge also
            // 224.0.0.106); printed as the __be32 in memory, read as a host-order word
            // (010000E0 on a little-endian machine).
            var out = "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n"
            for d in devices {
                let groups = dp.ipv4Groups(d)
                guard !groups.isEmpty else { continue }
                // The querier version the host follows, and each group's report timer (time
                // left in USER_HZ) and whether it sent the last report (IGMPListener.swift).
                let l = dp.ipv4.igmp[d.ifindex], now = dp.clock.now
                let querier = l?.v1(now) == true ? "V1" : l?.v2(now) == true ? "V2" : "V3"
                out += "\(d.ifindex)\t\(pad(d.name, 10)): \(pad(String(groups.count), 5, left: false)) \(pad(querier, 7, left: false))\n"
                for g in groups {
                    let st = l?.state[UInt128(g)]
                    let running = (st?.timer ?? 0) > now
                    let left = running ? (st!.timer - now) / (10 * Time.ms) : 0
                    out += "\t\t\t\t\(hex(UInt64(g.byteSwapped), 8)) \(pad("1", 5, left: false)) \(running ? 1 : 0):\(hex(left, 8))\t\t\(st?.lastReporter == true ? 1 : 0)\n"
                }
            }
            return out
        case "/proc/net/igmp6":
            var out = ""
            for d in devices {
                for g in dp.ipv6Groups(d) {
                    let hi = UInt64(truncatingIfNeeded: g.group >> 64), lo = UInt64(truncatingIfNeeded: g.group)
                    // MAF_LOADED for groups in the device's filter, MAF_NOREPORT for the
                    // all-nodes groups (ff01::1 is not loaded: interface-local).
                    let allNodes = lo == 1 && (hi >> 48 == 0xFF02 || hi >> 48 == 0xFF01) && hi & 0xFFFF_FFFF_FFFF == 0
                    var flags: UInt32 = allNodes ? (hi >> 48 == 0xFF01 ? 0x08 : 0x0C) : (hi >> 48 == 0xFF01 ? 0x00 : 0x04)
                    // The listener's MAF_TIMER_RUNNING (and the time left, in USER_HZ) and
                    // MAF_LAST_REPORTER (MLD.swift).
                    var left: UInt64 = 0
                    if let s = dp.ipv6.mld[d.ifindex]?.state[g.group] {
                        if s.lastReporter { flags |= 0x02 }
                        if s.timer > dp.clock.now { flags |= 0x01; left = (s.timer - dp.clock.now) / (10 * Time.ms) }
                    }
                    out += "\(pad(String(d.ifindex), 4)) \(pad(d.name, 15)) \(hex(hi, 16).lowercased())\(hex(lo, 16).lowercased()) \(pad(String(g.users), 5, left: false)) \(hex(UInt64(flags), 8)) \(left)\n"
                }
            }
            return out
        default:
            return nil
        }
    }
}
