/// Principles
/// ----------
/// The command language is iproute2's: `link add tap0 type tap`, `link set tap0 master br0 up`,
/// `fdb show`. One parser serves batch files and the control socket. Object and verb names
/// may be abbreviated as `ip` allows (`l s tap0 up`). A command is parsed and checked whole
/// before anything changes; a change that fails part-way is rolled back, so a line applies
/// completely or not at all. Errors are one line, as iproute2's: `Error: …`.
public final class CommandRunner {
    public let dp: Datapath

    public init(datapath: Datapath) { dp = datapath }
    /// The last index given to an action of each kind (the kernel numbers actions per kind).

    /// Global options as iproute2's (`-s`, `-d`), before or after the object.
    struct Options { var stats = 0; var details = false; var family = 0 }

    /// Splits a line into words; `#` starts a comment; double or single quotes group (as a
    /// shell's do: `bytecode '4,40 0 0 12,…'`).
    public static func tokenize(_ line: String) throws(SluiceError) -> [String] {
        var words: [String] = []
        var cur = ""
        var quote: Character? = nil
        var have = false
        for ch in line {
            if let q = quote {
                if ch == q { quote = nil } else { cur.append(ch) }
                continue
            }
            if ch == "#" { break }
            if ch == "\"" || ch == "'" { quote = ch; have = true; continue }
            if ch == " " || ch == "\t" || ch == "\r" {
                if have { words.append(cur); cur = ""; have = false }
                continue
            }
            cur.append(ch); have = true
        }
        if quote != nil { throw SluiceError("Error: unterminated quote") }
        if have { words.append(cur) }
        return words
    }

    /// Runs one line; returns its output (possibly empty). Throws one clear line on error.
    @discardableResult
    public func execute(_ line: String) throws(SluiceError) -> String {
        var words = try Self.tokenize(line)
        guard !words.isEmpty else { return "" }
        var opts = Options()
        // -s and -d anywhere (`link show -d`); -4 and -6 too, except after a tc object, where
        // they are arguments (a pedit offset, say).
        let object = words.first { !["-s", "-stats", "-statistics", "-d", "-details", "-4", "-6"].contains($0) }
        let tcObject = ["qdisc", "class", "filter", "chain"].contains(object ?? "")
        var seenObject = false
        words = words.filter { w in
            if w == object { seenObject = true }
            switch w {
            case "-s", "-stats", "-statistics": opts.stats += 1; return false
            case "-d", "-details": opts.details = true; return false
            case "-4" where !(tcObject && seenObject): opts.family = 4; return false
            case "-6" where !(tcObject && seenObject): opts.family = 6; return false
            default: return true
            }
        }
        guard let object = words.first else { return "" }
        let rest = Array(words.dropFirst())
        switch try match(object, ["link", "fdb", "vlan", "addr", "address", "addrlabel", "route", "rule", "nexthop", "neigh", "neighbour", "sysctl", "qdisc", "class", "filter", "chain", "stats", "help"], what: "object") {
        case "link": return try link(rest, opts)
        case "qdisc": return try qdisc(rest, opts)
        case "class": return try tcClass(rest, opts)
        case "filter": return try tcFilter(rest, opts)
        case "chain": return try tcChain(rest, opts)
        case "fdb": return try fdb(rest)
        case "vlan": return try bridgeVLAN(rest)
        case "addr", "address": return try addr(rest, opts)
        case "addrlabel": return try addrlabel(rest, opts)
        case "route": return try route(rest, opts)
        case "rule": return try rule(rest, opts)
        case "nexthop": return try nexthop(rest, opts)
        case "neigh", "neighbour": return try neigh(rest, opts)
        case "sysctl": return try sysctl(rest)
        case "stats": return report()
        default: return Self.help
        }
    }

    public static let help = """
    Usage: OBJECT COMMAND [ARGS]
      link add [link PARENT] NAME [mtu N] [address MAC] [txqueuelen N] type { tap [vnet_hdr on|off] | afpacket dev IFNAME [vnet_hdr on|off] | afxdp dev IFNAME [queue N] [mode auto|copy|zerocopy] [multibuffer on|off] | pcap [in FILE] [out FILE] | veth peer name PEER | dummy | vif [rate RATE|unlimited] [window TIME] | bridge BRIDGE_OPTIONS | vlan VLAN_OPTIONS | vxlan … | gre|gretap remote A [local A] [key K] [csum] [seq] [ttl N] … }
          BRIDGE_OPTIONS := [ageing_time CENTISECONDS] [group_fwd_mask MASK] [vlan_filtering 0|1] [vlan_protocol 802.1Q|802.1ad] [vlan_default_pvid VID]
                            [forward_delay CS] [hello_time CS] [max_age CS] [priority PRIO] [fdb_flush] [stp_state 0|1] [mcast_snooping 0|1] [mcast_querier 0|1] [mcast_router 0|1|2]
          macvlan [mode private|vepa|bridge]   (needs link PARENT)
          VLAN_OPTIONS := id VID [protocol 802.1Q|802.1ad] [reorder_hdr|loose_binding|gvrp|mvrp|bridge_binding on|off] [ingress-qos-map PCP:PRIO …] [egress-qos-map PRIO:PCP …]   (needs link PARENT)
      link set [dev] NAME [up|down] [master BRIDGE|nomaster] [promisc on|off] [mtu N] [address MAC] [txqueuelen N] [napi_weight N] [type bridge BRIDGE_OPTIONS | type vlan VLAN_OPTIONS | type vif [rate RATE|unlimited] [window TIME]]
      link del [dev] NAME
      link show [[dev] NAME]          (-s statistics, -d details)
      fdb add MAC dev PORT [static|permanent] [vlan VID]
      fdb del MAC dev PORT [vlan VID]
      fdb show [br BRIDGE] [dev PORT]
      vlan add|del dev DEV vid VID[-VID] [pvid] [untagged] [self]      a bridge port's VLANs (self: the bridge's own)
      vlan show [dev DEV]
      addr add|del ADDR/LEN dev DEV [broadcast ADDR|+]   addr show [dev DEV]   addr flush dev DEV
      addrlabel add|del prefix PREFIX [dev DEV] label N   addrlabel list   addrlabel flush   (IPv6 source selection, RFC 6724)
                                      (IPv4 or IPv6, by the address or -4/-6 before the object: `-6 route show`)
      route add|replace|append|change|del [TYPE] PREFIX [via GW] [dev DEV] [metric N] [src ADDR] [proto P] [scope S] [table main|local|default|N] [onlink] [nexthop via GW dev DEV weight W … | nhid ID]
      route show [table main|local|default|N|all]   route get ADDR   route flush [proto P]      (TYPE: unicast local broadcast blackhole unreachable prohibit throw)
      rule add|del [not] [from PREFIX] [to PREFIX] [tos TOS] [fwmark M[/MASK]] [iif DEV] [oif DEV] [pref N] [lookup TABLE | goto N | nop | blackhole | unreachable | prohibit]   rule show   rule flush
      nexthop add|replace [id ID] { [via GW] dev DEV [onlink] | blackhole | group ID[,WEIGHT]/… } [proto P]   nexthop del|get id ID   nexthop show|flush [id ID] [dev DEV] [master DEV] [groups]
      neigh add|replace|del ADDR lladdr MAC dev DEV [nud permanent|noarp|reachable|stale]   neigh show [dev DEV]   neigh flush dev DEV
      sysctl KEY[=VALUE] …   net.ipv4.ip_forward, net.ipv4.conf.{all,default,DEV}.forwarding|rp_filter|accept_local|arp_ignore|arp_announce|send_redirects|promote_secondaries|proxy_arp,
                         net.ipv4.icmp_ratelimit|icmp_msgs_per_sec|icmp_msgs_burst|icmp_ratemask, net.ipv4.neigh.default.*,
                         net.ipv6.conf.{all,default,DEV}.forwarding|hop_limit|accept_dad|dad_transmits|optimistic_dad|use_optimistic, net.ipv6.icmp.ratelimit, net.ipv6.neigh.default.*
      qdisc add|replace|change|del dev D (root | parent X:Y) [handle H:] KIND [OPTIONS]   (tc's syntax and units)
      qdisc show [dev D]
      class add|change|replace|del dev D parent X:[Y] classid X:Y KIND [OPTIONS]
      class show dev D
      filter add|del dev D parent X: [protocol P] [prio N] (matchall|u32 match …|fw) (flowid X:Y|action drop)
      filter show dev D
      chain add|del|show|get dev D (parent X:|ingress|egress) [chain N]
      stats                           every device's counters, drop reasons and NAPI state
    """

    /// iproute2's prefix matching: `l` matches `link`; ambiguous prefixes pick the first listed.
    func match(_ word: String, _ choices: [String], what: String) throws(SluiceError) -> String {
        if let c = choices.first(where: { $0 == word }) { return c }
        if let c = choices.first(where: { $0.hasPrefix(word) }) { return c }
        throw SluiceError("Error: unknown \(what) \"\(word)\" (expected \(choices.joined(separator: ", ")))")
    }

    // MARK: argument helpers

    struct Args {
        var words: [String]
        var i = 0
        init(_ w: [String]) { words = w }
        var done: Bool { i >= words.count }
        mutating func next() -> String? { defer { i += 1 }; return i < words.count ? words[i] : nil }
        mutating func value(for key: String) throws(SluiceError) -> String {
            guard let v = next() else { throw SluiceError("Error: \"\(key)\" needs an argument") }
            return v
        }
        mutating func int(for key: String, _ range: ClosedRange<Int>) throws(SluiceError) -> Int {
            let v = try value(for: key)
            guard let n = Int(v), range.contains(n) else {
                throw SluiceError("Error: argument \"\(v)\" is wrong: \"\(key)\" takes an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return n
        }
        mutating func onOff(for key: String) throws(SluiceError) -> Bool {
            let v = try value(for: key)
            switch v {
            case "on": return true
            case "off": return false
            default: throw SluiceError("Error: argument of \"\(key)\" must be \"on\" or \"off\", not \"\(v)\"")
            }
        }
        mutating func mac(for key: String) throws(SluiceError) -> MACAddress {
            let v = try value(for: key)
            guard let m = MACAddress(parsing: v) else { throw SluiceError("Error: \"\(v)\" is not a valid MAC address (\(key))") }
            return m
        }
    }

    func device(_ name: String) throws(SluiceError) -> NetDevice {
        guard let d = dp.device(named: name) else { throw SluiceError("Cannot find device \"\(name)\"") }
        return d
    }

    // MARK: link

    func link(_ w: [String], _ opts: Options) throws(SluiceError) -> String {
        guard let verb = w.first else { return try linkShow(nil, opts) }
        var a = Args(Array(w.dropFirst()))
        switch try match(verb, ["add", "set", "delete", "show", "list"], what: "link command") {
        case "add": return try linkAdd(&a)
        case "set": return try linkSet(&a)
        case "delete":
            var name = try a.value(for: "delete")
            if name == "dev" { name = try a.value(for: "dev") }
            guard a.done else { throw SluiceError("Error: unexpected \"\(a.words[a.i])\" after link del \(name)") }
            let d = try device(name)
            // rtnl_dellink: a device without link ops (lo, teql0) cannot be deleted.
            if d.driver is LoopbackDriver || d.driver is TeqlDriver { throw SluiceError("RTNETLINK answers: Operation not supported") }
            // ip_tunnel_dellink leaves a fallback tunnel (gre0, gretap0) in place, without an error.
            if (d.driver as? GREDriver)?.fallback == true { return "" }
            try dp.deleteDevice(d)
            return ""
        default:
            var name: String? = a.next()
            if name == "dev" { name = try a.value(for: "dev") }
            return try linkShow(name, opts)
        }
    }

    struct Common { var mtu: Int?; var mac: MACAddress?; var txqlen: Int?; var weight: Int?; var up: Bool?
        var master: String??; var promisc: Bool?; var ageing: Int?; var groupFwdMask: UInt16?
        var gro: Bool?; var udpGRO: Bool?; var groMaxSize: Int?; var lro: Bool?; var lroMaxAggr: Int?; var lroMaxDesc: Int?
        var busyPoll: Int?; var gsoMaxSize: Int?; var gsoMaxSegs: Int?
        var deferHardIrqs: UInt32?; var groFlushTimeout: UInt64?
        var vlan: VLANOptions?; var bridgeVLAN = BridgeVLANOptions(); var bridge = BridgeOptions()
        var port: BridgePortChange?; var portFlush = false
        /// The device is being made (rtnl_create_link sets its MTU without ndo_change_mtu).
        var creating = false
        /// The change came as a link's slave data (`ip link set … type bridge_slave`), which
        /// ends in NETDEV_CHANGE: br_port_carrier_check enables a disabled port that is up.
        var portViaLink = false
        var allmulti: Bool?; var alias: String??; var group: UInt32?; var rename: String?
        /// Flags of InterfaceFlags.changeable to set and to clear (dev_change_flags).
        var setFlags: InterfaceFlags = [], clearFlags: InterfaceFlags = []
        var addrGenMode: NetDevice.AddrGenMode?
        mutating func flag(_ f: InterfaceFlags, _ on: Bool) {
            if on { setFlags.insert(f); clearFlags.remove(f) } else { clearFlags.insert(f); setFlags.remove(f) }
        }
        var macvlanMode: MacvlanMode?; var macvlanBcQueueLen: UInt32?
        /// A vif's new credit: bytes per window (0: unlimited) and the window in ns.
        var vifCredit: (bytes: UInt64, window: UInt64)?
        /// A GRE tunnel's new parameters (ipgre_changelink), checked.
        var gre: GREDriver.Config? }

    /// The other `type bridge` options (IFLA_BR_*): the spanning tree (STP.swift) and its
    /// settings, and `fdb_flush`.
    struct BridgeOptions {
        var forwardDelay: UInt32?, helloTime: UInt32?, maxAge: UInt32?, priority: UInt16?
        var stpState: UInt32?
        var mcastSnooping: Bool?
        var mcastQuerier: Bool?
        /// IFLA_BR_MCAST_ROUTER (br_multicast_set_router): 0, 1 or 2.
        var mcastRouter: UInt8?
        /// BR_BOOLOPT_NO_LL_LEARN (`no_linklocal_learn`, IFLA_BR_MULTI_BOOLOPT bit 0).
        var noLinkLocalLearn: Bool?
        var fdbFlush = false
        var mcast = MulticastChange()
        var isEmpty: Bool { forwardDelay == nil && helloTime == nil && maxAge == nil && priority == nil && stpState == nil && mcastSnooping == nil && mcastQuerier == nil && mcastRouter == nil && noLinkLocalLearn == nil && !fdbFlush && mcast.isEmpty }

        /// br_set_hello_time and br_set_max_age bound their values whether or not STP runs
        /// (1–10 s, 6–40 s); br_set_forward_delay only while it runs (2–30 s) — checked before
        /// `stp_state` in the same request applies, as br_changelink takes them in that order.
        func check(stpRunning: Bool = false) throws(SluiceError) {
            if let f = forwardDelay, stpRunning, !STPLimits.forwardDelay.contains(f) {
                throw SluiceError("Error: forward_delay \(f) is out of range while STP runs, 200 to 3000 centiseconds (Numerical result out of range).")
            }
            if let h = helloTime, !(100...1000).contains(h) {
                throw SluiceError("Error: hello_time \(h) is out of range, 100 to 1000 centiseconds (Numerical result out of range).")
            }
            if let m = maxAge, !(600...4000).contains(m) {
                throw SluiceError("Error: max_age \(m) is out of range, 600 to 4000 centiseconds (Numerical result out of range).")
            }
            // br_multicast_set_router takes the bridge's three types; 3 is a port's only.
            if let r = mcastRouter, r > 2 { throw SluiceError("RTNETLINK answers: Invalid argument") }
        }

        func apply(_ br: Bridge, _ dp: Datapath) {
            if let v = forwardDelay { dp.setBridgeForwardDelay(br, v) }
            if let v = helloTime { dp.setBridgeHelloTime(br, v) }
            if let v = maxAge { dp.setBridgeMaxAge(br, v) }
            if let v = stpState { dp.setSTPEnabled(br, v != 0) }
            if let v = priority, v != br.priority { dp.stpSetBridgePriority(br, v) }
            if let v = mcastSnooping, v != br.mdb.snooping {         // br_multicast_toggle
                br.mdb.snooping = v
                dp.setSnoopers(br, joined: v && br.device.isUp)
            }
            if let v = mcastRouter { br.mdb.setHostRouter(v) }         // br_multicast_set_router
            if let v = mcastQuerier { dp.setQuerier(br, v) }          // br_multicast_set_querier
            if !mcast.isEmpty { br.mdb.settings = mcast.applied(to: br.mdb.settings) }
            if let v = noLinkLocalLearn { br.noLinkLocalLearn = v }
            // br_fdb_flush with BR_FDB_STATIC in the mask: the learnt entries, on every port.
            if fdbFlush { for p in br.ports { br.fdb.flush(port: p, all: false) } }
        }
    }

    /// The `mcast_*` times and counts of a request, times in USER_HZ centiseconds as iproute2
    /// gives them (br_changelink's IFLA_BR_MCAST_*); the IGMP/MLD versions and statistics only
    /// as Sluice's querier has them.
    struct MulticastChange: Equatable {
        var lastMemberCount: UInt32?, startupQueryCount: UInt32?
        var lastMemberInterval: UInt64?, membershipInterval: UInt64?, querierInterval: UInt64?
        var queryInterval: UInt64?, queryResponseInterval: UInt64?, startupQueryInterval: UInt64?
        var queryUseIfaddr: Bool?, hashMax: UInt32?
        var isEmpty: Bool { self == MulticastChange() }

        func applied(to s: MulticastSettings) -> MulticastSettings {
            var s = s
            func j(_ cs: UInt64) -> UInt64 { MulticastSettings.jiffies(centiseconds: cs) }
            func clamped(_ cs: UInt64) -> UInt64 {
                min(max(j(cs), MulticastSettings.queryIntervalBounds.lowerBound), MulticastSettings.queryIntervalBounds.upperBound)
            }
            if let v = lastMemberCount { s.lastMemberCount = v }
            if let v = startupQueryCount { s.startupQueryCount = v }
            if let v = lastMemberInterval { s.lastMemberInterval = j(v) }
            if let v = membershipInterval { s.membershipInterval = j(v) }
            if let v = querierInterval { s.querierInterval = j(v) }
            if let v = queryInterval { s.queryInterval = clamped(v) }
            if let v = queryResponseInterval { s.queryResponseInterval = j(v) }
            if let v = startupQueryInterval { s.startupQueryInterval = clamped(v) }
            if let v = queryUseIfaddr { s.queryUseIfaddr = v }
            if let v = hashMax { s.hashMax = v }
            return s
        }

        /// br_multicast_set_igmp_version (2 or 3) and _mld_version (1 or 2); Sluice's querier
        /// speaks IGMPv2 and MLDv1 only. Statistics are not kept.
        static func checkVersions(igmp: Int?, mld: Int?, stats: Int?) throws(SluiceError) {
            if let v = igmp, v != 2 {
                if v == 3 { throw SluiceError("Error: Sluice's bridge queries with IGMPv2 only, mcast_igmp_version 2 (Operation not supported).") }
                throw SluiceError("Error: mcast_igmp_version \(v) is invalid, 2 or 3 (Invalid argument).")
            }
            if let v = mld, v != 1 {
                if v == 2 { throw SluiceError("Error: Sluice's bridge queries with MLDv1 only, mcast_mld_version 1 (Operation not supported).") }
                throw SluiceError("Error: mcast_mld_version \(v) is invalid, 1 or 2 (Invalid argument).")
            }
            if let v = stats, v != 0 { throw SluiceError("Error: Sluice's bridge keeps no multicast statistics, mcast_stats_enabled 0 only (Operation not supported).") }
        }
    }

    /// What Sluice's bridge does not have, refused rather than ignored: asking for it must not
    /// look as if it were done.
    static func refuseBridgeFeature(_ o: String, _ v: Int) throws(SluiceError) {
        guard v != 0 else { return }
        throw SluiceError("Error: Sluice's bridge has no netfilter hooks, \(o) 0 only (Operation not supported).")
    }

    /// `type vlan` options (ip-link(8); IFLA_VLAN_*).
    struct VLANOptions {
        var id: Int?
        var proto: UInt16?
        var flags: VLANFlags = []
        var mask: VLANFlags = []
        var ingress: [(from: UInt32, to: UInt32)] = []
        var egress: [(from: UInt32, to: UInt32)] = []
    }

    /// The VLAN options of `type bridge` (IFLA_BR_VLAN_*).
    struct BridgeVLANOptions {
        var filtering: Bool?
        var proto: UInt16?
        var defaultPVID: UInt16?
        var isEmpty: Bool { filtering == nil && proto == nil && defaultPVID == nil }
    }

    /// One `type vlan` option, as iproute2's vlan_parse_opt.
    func parseVLANOption(_ o: String, _ a: inout Args, _ v: inout VLANOptions) throws(SluiceError) {
        func flag(_ f: VLANFlags) throws(SluiceError) {
            v.mask.insert(f)
            if try a.onOff(for: o) { v.flags.insert(f) } else { v.flags.remove(f) }
        }
        switch o {
        case "id":
            let w = try a.value(for: "id")
            guard let n = UInt16(w) else { throw SluiceError("Error: argument \"\(w)\" is wrong: id is invalid") }
            v.id = Int(n)
        case "protocol":
            let w = try a.value(for: "protocol")
            switch w.lowercased() {
            case "802.1q": v.proto = EtherType.vlan
            case "802.1ad": v.proto = EtherType.qinq
            default: throw SluiceError("Error: argument \"\(w)\" is wrong: protocol is invalid (802.1Q or 802.1ad)")
            }
        case "reorder_hdr": try flag(.reorderHdr)
        case "gvrp": try flag(.gvrp)
        case "mvrp": try flag(.mvrp)
        case "loose_binding": try flag(.looseBinding)
        case "bridge_binding": try flag(.bridgeBinding)
        case "ingress-qos-map", "egress-qos-map":
            // parse_mapping: FROM:TO pairs until a word without ':'.
            var n = 0
            while !a.done, a.words[a.i].contains(":") {
                let pair = a.words[a.i].split(separator: ":", omittingEmptySubsequences: false)
                guard pair.count == 2, let f = UInt32(pair[0]), let t = UInt32(pair[1]) else {
                    throw SluiceError("Error: argument \"\(a.words[a.i])\" is wrong: invalid \(o)")
                }
                if o == "ingress-qos-map" { v.ingress.append((f, t)) } else { v.egress.append((f, t)) }
                a.i += 1
                n += 1
            }
            if n == 0 { throw SluiceError("Error: argument \"\(a.done ? "" : a.words[a.i])\" is wrong: invalid \(o)") }
        default: throw SluiceError("Error: \"\(o)\" is not an argument of type vlan")
        }
    }

    /// One `type bridge_slave` option of `link set` (ip-link(8)'s names; the state as a number or
    /// bridge(8)'s name).
    func parseBridgePortOption(_ o: String, _ a: inout Args, _ ch: inout BridgePortChange, _ flush: inout Bool) throws(SluiceError) {
        func onOff() throws(SluiceError) -> Bool {
            let v = try a.value(for: o)
            switch v { case "on": return true; case "off": return false
            default: throw SluiceError("Error: argument of \"\(o)\" must be \"on\" or \"off\"") }
        }
        switch o {
        case "state":
            let v = try a.value(for: o)
            if let n = UInt8(v) { ch.state = n } else if let i = BridgePortSettings.stateNames.firstIndex(of: v) { ch.state = UInt8(i) } else {
                throw SluiceError("Error: argument \"\(v)\" is wrong: state is 0-4 or disabled, listening, learning, forwarding, blocking")
            }
        case "priority": ch.priority = UInt16(try a.int(for: o, 0...65535))
        case "cost": ch.cost = UInt32(try a.int(for: o, 0...Int(UInt32.max)))
        case "learning": ch.flag(.learning, try onOff())
        case "flood": ch.flag(.flood, try onOff())
        case "mcast_flood": ch.flag(.mcastFlood, try onOff())
        case "bcast_flood": ch.flag(.bcastFlood, try onOff())
        case "hairpin": ch.flag(.hairpin, try onOff())
        case "isolated": ch.flag(.isolated, try onOff())
        case "locked": ch.flag(.locked, try onOff())
        case "backup_port":
            let n = try a.value(for: o)
            guard let d = dp.device(named: n) else { throw SluiceError("Error: Device does not exist: \(n)") }
            ch.backupPort = d.ifindex
        case "nobackup_port": ch.backupPort = 0
        case "guard": ch.flag(.guard_, try onOff())
        case "root_block": ch.flag(.rootBlock, try onOff())
        case "fastleave", "mcast_fast_leave": ch.flag(.fastLeave, try onOff())
        case "mcast_router": ch.mcastRouter = UInt8(try a.int(for: o, 0...255))
        case "flush": flush = true
        case "proxy_arp": ch.flag(.proxyArp, try onOff())
        case "proxy_arp_wifi": ch.flag(.proxyArpWifi, try onOff())
        case "neigh_suppress": ch.flag(.neighSuppress, try onOff())
        case "mcast_to_unicast": ch.flag(.mcastToUnicast, try onOff())
        case "vlan_tunnel", "mab", "learning_sync", "neigh_vlan_suppress":
            if try onOff() { throw SluiceError("Error: Sluice's bridge ports do not support \(o) (Operation not supported).") }
        default: throw SluiceError("Error: \"\(o)\" is not an argument of type bridge_slave")
        }
    }

    /// One `type bridge` option of `link add`/`link set` (ip-link(8) names and units).
    func parseBridgeOption(_ o: String, _ a: inout Args, _ c: inout Common) throws(SluiceError) {
        switch o {
        case "ageing_time": c.ageing = try a.int(for: o, 0...Int(Int32.max))
        case "group_fwd_mask":
            // get_u16 with base 0, as iproute2: 0x… hex, 0… octal, else decimal.
            let v = try a.value(for: o)
            let parsed: UInt16? = v.hasPrefix("0x") || v.hasPrefix("0X") ? UInt16(v.dropFirst(2), radix: 16)
                : (v.count > 1 && v.hasPrefix("0") ? UInt16(v.dropFirst(), radix: 8) : UInt16(v))
            guard let m = parsed else { throw SluiceError("Error: argument \"\(v)\" is wrong: invalid group_fwd_mask") }
            guard m & Bridge.groupFwdRestricted == 0 else {
                throw SluiceError("Error: group_fwd_mask \(v) includes restricted group addresses (bits 0-2: STP, MAC control, LACP are never forwarded).")
            }
            c.groupFwdMask = m
        case "vlan_filtering":
            let v = try a.int(for: o, 0...1)
            c.bridgeVLAN.filtering = v == 1
        case "vlan_protocol":
            let w = try a.value(for: o)
            switch w.lowercased() {
            case "802.1q": c.bridgeVLAN.proto = EtherType.vlan
            case "802.1ad": c.bridgeVLAN.proto = EtherType.qinq
            default: throw SluiceError("Error: argument \"\(w)\" is wrong: vlan_protocol is invalid (802.1Q or 802.1ad)")
            }
        case "vlan_default_pvid": c.bridgeVLAN.defaultPVID = UInt16(try a.int(for: o, 0...4094))
        case "forward_delay": c.bridge.forwardDelay = UInt32(try a.int(for: o, 0...Int(UInt32.max)))
        case "hello_time": c.bridge.helloTime = UInt32(try a.int(for: o, 0...Int(UInt32.max)))
        case "max_age": c.bridge.maxAge = UInt32(try a.int(for: o, 0...Int(UInt32.max)))
        case "priority": c.bridge.priority = UInt16(try a.int(for: o, 0...65535))
        case "fdb_flush": c.bridge.fdbFlush = true
        case "stp_state": c.bridge.stpState = UInt32(try a.int(for: o, 0...Int(UInt32.max)))
        case "mcast_snooping": c.bridge.mcastSnooping = try a.int(for: o, 0...255) != 0
        case "mcast_querier": c.bridge.mcastQuerier = try a.int(for: o, 0...255) != 0
        case "mcast_router": c.bridge.mcastRouter = UInt8(try a.int(for: o, 0...255))
        case "no_linklocal_learn": c.bridge.noLinkLocalLearn = try a.int(for: o, 0...255) != 0
        case "mcast_last_member_count": c.bridge.mcast.lastMemberCount = UInt32(try a.int(for: o, 0...Int(UInt32.max)))
        case "mcast_startup_query_count": c.bridge.mcast.startupQueryCount = UInt32(try a.int(for: o, 0...Int(UInt32.max)))
        case "mcast_last_member_interval": c.bridge.mcast.lastMemberInterval = UInt64(try a.int(for: o, 0...Int.max))
        case "mcast_membership_interval": c.bridge.mcast.membershipInterval = UInt64(try a.int(for: o, 0...Int.max))
        case "mcast_querier_interval": c.bridge.mcast.querierInterval = UInt64(try a.int(for: o, 0...Int.max))
        case "mcast_query_interval": c.bridge.mcast.queryInterval = UInt64(try a.int(for: o, 0...Int.max))
        case "mcast_query_response_interval": c.bridge.mcast.queryResponseInterval = UInt64(try a.int(for: o, 0...Int.max))
        case "mcast_startup_query_interval": c.bridge.mcast.startupQueryInterval = UInt64(try a.int(for: o, 0...Int.max))
        case "mcast_query_use_ifaddr": c.bridge.mcast.queryUseIfaddr = try a.int(for: o, 0...255) != 0
        case "mcast_hash_max": c.bridge.mcast.hashMax = UInt32(try a.int(for: o, 0...Int(UInt32.max)))
        case "mcast_hash_elasticity": _ = try a.int(for: o, 0...Int(UInt32.max))    // deprecated: ignored, as the kernel does
        case "mcast_igmp_version": try MulticastChange.checkVersions(igmp: try a.int(for: o, 0...255), mld: nil, stats: nil)
        case "mcast_mld_version": try MulticastChange.checkVersions(igmp: nil, mld: try a.int(for: o, 0...255), stats: nil)
        case "mcast_stats_enabled": try MulticastChange.checkVersions(igmp: nil, mld: nil, stats: try a.int(for: o, 0...255))
        case "nf_call_iptables", "nf_call_ip6tables", "nf_call_arptables":
            try Self.refuseBridgeFeature(o, try a.int(for: o, 0...Int(UInt32.max)))
        default: throw SluiceError("Error: \"\(o)\" is not an argument of type bridge")
        }
    }

    /// Parses the attributes common to `link add` and `link set`, until `type` or the end.
    func parseCommon(_ a: inout Args, _ c: inout Common, allowState: Bool) throws(SluiceError) -> Bool {
        guard let k = a.next() else { return false }
        switch k {
        case "mtu": c.mtu = try a.int(for: "mtu", 0...Int(Int32.max))
        case "address": c.mac = try a.mac(for: "address")
            if c.mac!.isMulticast || c.mac!.isZero { throw SluiceError("Error: address \(c.mac!) is not a unicast address") }
        case "txqueuelen", "qlen", "txqlen": c.txqlen = try a.int(for: k, 0...1_000_000)
        case "napi_weight", "weight": c.weight = try a.int(for: k, 1...PacketBatch.capacity)
        case "gro": c.gro = try a.onOff(for: k)
        case "rx-udp-gro-forwarding", "udp_gro_forwarding": c.udpGRO = try a.onOff(for: k)
        case "gro_max_size": c.groMaxSize = try a.int(for: k, 0...65536)
        case "busy_poll": c.busyPoll = try a.int(for: k, 0...1_000_000)
        // /sys/class/net/DEV/napi_defer_hard_irqs takes 0…S32_MAX; gro_flush_timeout
        // nanoseconds (the sysfs file takes any unsigned long).
        case "napi_defer_hard_irqs": c.deferHardIrqs = UInt32(try a.int(for: k, 0...Int(Int32.max)))
        case "gro_flush_timeout": c.groFlushTimeout = UInt64(try a.int(for: k, 0...Int.max))
        case "gso_max_size": c.gsoMaxSize = try a.int(for: k, 0...65536)
        case "gso_max_segs": c.gsoMaxSegs = try a.int(for: k, 0...65535)
        case "lro": c.lro = try a.onOff(for: k)
        case "lro_max_aggr": c.lroMaxAggr = try a.int(for: k, 1...64)
        case "lro_max_desc": c.lroMaxDesc = try a.int(for: k, 1...8)
        case "up" where allowState: c.up = true
        case "down" where allowState: c.up = false
        case "name" where allowState: c.rename = try a.value(for: "name")
        case "master" where allowState: c.master = .some(try a.value(for: "master"))
        case "nomaster" where allowState: c.master = .some(nil)
        case "promisc" where allowState: c.promisc = try a.onOff(for: "promisc")
        case "arp" where allowState: c.flag(.noARP, !(try a.onOff(for: k)))
        case "multicast" where allowState: c.flag(.multicast, try a.onOff(for: k))
        case "dynamic" where allowState: c.flag(.dynamic, try a.onOff(for: k))
        case "trailers" where allowState: c.flag(.noTrailers, !(try a.onOff(for: k)))
        case "addrgenmode" where allowState:
            switch try a.value(for: k) {
            case "eui64": c.addrGenMode = .eui64
            case "none": c.addrGenMode = NetDevice.AddrGenMode.none
            case "random": c.addrGenMode = .random
            case "stable_secret": throw SluiceError("Error: addrgenmode stable_secret needs a stable_secret, which Sluice does not keep (Invalid argument)")
            case let v: throw SluiceError("Error: argument \"\(v)\" is wrong: addrgenmode")
            }
        case "allmulticast" where allowState: c.allmulti = try a.onOff(for: k)
        case "alias" where allowState:
            let v = try a.value(for: k)
            guard v.utf8.count < 256 else { throw SluiceError("Error: alias is longer than 255 bytes") }
            c.alias = .some(v.isEmpty ? nil : v)
        case "group" where allowState:
            let v = try a.value(for: k)
            guard let g = v == "default" ? 0 : UInt32(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: invalid group") }
            c.group = g
        case "arp", "multicast", "dynamic", "trailers", "carrier", "protodown", "netns", "xdp", "xdpgeneric", "xdpdrv", "xdpoffload", "vf":
            throw SluiceError("Error: \"\(k)\" is not supported by Sluice's devices")
        default: a.i -= 1; return false
        }
        return true
    }

    func linkAdd(_ a: inout Args) throws(SluiceError) -> String {
        // ip link add [link PARENT] [name] NAME [attributes] type TYPE [options]
        var nameArg: String?
        var linkParent: String?
        var c = Common()
        var queues: (tx: Int?, rx: Int?) = (nil, nil)
        while !a.done && a.words[a.i] != "type" {
            let w = a.words[a.i]
            if w == "link" { a.i += 1; linkParent = try a.value(for: "link"); continue }
            if w == "numtxqueues" || w == "numrxqueues" {
                // rtnl_create_link's bounds, in its words.
                a.i += 1
                let v = try a.value(for: w)
                guard let n = UInt32(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: Invalid \"\(w)\" value") }
                guard (1...4096).contains(n) else {
                    throw SluiceError("Error: Invalid number of \(w == "numtxqueues" ? "transmit" : "receive") queues.")
                }
                if w == "numtxqueues" { queues.tx = Int(n) } else { queues.rx = Int(n) }
                continue
            }
            if w == "name" || w == "dev" { a.i += 1; nameArg = try a.value(for: w); continue }
            if try parseCommon(&a, &c, allowState: false) { continue }
            guard nameArg == nil else { throw SluiceError("Error: unknown link attribute \"\(w)\"") }
            a.i += 1
            nameArg = w
        }
        guard let name = nameArg else { throw SluiceError("Error: link add: a device name is required") }
        guard let t = a.next() else { throw SluiceError("Error: link add \(name): \"type\" is required (tap, afpacket, afxdp, pcap, vif, bridge, dummy, veth, vlan, macvlan, vxlan, gre, gretap, ifb, vrf)") }
        guard t == "type" else { throw SluiceError("Error: unknown link attribute \"\(t)\"") }
        let kind = try a.value(for: "type")
        var vnet = true
        var kdev: String?
        var input: String?, output: String?
        var peerName: String?
        var rxMode = PacketSocketDriver.RxMode.mmsg
        var hostQlen: Int?
        var tapTxUring = true, tapRxUring = true, tapQueues = 1
        var xdpQueue: UInt32 = 0
        var xdpMode = XDPDriver.Mode.auto
        var xdpRxRing = XDPDriver.defaultRxRing
        var xdpMultiBuffer = true
        var macvlanMode = MacvlanMode.vepa
        var vrfTableID: UInt32?
        // A vif's guest-tx rate (xl's `rate=RATE@INTERVAL`, 50 ms unless given).
        var vifRate: UInt64 = 0, vifWindow: UInt64 = 50_000_000
        var vx = (vni: UInt32?.none, remote: UInt32(0), local: UInt32(0), port: UInt16(8472), ttl: UInt8(0), tos: UInt8(0), csum: true,
                  src: (UInt16, UInt16)?.none, dev: String?.none, external: false)
        var gre = GREDriver.Config(tap: kind == "gretap")
        var greDev: String?
        func v4(_ k: String, _ a: inout Args) throws(SluiceError) -> UInt32 {
            let v = try a.value(for: k)
            guard !v.contains("/"), let ip = try? parseV4(v) else { throw SluiceError("Error: vxlan: \"\(k)\" must be an IPv4 address, not \"\(v)\" (IPv6 underlays are not implemented in Sluice)") }
            return ip.0
        }
        while let k = a.next() {
            if kind == "gre" || kind == "gretap", try parseGREOption(k, &a, &gre, dev: &greDev) { continue }
            switch (kind, k) {
            case ("vxlan", "id"), ("vxlan", "vni"): vx.vni = UInt32(try a.int(for: k, 0...16_777_215))
            case ("vxlan", "remote"): vx.remote = try v4(k, &a)
            case ("vxlan", "local"): vx.local = try v4(k, &a)
            case ("vxlan", "dstport"): vx.port = UInt16(try a.int(for: k, 0...65535)); if vx.port == 0 { vx.port = 8472 }
            case ("vxlan", "ttl"), ("vxlan", "hoplimit"):
                let v = try a.value(for: k)
                if v == "auto" || v == "inherit" { vx.ttl = 0 } else { guard let n = UInt8(v), n > 0 else { throw SluiceError("Error: vxlan: invalid TTL \"\(v)\"") }; vx.ttl = n }
            case ("vxlan", "tos"):
                let v = try a.value(for: k)
                if v == "inherit" { throw SluiceError("Error: vxlan: tos inherit is not implemented in Sluice") }
                guard let n = UInt8(v.hasPrefix("0x") ? String(v.dropFirst(2)) : v, radix: v.hasPrefix("0x") ? 16 : 10) else { throw SluiceError("Error: vxlan: invalid TOS \"\(v)\"") }
                vx.tos = n
            case ("vxlan", "srcport"):
                let lo = try a.int(for: "srcport", 0...65535), hi = try a.int(for: "srcport", 0...65535)
                guard lo < hi else { throw SluiceError("Error: vxlan: srcport range must have MIN < MAX") }
                vx.src = (UInt16(lo), UInt16(hi))
            case ("vxlan", "udpcsum"): vx.csum = true
            case ("vxlan", "noudpcsum"): vx.csum = false
            case ("vxlan", "dev"): vx.dev = try a.value(for: k)
            case ("vxlan", "nolearning"), ("vxlan", "learning"): break      // no per-MAC remotes: nothing to learn
            case ("vxlan", "external"): vx.external = true
            case ("vxlan", "noexternal"): vx.external = false
            case ("vxlan", "group"), ("vxlan", "gbp"), ("vxlan", "gpe"), ("vxlan", "proxy"), ("vxlan", "l2miss"), ("vxlan", "l3miss"):
                throw SluiceError("Error: vxlan \"\(k)\" is not implemented in Sluice (a unicast remote only)")
            case ("tap", "vnet_hdr"), ("afpacket", "vnet_hdr"): vnet = try a.onOff(for: k)
            case ("tap", "host_txqueuelen"): hostQlen = try a.int(for: k, 1...100_000)
            case ("tap", "queues"): tapQueues = try a.int(for: k, 1...TapDriver.maxQueues)
            case ("tap", "tx"):
                let v = try a.value(for: "tx")
                guard let m = TapDriver.TxMode(rawValue: v) else { throw SluiceError("Error: tx must be uring or write, not \"\(v)\"") }
                tapTxUring = m == .uring
            case ("tap", "rx"):
                let v = try a.value(for: "rx")
                guard let m = TapDriver.RxMode(rawValue: v) else { throw SluiceError("Error: rx must be uring or read, not \"\(v)\"") }
                tapRxUring = m == .uring
            case ("afxdp", "dev"): kdev = try a.value(for: "dev")
            case ("afxdp", "queue"): xdpQueue = UInt32(try a.int(for: "queue", 0...65535))
            case ("afxdp", "mode"):
                let v = try a.value(for: "mode")
                guard let m = XDPDriver.Mode(rawValue: v) else { throw SluiceError("Error: mode must be auto, copy or zerocopy, not \"\(v)\"") }
                xdpMode = m
            case ("afxdp", "multibuffer"): xdpMultiBuffer = try a.onOff(for: k)
            case ("afxdp", "rx_ring"):
                let n = try a.int(for: "rx_ring", 64...2048)
                guard n & (n - 1) == 0 else { throw SluiceError("Error: rx_ring must be a power of two from 64 to 2048, not \(n)") }
                xdpRxRing = UInt32(n)
            case ("afpacket", "dev"): kdev = try a.value(for: "dev")
            case ("afpacket", "rx"):
                let v = try a.value(for: "rx")
                guard let m = PacketSocketDriver.RxMode(rawValue: v) else { throw SluiceError("Error: rx must be ring or mmsg, not \"\(v)\"") }
                rxMode = m
            case ("vif", "rate"), ("vif", "window"):
                var r: UInt64? = vifRate, w: UInt64? = vifWindow
                try parseVifOption(k, &a, rate: &r, window: &w)
                vifRate = r ?? 0; vifWindow = w ?? vifWindow
            case ("vrf", "table"):
                // iproute2's vrf_parse_opt: a table id or a name from rt_tables.
                let v = try a.value(for: k)
                guard let t = Self.tableID(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: invalid table ID") }
                vrfTableID = t
            case ("pcap", "in"): input = try a.value(for: "in")
            case ("pcap", "out"): output = try a.value(for: "out")
            case ("veth", "peer"):
                if a.i < a.words.count && a.words[a.i] == "name" { a.i += 1 }
                peerName = try a.value(for: "peer name")
            case ("bridge", _): try parseBridgeOption(k, &a, &c)
            case ("macvlan", "mode"):
                let v = try a.value(for: "mode")
                guard let m = MacvlanMode(name: v) else {
                    throw SluiceError(v == "passthru" || v == "source" ? "Error: macvlan mode \(v) is not implemented in Sluice" : "Error: argument of \"mode\" must be \"private\", \"vepa\", \"bridge\", \"passthru\" or \"source\"")
                }
                macvlanMode = m
            case ("macvlan", "bcqueuelen"): c.macvlanBcQueueLen = UInt32(try a.int(for: k, 0...Int(UInt32.max)))
            case ("vlan", _):
                var v = c.vlan ?? VLANOptions()
                try parseVLANOption(k, &a, &v)
                c.vlan = v
            default: throw SluiceError("Error: \"\(k)\" is not an argument of type \(kind)")
            }
        }
        if linkParent != nil && kind != "vlan" && kind != "macvlan" { throw SluiceError("Error: \"link\" applies only to stacked devices (type vlan, macvlan)") }
        guard dp.device(named: name) == nil else { throw SluiceError("Error: device \"\(name)\" already exists") }
        guard name.utf8.count <= 15, !name.isEmpty, !name.contains("/") else {
            throw SluiceError("Error: \"\(name)\" is not a valid device name (1-15 bytes, no '/')")
        }
        // rtnl_create_link's dev_validate_mtu, against the new kind's bounds.
        if let m = c.mtu {
            let b = NetDevice.mtuBounds(kind: kind)
            if m < b.min { throw SluiceError("Error: mtu less than device minimum (Invalid argument).") }
            if b.max > 0 && m > b.max { throw SluiceError("Error: mtu greater than device maximum (Invalid argument).") }
        }
        let dev: NetDevice
        switch kind {
        case "tap": dev = try dp.addTap(name: name, vnet: vnet, mac: c.mac, mtu: c.mtu ?? 1500, hostTxQueueLen: hostQlen, txUring: tapTxUring, rxUring: tapRxUring, queues: tapQueues)
        case "afpacket":
            guard let kdev else { throw SluiceError("Error: type afpacket needs \"dev KERNEL_IFNAME\"") }
            dev = try dp.addPacketSocket(name: name, kernelInterface: kdev, vnet: vnet, rxMode: rxMode)
        case "afxdp":
            guard let kdev else { throw SluiceError("Error: type afxdp needs \"dev KERNEL_IFNAME\"") }
            dev = try dp.addXDP(name: name, kernelInterface: kdev, queue: xdpQueue, mode: xdpMode, rxRing: xdpRxRing, multiBuffer: xdpMultiBuffer)
        case "pcap": dev = try dp.addPcap(name: name, input: input, output: output)
        case "dummy": dev = try dp.addDummy(name: name, mac: c.mac)
        case "vrf":
            guard let t = vrfTableID else { throw SluiceError("Error: VRF table id is missing (Invalid argument).") }
            dev = try dp.addVRF(name: name, table: t, mac: c.mac, mtu: c.mtu)
        case "vxlan":
            if vx.external && vx.vni != nil { throw SluiceError("Error: vxlan: both 'external' and vni cannot be specified") }
            guard let vni = vx.vni ?? (vx.external ? 0 : nil) else { throw SluiceError("Error: vxlan: \"id\" is required") }
            var under: NetDevice?
            if let n = vx.dev { guard let d = dp.device(named: n) else { throw SluiceError("Error: vxlan: Cannot find device \"\(n)\"") }; under = d }
            dev = try dp.addVXLAN(name: name, vni: vni, remote: vx.remote, local: vx.local, port: vx.port, ttl: vx.ttl, tos: vx.tos,
                                  udpCsum: vx.csum, srcPorts: vx.src, link: under, mac: c.mac, mtu: c.mtu, external: vx.external)
        case "gre", "gretap":
            if let n = greDev { guard let d = dp.device(named: n) else { throw SluiceError("Error: gre: Cannot find device \"\(n)\"") }; gre.link = d.ifindex }
            if gre.ttl != 0 && !gre.pmtudisc { throw SluiceError("Error: gre: nopmtudisc needs ttl inherit (Invalid argument).") }
            dev = try dp.addGRE(name: name, config: gre, mac: kind == "gretap" ? c.mac : nil, mtu: c.mtu)
        case "ifb": dev = try dp.addIFB(name: name, mac: c.mac, mtu: c.mtu ?? 1500)
        case "vif":
            dev = try dp.addVif(name: name, mac: c.mac, mtu: c.mtu ?? 1500)
            if vifRate != 0, let v = dev.driver as? VifDriver {
                // xen_net_read_rate: bytes per window; the window in whole microseconds.
                let window = vifWindow / 1000 * 1000
                v.setRate(bytes: VifDriver.creditBytes(bps: vifRate, window: window), window: window, now: dp.clock.now)
            }
        case "veth":
            guard let peerName else { throw SluiceError("Error: type veth needs \"peer name NAME\"") }
            dev = try dp.addVethPair(name: name, peer: peerName, mtu: c.mtu ?? 1500, queues: queues).0
        case "bridge":
            let br = try dp.addBridge(name: name, mac: c.mac)
            if let ag = c.ageing { br.setAgeingTime(Bridge.jiffyNs(ag)); dp.scheduleBridgeGC(br, at: dp.clock.now) }
            if let m = c.groupFwdMask { try br.setGroupFwdMask(m) }
            do { try c.bridge.check() } catch { try? dp.deleteDevice(br.device); throw error }
            c.bridge.apply(br, dp)
            dev = br.device
            if !c.bridgeVLAN.isEmpty {
                do { try checkBridgeVLAN(br, c.bridgeVLAN) } catch { try? dp.deleteDevice(dev); throw error }
                applyBridgeVLAN(br, c.bridgeVLAN)
            }
        case "vlan":
            // vlan_newlink's checks, in its order.
            guard let v = c.vlan, let id = v.id else { throw SluiceError("Error: 8021q: VLAN id not specified") }
            guard let linkParent else { throw SluiceError("Error: 8021q: link not specified") }
            guard let parent = dp.device(named: linkParent) else { throw SluiceError("Error: 8021q: link does not exist") }
            dev = try dp.addVLAN(name: name, parent: parent, id: id, proto: v.proto ?? EtherType.vlan, mtu: c.mtu, mac: c.mac)
            applyVLANOptions(dev, v)
        case "macvlan":
            guard let linkParent else { throw SluiceError("Error: macvlan: link not specified") }
            guard let lower = dp.device(named: linkParent) else { throw SluiceError("Error: macvlan: link does not exist") }
            dev = try dp.addMacvlan(name: name, lower: lower, mode: macvlanMode, mac: c.mac, mtu: c.mtu)
            if let n = c.macvlanBcQueueLen { (dev.driver as? MacvlanDriver)?.bcQueueLen = n }
        default: throw SluiceError("Error: unknown link type \"\(kind)\" (expected tap, afpacket, afxdp, pcap, bridge, dummy, veth, vlan, macvlan, vxlan, gre, gretap, ifb, vif, vrf)")
        }
        if let m = c.mtu { dev.mtu = m }
        if let m = c.mac, kind != "bridge", kind != "tap" { dev.mac = m; dp.vlanDriver(dev)?.inheritsAddress = false }
        if let q = c.txqlen { dev.txQueueLen = q }
        if kind != "veth" { dp.setQueueCounts(dev, tx: queues.tx, rx: queues.rx) }
        return ""
    }

    func linkSet(_ a: inout Args) throws(SluiceError) -> String {
        var name = try a.value(for: "set")
        if name == "dev" { name = try a.value(for: "dev") }
        let dev = try device(name)
        var c = Common()
        while !a.done {
            if try parseCommon(&a, &c, allowState: true) { continue }
            let k = a.next()!
            guard k == "type" else { throw SluiceError("Error: unknown link attribute \"\(k)\"") }
            let kind = try a.value(for: "type")
            switch kind {
            case "bridge" where dp.bridge(dev) != nil:
                while let o = a.next() { try parseBridgeOption(o, &a, &c) }
            case "vlan" where dp.vlanDriver(dev) != nil:
                var v = VLANOptions()
                while let o = a.next() { try parseVLANOption(o, &a, &v) }
                c.vlan = v
            case "macvlan" where dev.driver is MacvlanDriver:
                while let o = a.next() {
                    if o == "bcqueuelen" { c.macvlanBcQueueLen = UInt32(try a.int(for: o, 0...Int(UInt32.max))); continue }
                    guard o == "mode" else { throw SluiceError("Error: \"\(o)\" is not an argument of type macvlan") }
                    let v = try a.value(for: "mode")
                    guard let m = MacvlanMode(name: v) else {
                        throw SluiceError(v == "passthru" || v == "source" ? "Error: macvlan mode \(v) is not implemented in Sluice" : "Error: argument of \"mode\" must be \"private\", \"vepa\", \"bridge\", \"passthru\" or \"source\"")
                    }
                    c.macvlanMode = m
                }
            case "vif" where dev.driver is VifDriver:
                // xen_net_rate_changed: the toolstack rewrites `rate`; the window stays unless given.
                let v = dev.driver as! VifDriver
                var r: UInt64? = nil, w: UInt64? = nil
                while let o = a.next() {
                    guard o == "rate" || o == "window" else { throw SluiceError("Error: \"\(o)\" is not an argument of type vif") }
                    try parseVifOption(o, &a, rate: &r, window: &w)
                }
                c.vifCredit = try v.credit(rate: r, window: w)
            case "gre" where (dev.driver as? GREDriver).map({ !$0.config.tap }) ?? false,
                 "gretap" where (dev.driver as? GREDriver)?.config.tap ?? false:
                // ipgre_changelink, from the tunnel's present parameters.
                var g = (dev.driver as! GREDriver).config
                var under: String? = nil
                while let o = a.next() {
                    guard try parseGREOption(o, &a, &g, dev: &under) else { throw SluiceError("Error: \"\(o)\" is not an argument of type \(kind)") }
                }
                if let n = under { guard let d = dp.device(named: n) else { throw SluiceError("Error: gre: Cannot find device \"\(n)\"") }; g.link = d.ifindex }
                try dp.checkGREChange(dev, g)
                c.gre = g
            case "bridge_slave":
                var ch = c.port ?? BridgePortChange()
                while let o = a.next() { try parseBridgePortOption(o, &a, &ch, &c.portFlush) }
                c.port = ch
                c.portViaLink = true
            default: throw SluiceError("Error: \(name) is not of type \(kind)")
            }
        }
        try applyLinkSet(dev, c)
        return ""
    }

    /// One of `type gre|gretap`'s words (link_gre.c's): false when `k` is not one.
    func parseGREOption(_ k: String, _ a: inout Args, _ gre: inout GREDriver.Config, dev: inout String?) throws(SluiceError) -> Bool {
        typealias C = GREDriver.Config
        func v4(_ k: String) throws(SluiceError) -> UInt32 {
            let v = try a.value(for: k)
            guard !v.contains("/"), let ip = try? parseV4(v) else { throw SluiceError("Error: gre: \"\(k)\" must be an IPv4 address, not \"\(v)\" (IPv6 underlays are not implemented in Sluice)") }
            return ip.0
        }
        /// iproute2's get_be32 for keys: a number or a dotted quad.
        func key(_ k: String) throws(SluiceError) -> UInt32 {
            let v = try a.value(for: k)
            if let n = UInt32(v) { return n }
            if v.contains("."), let ip = try? parseV4(v) { return ip.0 }
            throw SluiceError("Error: gre: invalid key \"\(v)\"")
        }
        switch k {
        case "remote": gre.remote = try v4(k)
        case "local":
            if a.i < a.words.count && a.words[a.i] == "any" { _ = a.next(); gre.local = 0 } else { gre.local = try v4(k) }
        case "key":
            let n = try key(k); gre.ikey = n; gre.okey = n
            gre.iflags |= C.key; gre.oflags |= C.key
        case "ikey": gre.ikey = try key(k); gre.iflags |= C.key
        case "okey": gre.okey = try key(k); gre.oflags |= C.key
        case "csum": gre.iflags |= C.csum; gre.oflags |= C.csum
        case "icsum": gre.iflags |= C.csum
        case "ocsum": gre.oflags |= C.csum
        case "seq": gre.iflags |= C.seq; gre.oflags |= C.seq
        case "iseq": gre.iflags |= C.seq
        case "oseq": gre.oflags |= C.seq
        case "nocsum": gre.iflags &= ~C.csum; gre.oflags &= ~C.csum
        case "noicsum": gre.iflags &= ~C.csum
        case "noocsum": gre.oflags &= ~C.csum
        case "noseq": gre.iflags &= ~C.seq; gre.oflags &= ~C.seq
        case "noiseq": gre.iflags &= ~C.seq
        case "nooseq": gre.oflags &= ~C.seq
        case "nokey": gre.iflags &= ~C.key; gre.oflags &= ~C.key; gre.ikey = 0; gre.okey = 0
        case "noikey": gre.iflags &= ~C.key; gre.ikey = 0
        case "nookey": gre.oflags &= ~C.key; gre.okey = 0
        case "ttl", "hoplimit":
            let v = try a.value(for: k)
            if v == "inherit" { gre.ttl = 0 } else { guard let n = UInt8(v), n > 0 else { throw SluiceError("Error: gre: invalid TTL \"\(v)\"") }; gre.ttl = n }
        case "tos", "dsfield":
            let v = try a.value(for: k)
            if v == "inherit" { gre.tos = 1 } else {
                guard let n = UInt8(v.hasPrefix("0x") ? String(v.dropFirst(2)) : v, radix: v.hasPrefix("0x") ? 16 : 10) else { throw SluiceError("Error: gre: invalid TOS \"\(v)\"") }
                gre.tos = n
            }
        case "pmtudisc": gre.pmtudisc = true
        case "nopmtudisc": gre.pmtudisc = false
        case "dev": dev = try a.value(for: k)
        default: return false
        }
        return true
    }

    /// A vif's `rate RATE` (tc's units; `unlimited` lifts it, as no `rate` node in XenStore)
    /// or `window TIME` (xl's `@INTERVAL`: 1 µs to 10 s).
    func parseVifOption(_ o: String, _ a: inout Args, rate: inout UInt64?, window: inout UInt64?) throws(SluiceError) {
        let v = try a.value(for: o)
        if o == "rate" {
            if v == "unlimited" { rate = 0; return }
            guard let r = TcUnits.rate(v), r >= 8 else { throw SluiceError("Error: vif: invalid rate \"\(v)\" (tc's units: 10mbit, 1gbit, ...; or unlimited)") }
            rate = r
        } else {
            guard let t = TcUnits.time(v), t >= 1_000, t <= 10_000_000_000 else { throw SluiceError("Error: vif: invalid window \"\(v)\" (1us to 10s)") }
            window = t
        }
    }

    /// do_setlink for one device: validates everything, then applies in order and undoes
    /// what was applied if a later step fails (both syntaxes use it).
    func applyLinkSet(_ dev: NetDevice, _ c: Common) throws(SluiceError) {
        let name = dev.name
        // Validate everything before changing anything.
        var newMaster: NetDevice?
        if case .some(.some(let m)) = c.master {
            let md = try device(m)
            guard dp.bridge(md) != nil || dp.vrfTable(md) != nil else { throw SluiceError("Error: \(m) is not a bridge or a VRF") }
            if dp.vrfTable(md) != nil {
                try dp.checkVRFSlave(dev)
            } else {
                // br_add_if: no loopback (or other non-Ethernet) device, then no bridge, itself included.
                if dev.flags.contains(.loopback) { throw SluiceError("RTNETLINK answers: Invalid argument") }
                guard dp.bridge(dev) == nil else { throw SluiceError("Error: Can not enslave a bridge to a bridge (Too many levels of symbolic links).") }
                if dp.vrfTable(dev) != nil { throw SluiceError("RTNETLINK answers: Invalid argument") }   // IFF_NO_RX_HANDLER
            }
            newMaster = md
        }
        if (c.ageing != nil || c.groupFwdMask != nil || !c.bridgeVLAN.isEmpty || !c.bridge.isEmpty) && dp.bridge(dev) == nil {
            throw SluiceError("Error: \(name) is not a bridge")
        }
        try c.bridge.check(stpRunning: dp.bridge(dev)?.stp.enabled ?? false)
        if c.port != nil || c.portFlush {
            guard dev.master != 0, let br = dp.bridges[dev.master] else { throw SluiceError("Error: \(name) is not a bridge port") }
            try c.port?.check(dev, stpRunning: br.stp.enabled)
            // nbp_backup_change: a port of the same bridge, not the port itself.
            if let b = c.port?.backupPort, b != 0 {
                guard let bd = dp.device(b), bd.master != 0, dp.bridges[bd.master] != nil else { throw SluiceError("RTNETLINK answers: No such file or directory") }
                guard bd.master == br.device.ifindex, bd !== dev else { throw SluiceError("RTNETLINK answers: Invalid argument") }
            }
        }
        if let br = dp.bridge(dev) { try checkBridgeVLAN(br, c.bridgeVLAN) }
        if let v = c.vlan {
            guard let drv = dp.vlanDriver(dev) else { throw SluiceError("Error: \(name) is not of type vlan") }
            if let id = v.id, id != Int(drv.vid) { throw SluiceError("Error: 8021q: the VLAN id of \(name) cannot be changed (delete and add it again)") }
            if let p = v.proto, p != drv.proto { throw SluiceError("Error: 8021q: the VLAN protocol of \(name) cannot be changed (delete and add it again)") }
        }
        if let m = c.mtu, let lowerIndex = dp.vlanDriver(dev)?.parent ?? (dev.driver as? MacvlanDriver)?.lower,
           let parent = dp.device(lowerIndex), m > parent.mtu {
            throw SluiceError("Error: mtu \(m) is greater than the parent's (\(parent.name): \(parent.mtu)) (Numerical result out of range).")
        }
        if let m = c.mtu, dev.kind == "afpacket", m > 65535 { throw SluiceError("Error: mtu \(m) too large") }
        // dev_validate_mtu.
        if let m = c.mtu {
            let b = dev.mtuBounds
            if m < b.min { throw SluiceError("Error: mtu less than device minimum (Invalid argument).") }
            if b.max > 0 && m > b.max { throw SluiceError("Error: mtu greater than device maximum (Invalid argument).") }
            if let t = dev.driver as? TeqlDriver { try t.checkMTU(dp, m) }
        }
        if let n = c.rename, n != dev.name, dp.device(named: n) != nil { throw SluiceError("Error: device \(n) already exists (File exists)") }
        // Apply, undoing on failure.
        let mtuBefore = dev.mtu, macBefore = dev.mac
        var undo: [() -> Void] = []
        do {
            if let n = c.rename {
                let o = dev.name; try dp.rename(dev, to: n); undo.append { try? self.dp.rename(dev, to: o) }
            }
            // rtnl_changelink: the kind's changelink before do_setlink (its MTU last).
            if let g = c.gre, let drv = dev.driver as? GREDriver {
                let o = (drv.config, dev.mtu)
                dp.changeGRE(dev, g, setMTU: c.mtu == nil)
                undo.append { drv.config = o.0; dev.mtu = o.1 }
            }
            if let m = c.mtu { let o = dev.mtu; dev.mtu = m; undo.append { dev.mtu = o } }
            if let m = c.mac, m != dev.mac {
                // macvlan_set_mac_address: a macvlan cannot take a busy address, open or not.
                try dp.checkMacvlanAddress(dev, m)
                let o = dev.mac, inherits = dp.vlanDriver(dev)?.inheritsAddress
                dev.mac = m
                dp.addressChanged(dev, from: o)
                undo.append { [dp] in
                    let n = dev.mac; dev.mac = o; dp.addressChanged(dev, from: n)
                    if let inherits { dp.vlanDriver(dev)?.inheritsAddress = inherits }
                }
            }
            if let q = c.txqlen {
                // dev_change_tx_queue_len: the root qdisc hears of it (pfifo_fast resizes its bands).
                let o = dev.txQueueLen
                dev.txQueueLen = q
                dev.qdisc.changeTxQueueLen(q)
                undo.append { dev.txQueueLen = o; dev.qdisc.changeTxQueueLen(o) }
            }
            if let w = c.weight { let o = dev.napi.weight; dev.napi.weight = w; undo.append { dev.napi.weight = o } }
            if let g = c.gro {
                let o = dev.activeFeatures; try dp.setFeatures(dev, .gro, on: g); undo.append { dev.activeFeatures = o }
            }
            if let g = c.udpGRO {
                let o = dev.activeFeatures; try dp.setFeatures(dev, .udpGROForwarding, on: g); undo.append { dev.activeFeatures = o }
            }
            if let g = c.groMaxSize { let o = dev.groMaxSize; try dp.setGROMaxSize(dev, g); undo.append { dev.groMaxSize = o } }
            if let l = c.lro {
                let o = dev.activeFeatures; try dp.setFeatures(dev, .lro, on: l); undo.append { dev.activeFeatures = o }
            }
            if let v = c.gsoMaxSize { let o = dev.gsoMaxSize; dev.gsoMaxSize = v; undo.append { dev.gsoMaxSize = o } }
            if let v = c.gsoMaxSegs { let o = dev.gsoMaxSegs; dev.gsoMaxSegs = v; undo.append { dev.gsoMaxSegs = o } }
            if let (bytes, window) = c.vifCredit, let v = dev.driver as? VifDriver {
                let o = (v.creditBytes, v.creditWindow, v.remainingCredit, v.creditTimeout)
                v.changeRate(bytes: bytes, window: window, now: dp.clock.now)
                dp.napiSchedule(dev)                               // a fired credit timeout polls the ring
                undo.append { (v.creditBytes, v.creditWindow, v.remainingCredit, v.creditTimeout) = o }
            }
            if let v = c.busyPoll { let o = dev.napi.busyPollNs; dev.napi.busyPollNs = UInt64(v) * Time.us; undo.append { dev.napi.busyPollNs = o } }
            if let v = c.deferHardIrqs { let o = dev.napi.deferHardIrqs; dev.napi.deferHardIrqs = v; undo.append { dev.napi.deferHardIrqs = o } }
            if let v = c.groFlushTimeout { let o = dev.napi.groFlushTimeoutNs; dev.napi.groFlushTimeoutNs = v; undo.append { dev.napi.groFlushTimeoutNs = o } }
            if let v = c.lroMaxAggr { let o = dev.lroMaxAggr; dev.lroMaxAggr = v; undo.append { dev.lroMaxAggr = o } }
            if let v = c.lroMaxDesc { let o = dev.lroMaxDesc; dev.lroMaxDesc = v; undo.append { dev.lroMaxDesc = o } }
            if let ag = c.ageing, let br = dp.bridge(dev) {
                let o = (br.ageingTime, br.bridgeAgeingTime), og = br.gcAt
                br.setAgeingTime(Bridge.jiffyNs(ag))
                dp.scheduleBridgeGC(br, at: dp.clock.now)   // br_set_ageing_time: collect now
                undo.append { [dp] in br.setAgeingTime(o.1); br.ageingTime = o.0; dp.scheduleBridgeGC(br, at: og) }
            }
            if let ch = c.port, let br = dp.bridges[dev.master] {
                let o = dev.bridgePort
                dev.bridgePort = ch.applied(to: o)
                if c.portViaLink && dev.isOperational && dev.bridgePort.state == BridgePortSettings.disabled {
                    dev.bridgePort.state = BridgePortSettings.forwarding       // br_stp_enable_port, STP off
                }
                // br_stp_set_port_priority, br_stp_set_path_cost, br_set_port_state: the tree
                // is worked out again.
                if ch.priority != nil && dev.bridgePort.portID != o.portID { dp.stpPortPriorityChanged(br, dev, oldPortID: o.portID) }
                if ch.cost != nil && dev.bridgePort.cost != o.cost { dp.stpPathCostChanged(br) }
                if ch.state != nil { dp.stpChanged.insert(dev.ifindex); dp.portStateSelection(br) }
                let routerBefore = br.mdb.routers[dev.ifindex]
                if let r = ch.mcastRouter { dp.setPortMulticastRouter(br, dev, r) }
                br.updatePortChecks(dp)
                undo.append { [dp] in
                    dev.bridgePort = o
                    br.mdb.setRouter(dev.ifindex, routerBefore)
                    dp.stpPathCostChanged(br)
                    br.updatePortChecks(dp)
                }
            }
            if !c.bridge.isEmpty, let br = dp.bridge(dev) {
                let o = (br.forwardDelay, br.helloTime, br.maxAge, br.priority, br.stp.enabled, br.mdb.snooping, br.mdb.querier, br.noLinkLocalLearn)
                let mcastBefore = (br.mdb.settings, br.mdb.hostRouter, br.mdb.hostRouterUntil)
                var settings = c.bridge
                settings.fdbFlush = false   // last, once nothing can fail
                settings.apply(br, dp)
                undo.append { [dp] in
                    BridgeOptions(forwardDelay: o.0, helloTime: o.1, maxAge: o.2, priority: o.3, stpState: o.4 ? 1 : 0, mcastSnooping: o.5, mcastQuerier: o.6,
                                  noLinkLocalLearn: o.7).apply(br, dp)
                    br.mdb.settings = mcastBefore.0
                    br.mdb.hostRouter = mcastBefore.1
                    br.mdb.hostRouterUntil = mcastBefore.2
                }
            }
            if !c.bridgeVLAN.isEmpty, let br = dp.bridge(dev) {
                let o = (br.vlanFiltering, br.vlanProto, br.defaultPVID)
                applyBridgeVLAN(br, c.bridgeVLAN)
                undo.append { [dp] in
                    br.vlanFiltering = false
                    try? br.setDefaultPVID(o.2, dp)
                    br.vlanFiltering = o.0; br.vlanProto = o.1
                }
            }
            if let v = c.vlan, let drv = dp.vlanDriver(dev) {
                let o = (drv.flags, drv.ingressMap, drv.egressMap)
                applyVLANOptions(dev, v)
                undo.append { drv.flags = o.0; drv.ingressMap = o.1; drv.egressMap = o.2 }
            }
            if let m = c.groupFwdMask, let br = dp.bridge(dev) {
                let o = br.groupFwdMask; try br.setGroupFwdMask(m); undo.append { try? br.setGroupFwdMask(o) }
            }
            if let m = c.macvlanMode, let drv = dev.driver as? MacvlanDriver {
                // macvlan_changelink: the mode changes in place (passthru and source are not
                // Sluice's, so neither is entered nor left here).
                let o = drv.mode; drv.mode = m; undo.append { drv.mode = o }
            }
            if let n = c.macvlanBcQueueLen, let drv = dev.driver as? MacvlanDriver {
                let o = drv.bcQueueLen; drv.bcQueueLen = n; undo.append { drv.bcQueueLen = o }
            }
            if let v = c.allmulti, v != dev.userAllmulti {
                dev.userAllmulti = v; dp.setAllmulti(dev, v ? 1 : -1)
                undo.append { [dp] in dev.userAllmulti = !v; dp.setAllmulti(dev, v ? -1 : 1) }
            }
            if let v = c.alias { let o = dev.alias; dev.alias = v; undo.append { dev.alias = o } }
            // dev_change_flags: NOARP, MULTICAST, DYNAMIC, … as asked.
            let newFlags = dev.flags.union(c.setFlags).subtracting(c.clearFlags)
            if newFlags != dev.flags {
                let o = dev.flags
                dev.flags = newFlags
                // arp_netdev_event / ndisc_netdev_event, NETDEV_CHANGE with IFF_NOARP changed:
                // neigh_changeaddr forgets every entry of the device, permanent ones too.
                if o.contains(.noARP) != newFlags.contains(.noARP) {
                    dp.ipv4.flushNeighbours(dev: dev.ifindex, all: true)
                    dp.ipv6.flushNeighbours(dev: dev.ifindex, all: true)
                }
                undo.append { dev.flags = dev.flags.subtracting(InterfaceFlags.changeable).union(o.intersection(InterfaceFlags.changeable)) }
            }
            if let v = c.addrGenMode { let o = dev.addrGenMode; dev.addrGenMode = v; undo.append { dev.addrGenMode = o } }
            if let v = c.group { let o = dev.group; dev.group = v; undo.append { dev.group = o } }
            if let p = c.promisc, p != dev.userPromisc {
                try dp.setPromiscuity(dev, p ? 1 : -1)
                dev.userPromisc = p
                undo.append { [dp] in try? dp.setPromiscuity(dev, p ? -1 : 1); dev.userPromisc = !p }
            }
            if case .some(let m) = c.master {
                if let md = newMaster {
                    if dev.master != md.ifindex {
                        // do_set_master: a port of another bridge leaves it first.
                        if dev.master != 0, let old = dp.device(dev.master) {
                            try dp.release(dev)
                            undo.append { [dp] in try? dp.enslave(dev, to: old) }
                        }
                        try dp.enslave(dev, to: md)
                        undo.append { [dp] in try? dp.release(dev) }
                    }
                } else if m == nil, dev.master != 0 {
                    let old = dp.device(dev.master)!
                    try dp.release(dev)
                    undo.append { [dp] in try? dp.enslave(dev, to: old) }
                }
            }
            if let up = c.up, up != dev.isUp {
                try dp.setUp(dev, up)
                undo.append { [dp] in try? dp.setUp(dev, !up) }
            }
        } catch {
            for u in undo.reversed() { u() }
            throw error
        }
        if c.bridge.fdbFlush, let br = dp.bridge(dev) { BridgeOptions(fdbFlush: true).apply(br, dp) }
        // IFLA_BRPORT_FLUSH: br_fdb_delete_by_port without do_all, the port's learnt entries.
        if c.portFlush, let br = dp.bridges[dev.master] { br.fdb.flush(port: dev.ifindex, all: false) }
        // NETDEV_CHANGEADDR: with arp_notify, the device's addresses announced from the new MAC.
        if !c.creating, dev.mac != macBefore { dp.ipv4.announceAddresses(dev) }
        if let m = c.mtu, m != mtuBefore {
            // br_change_mtu: a bridge given an MTU keeps it (dev_set_mtu does nothing for the
            // same MTU, so that leaves it following its ports).
            if !c.creating, let br = dp.bridge(dev) { br.mtuSetByUser = true }
            dp.mtuChanged(dev)
        }
    }

    /// Validates the bridge's VLAN options whole, before anything changes (br_changelink order:
    /// filtering, protocol, then the default PVID, which cannot change while filtering is on).
    func checkBridgeVLAN(_ br: Bridge, _ o: BridgeVLANOptions) throws(SluiceError) {
        if let p = o.defaultPVID, p != br.defaultPVID, o.filtering ?? br.vlanFiltering {
            throw SluiceError("Error: bridge: disable vlan filtering to change vlan_default_pvid (Operation not permitted).")
        }
        if let p = o.proto, p != EtherType.vlan && p != EtherType.qinq {
            throw SluiceError("Error: bridge: vlan_protocol must be 802.1Q or 802.1ad (Protocol not supported).")
        }
    }

    /// Applies validated bridge VLAN options (checkBridgeVLAN first).
    func applyBridgeVLAN(_ br: Bridge, _ o: BridgeVLANOptions) {
        if let f = o.filtering { br.setVLANFiltering(f) }
        if let p = o.proto { try? br.setVLANProtocol(p) }
        if let p = o.defaultPVID { try? br.setDefaultPVID(p, dp) }
    }

    /// vlan_changelink: flags under their mask, then the QoS maps (ingress keys are PCPs, masked
    /// to 3 bits; egress values are PCPs, masked likewise).
    func applyVLANOptions(_ dev: NetDevice, _ v: VLANOptions) {
        guard let drv = dp.vlanDriver(dev) else { return }
        drv.flags = VLANFlags(rawValue: (drv.flags.rawValue & ~v.mask.rawValue) | (v.flags.rawValue & v.mask.rawValue))
        for (f, t) in v.ingress { drv.ingressMap[Int(f & 7)] = t }
        for (f, t) in v.egress { drv.setEgress(priority: f, pcp: UInt8(t & 7)) }
    }

    // MARK: show

    func linkShow(_ name: String?, _ opts: Options) throws(SluiceError) -> String {
        let devs = try name.map { n throws(SluiceError) in [try device(n)] } ?? dp.allDevices
        var out = ""
        for d in devs { out += describe(d, stats: opts.stats > 0, details: opts.details) }
        return out
    }

    public func describe(_ d: NetDevice, stats: Bool, details: Bool) -> String {
        let lowerIndex = dp.vlanDriver(d)?.parent ?? (d.driver as? MacvlanDriver)?.lower
        let upper = lowerIndex.flatMap { dp.device($0) }.map { "@" + $0.name } ?? ""
        var s = "\(d.ifindex): \(d.name)\(upper): <\(d.displayFlags.names.joined(separator: ","))> mtu \(d.mtu) qdisc \(d.qdisc?.kind ?? "noqueue")"
        if d.master != 0, let m = dp.device(d.master) { s += " master \(m.name)" }
        s += " state \(dp.operState(d)) mode DEFAULT group default qlen \(d.txQueueLen)\n"
        if let g = d.driver as? GREDriver, !g.config.tap {
            s += "    link/gre \(g.config.local == 0 ? "0.0.0.0" : Self.ipString(g.config.local)) peer \(Self.ipString(g.config.remote)) "
        } else {
            s += d.driver is TeqlDriver ? "    link/void " : "    link/ether \(d.mac) brd ff:ff:ff:ff:ff:ff "
        }
        s += "promiscuity \(d.promiscuity) allmulti \(d.allmulti)\n"
        if details {
            s += "    \(d.kind)"
            let det = d.driver.details
            if !det.isEmpty { s += " " + det.dropFirst(det.hasPrefix(d.kind + " ") ? d.kind.count + 1 : 0) }
            if d.master != 0, let t = dp.device(d.master).flatMap(dp.vrfTable) { s += "\n    vrf_slave table \(t)" }
            if let br = dp.bridge(d) {
                s += " vlan_filtering \(br.vlanFiltering ? 1 : 0) vlan_protocol \(br.vlanProto == EtherType.qinq ? "802.1ad" : "802.1Q") vlan_default_pvid \(br.defaultPVID)"
                s += " ageing_time \(br.ageingTime / (10 * Time.ms)) group_fwd_mask 0x\(String(br.groupFwdMask, radix: 16)) group_not_forwarded \(br.groupNotForwarded) fdb_n_learned \(br.fdb.learnedCount) fdb_max_learned \(br.fdb.maxLearned)"
                let t = br.stp
                s += " stp_state \(t.enabled ? 1 : 0) root_port \(t.rootPort) root_path_cost \(t.rootPathCost) bpdus_sent \(t.configSent) tcns_sent \(t.tcnSent) bpdus_received \(t.configReceived) tcns_received \(t.tcnReceived) bpdus_invalid \(t.invalid)"
            }
            if let v = dp.vlanDriver(d) {
                // iproute2's vlan_print_opt: only the non-zero mappings, as vlan_fill_info.
                let ing = v.ingressMap.enumerated().filter { $0.element != 0 }.map { "\($0.offset):\($0.element) " }.joined()
                let eg = v.egressMap.filter { $0.pcp != 0 }.map { "\($0.priority):\($0.pcp) " }.joined()
                if !ing.isEmpty { s += "\n      ingress-qos-map { \(ing)}" }
                if !eg.isEmpty { s += "\n      egress-qos-map { \(eg)}" }
                s += "\n   "
            }
            s += " features \(d.activeFeatures) gso_max_size \(d.gsoMaxSize) gso_max_segs \(d.gsoMaxSegs) gro_max_size \(d.groMaxSize)\n"
        }
        if stats {
            let st = d.stats
            s += "    RX:  bytes packets errors dropped  missed   mcast\n"
            s += "    " + [st.rxBytes, st.rxPackets, st.rxErrors, st.rxDropped, st.rxMissedErrors, st.multicast].map { pad($0) }.joined() + "\n"
            s += "    RX errors:  length    crc   frame    fifo overrun nohandler\n"
            s += "    " + [st.rxLengthErrors, st.rxCrcErrors, st.rxFrameErrors, st.rxFifoErrors, st.rxOverErrors, st.rxNohandler].map { pad($0) }.joined() + "\n"
            s += "    TX:  bytes packets errors dropped carrier collsns\n"
            s += "    " + [st.txBytes, st.txPackets, st.txErrors, st.txDropped, st.txCarrierErrors, st.collisions].map { pad($0) }.joined() + "\n"
            let reasons = DropReason.allCases.filter { d.dropCount($0) > 0 }.map { "\($0.name) \(d.dropCount($0))" }
            s += "    drops: " + (reasons.isEmpty ? "none" : reasons.joined(separator: " ")) + "\n"
            let n = d.napi
            let gr = GROReason.allCases.filter { d.groCount(of: $0) > 0 }.map { "\($0.name) \(d.groCount(of: $0))" }
            s += "    gro: \(d.activeFeatures.contains(.gro) ? "on" : "off") merged \(d.groMerged) aggregates \(d.groAggregates)" + (gr.isEmpty ? "" : " " + gr.joined(separator: " ")) + "\n"
            s += "    napi: weight \(n.weight) \(n.scheduled ? "polling" : "interrupt") poll_mode_entries \(n.pollModeEntries) interrupt_mode_entries \(n.interruptModeEntries) polls \(n.polls) full_polls \(n.fullPolls) busy_poll \(n.busyPollNs / Time.us)us busy_polls \(n.busyPolls) defer_hard_irqs \(n.deferHardIrqs) gro_flush_timeout \(n.groFlushTimeoutNs) timer_polls \(n.timerPolls) deferred \(n.deferredCompletions)\(n.irqMasked ? " masked" : "")\n"
        }
        return s
    }

    func pad(_ v: UInt64) -> String {
        let s = String(v)
        return s.count >= 8 ? s + " " : String(repeating: " ", count: 8 - s.count) + s
    }

    // MARK: bridge vlan

    /// `vlan add|del dev DEV vid N[-M] [pvid] [untagged] [self] [master]`, `vlan show [dev DEV]`
    /// (bridge-vlan(8)): a port's VLANs, or with `self` the bridge's own.
    func bridgeVLAN(_ w: [String]) throws(SluiceError) -> String {
        guard let verb = w.first else { return try bridgeVLANShow(nil) }
        var a = Args(Array(w.dropFirst()))
        let v = try match(verb, ["add", "delete", "del", "show", "list"], what: "vlan command")
        if v == "show" || v == "list" {
            var dev: String?
            while let k = a.next() {
                guard k == "dev" else { throw SluiceError("Error: unknown vlan show argument \"\(k)\"") }
                dev = try a.value(for: "dev")
            }
            return try bridgeVLANShow(dev)
        }
        var devName: String?, lo = -1, hi = -1
        var pvid = false, untagged = false, isSelf = false
        while let k = a.next() {
            switch k {
            case "dev": devName = try a.value(for: "dev")
            case "vid":
                let r = try a.value(for: "vid")
                let parts = r.split(separator: "-", omittingEmptySubsequences: false)
                guard let first = Int(parts[0]), parts.count <= 2 else { throw SluiceError("Error: invalid VLAN id \"\(r)\"") }
                lo = first
                hi = parts.count == 2 ? (Int(parts[1]) ?? -1) : first
                if parts.count == 2 && (hi < 0 || hi >= 4096 || lo >= hi) { throw SluiceError("Invalid VLAN range \"\(r)\"") }
            case "pvid": pvid = true
            case "untagged": untagged = true
            case "self": isSelf = true
            case "master": break
            default: throw SluiceError("Error: unknown vlan argument \"\(k)\"")
            }
        }
        guard let devName, lo >= 0 else { throw SluiceError("Device and VLAN ID are required arguments.") }
        guard lo < 4096 else { throw SluiceError("Invalid VLAN ID \"\(lo)\"") }
        if pvid && hi != lo { throw SluiceError("pvid cannot be configured for a vlan range") }
        let dev = try device(devName)
        // rtnl_bridge_setlink: without `self` the port's master does it; with it, the bridge itself.
        let br: Bridge
        if isSelf {
            guard let b = dp.bridge(dev) else { throw SluiceError("Error: \(dev.name) is not a bridge (Operation not supported).") }
            br = b
        } else {
            guard dev.master != 0, let b = dp.bridges[dev.master] else { throw SluiceError("Error: \(dev.name) is not a bridge port (Operation not supported).") }
            br = b
        }
        for vid in lo...hi where !(1...4094).contains(vid) { throw SluiceError("Error: bridge: Vlan id \(vid) is invalid.") }
        for vid in lo...hi {
            if v == "add" { try br.addVLAN(dev, vid: UInt16(vid), pvid: pvid, untagged: untagged) }
            else { try br.deleteVLAN(dev, vid: UInt16(vid)) }
        }
        return ""
    }

    /// `bridge vlan show`, as iproute2 prints it.
    func bridgeVLANShow(_ devName: String?) throws(SluiceError) -> String {
        let filter = try devName.map { n throws(SluiceError) in try device(n).ifindex }
        var out = "port              vlan-id  \n"
        for d in dp.allDevices {
            if let filter, d.ifindex != filter { continue }
            let set: BridgeVLANSet?
            if let br = dp.bridge(d) { set = br.selfVLANs } else if d.master != 0, let br = dp.bridges[d.master] { set = br.vlanSet(d) } else { set = nil }
            guard let set, set.count > 0 else { continue }
            var first = true
            for vid in set.vids {
                let name = first ? d.name : ""
                out += name + String(repeating: " ", count: max(0, 16 - name.count)) + "  \(vid)"
                let f = set.infoFlags(vid)
                if f & BridgeVLANInfo.pvid != 0 { out += " PVID" }
                if f & BridgeVLANInfo.untagged != 0 { out += " Egress Untagged" }
                out += "\n"
                first = false
            }
        }
        return out
    }

    // MARK: fdb

    func fdb(_ w: [String]) throws(SluiceError) -> String {
        guard let verb = w.first else { return try fdbShow(Args([])) }
        var a = Args(Array(w.dropFirst()))
        switch try match(verb, ["add", "append", "replace", "delete", "show", "list"], what: "fdb command") {
        case "add", "append", "replace":
            let mac = try a.mac(for: "fdb add")
            var port: String?
            var vlan: UInt16 = 0
            var isStatic = false, sticky = false
            while let k = a.next() {
                switch k {
                case "dev": port = try a.value(for: "dev")
                case "vlan": vlan = UInt16(try a.int(for: "vlan", 0...4094))
                case "static", "permanent": isStatic = true
                case "sticky": sticky = true
                case "master", "dynamic": break
                default: throw SluiceError("Error: unknown fdb attribute \"\(k)\"")
                }
            }
            guard let port else { throw SluiceError("Error: fdb add needs \"dev PORT\"") }
            let pd = try device(port)
            guard pd.master != 0, let br = dp.bridges[pd.master] else { throw SluiceError("Error: \(port) is not a bridge port") }
            guard !mac.isMulticast, !mac.isZero else { throw SluiceError("Error: \(mac) is not a unicast address") }
            try br.fdb.add(mac, vlan: vlan, port: pd.ifindex, isStatic: isStatic, isSticky: sticky, now: dp.clock.now)
            return ""
        case "delete":
            let mac = try a.mac(for: "fdb del")
            var port: String?
            var vlan: UInt16 = 0
            while let k = a.next() {
                switch k {
                case "dev": port = try a.value(for: "dev")
                case "vlan": vlan = UInt16(try a.int(for: "vlan", 0...4094))
                case "master", "static", "permanent", "dynamic": break
                default: throw SluiceError("Error: unknown fdb attribute \"\(k)\"")
                }
            }
            guard let port else { throw SluiceError("Error: fdb del needs \"dev PORT\"") }
            let pd = try device(port)
            guard pd.master != 0, let br = dp.bridges[pd.master] else { throw SluiceError("Error: \(port) is not a bridge port") }
            guard br.fdb.remove(mac, vlan: vlan) else { throw SluiceError("Error: no fdb entry \(mac) vlan \(vlan) on \(port)") }
            return ""
        default:
            return try fdbShow(a)
        }
    }

    func fdbShow(_ args: Args) throws(SluiceError) -> String {
        var a = args
        var brFilter: Int32?, devFilter: Int32?
        while let k = a.next() {
            switch k {
            case "br": let d = try device(try a.value(for: "br")); guard dp.bridge(d) != nil else { throw SluiceError("Error: \(d.name) is not a bridge") }; brFilter = d.ifindex
            case "dev", "brport": devFilter = try device(try a.value(for: k)).ifindex
            default: throw SluiceError("Error: unknown fdb show argument \"\(k)\"")
            }
        }
        var out = ""
        let now = dp.clock.now
        for (bi, br) in dp.bridges.sorted(by: { $0.key < $1.key }) {
            if let f = brFilter, f != bi { continue }
            for e in br.fdb.entries {
                if let f = devFilter, f != e.port { continue }
                if !e.isStatic && !e.isLocal && e.updated &+ br.ageingTime <= now { continue }
                let dev = dp.device(e.port)?.name ?? "?"
                var line = "\(e.mac) dev \(dev)"
                if e.vlan != 0 { line += " vlan \(e.vlan)" }
                line += " master \(br.device.name)"
                if e.isLocal { line += " permanent" } else if e.isStatic { line += " static" } else {
                    line += " used \((now &- e.updated) / Time.s)s"
                }
                if e.isSticky { line += " sticky" }
                out += line + "\n"
            }
        }
        return out
    }

    // MARK: report

    /// Every device with statistics, drop reasons and NAPI state; the FDB; the pool.
    public func report() -> String {
        var s = ""
        for d in dp.allDevices { s += describe(d, stats: true, details: true) }
        s += "fdb:\n" + ((try? fdbShow(Args([]))) ?? "")
        var tcOpts = Options(); tcOpts.stats = 1
        s += "tc:\n" + ((try? qdiscShow(nil, tcOpts)) ?? "")
        for d in dp.allDevices { s += classShow(d, tcOpts) }
        if !dp.ipv4.addresses.isEmpty {
            let st = dp.ipv4.stats, nt = dp.ipv4.neighbours
            s += "ipv4: forwarding \(dp.ipv4.forwarding ? 1 : 0) InReceives \(st.inReceives) InHdrErrors \(st.inHdrErrors) InAddrErrors \(st.inAddrErrors) InTruncatedPkts \(st.inTruncatedPkts) InCsumErrors \(st.inCsumErrors) InNoRoutes \(st.inNoRoutes) InUnknownProtos \(st.inUnknownProtos) InDelivers \(st.inDelivers) ForwDatagrams \(st.forwDatagrams) OutRequests \(st.outRequests) OutNoRoutes \(st.outNoRoutes) FragOKs \(st.fragOKs) FragCreates \(st.fragCreates) FragFails \(st.fragFails) ReasmReqds \(st.reasmReqds) ReasmOKs \(st.reasmOKs) ReasmFails \(st.reasmFails) ReasmTimeout \(st.reasmTimeout) IPReversePathFilter \(st.rpFilter) InMartianSrc \(st.inMartianSrc) InMartianDst \(st.inMartianDst) ArpFilter \(st.arpFilter)\n"
            s += "icmp: InMsgs \(st.icmpInMsgs) InEchos \(st.icmpInEchos) OutMsgs \(st.icmpOutMsgs) OutEchoReps \(st.icmpOutEchoReps) OutDestUnreachs \(st.icmpOutDestUnreachs) OutTimeExcds \(st.icmpOutTimeExcds) OutRedirects \(st.icmpOutRedirects) RateLimited \(st.icmpRateLimited)\n"
            s += "igmp: In \(st.igmpIn) InErrors \(st.igmpInErrors) OutReports \(st.igmpOutReports) OutLeaves \(st.igmpOutLeaves)\n"
            s += "arp: requests_sent \(nt.requestsSent) replies_sent \(nt.repliesSent) res_failed \(nt.resFailed) unresolved_discards \(nt.unresDiscards) invalid \(st.arpMalformed)\n"
            s += "route:\n" + routeShow(table: nil, dp.ipv4) + "neigh:\n" + neighShow(nil, dp.ipv4)
        }
        if !dp.ipv6.addresses.isEmpty {
            let st = dp.ipv6.stats, nt = dp.ipv6.neighbours
            s += "ipv6: forwarding \(dp.ipv6.forwarding ? 1 : 0) Ip6InReceives \(st.inReceives) Ip6InHdrErrors \(st.inHdrErrors) Ip6InAddrErrors \(st.inAddrErrors) Ip6InTruncatedPkts \(st.inTruncatedPkts) Ip6InNoRoutes \(st.inNoRoutes) Ip6InUnknownProtos \(st.inUnknownProtos) Ip6InTooBigErrors \(st.inTooBigErrors) Ip6InDelivers \(st.inDelivers) Ip6InDiscards \(st.inDiscards) Ip6OutForwDatagrams \(st.forwDatagrams) Ip6OutRequests \(st.outRequests) Ip6OutNoRoutes \(st.outNoRoutes) Ip6OutDiscards \(st.outDiscards) Ip6ReasmFails \(st.reasmFails)\n"
            s += "icmp6: InMsgs \(st.icmpInMsgs) InErrors \(st.icmpInErrors) InCsumErrors \(st.icmpInCsumErrors) InEchos \(st.icmpInEchos) InNeighborSolicits \(st.icmpInNeighborSolicits) InNeighborAdvertisements \(st.icmpInNeighborAdvertisements) OutMsgs \(st.icmpOutMsgs) OutEchoReplies \(st.icmpOutEchoReplies) OutDestUnreachs \(st.icmpOutDestUnreachs) OutPktTooBigs \(st.icmpOutPktTooBigs) OutTimeExcds \(st.icmpOutTimeExcds) OutParmProblems \(st.icmpOutParmProblems) OutNeighborSolicits \(st.icmpOutNeighborSolicits) OutNeighborAdvertisements \(st.icmpOutNeighborAdvertisements) RateLimited \(st.icmpRateLimited) OutRsts \(st.tcpOutRsts)\n"
            s += "mld: InGroupMembQueries \(st.icmpInGroupMembQueries) InGroupMembReports \(st.icmpInGroupMembReports) QueriesDropped \(st.mldQueriesDropped) OutGroupMembReports \(st.icmpOutGroupMembReports) OutGroupMembReductions \(st.icmpOutGroupMembReductions) OutMLDv2Reports \(st.icmpOutMLDv2Reports)\n"
            s += "ndisc: requests_sent \(nt.requestsSent) replies_sent \(nt.repliesSent) res_failed \(nt.resFailed) unresolved_discards \(nt.unresDiscards)\n"
            s += "route6:\n" + routeShow(table: nil, dp.ipv6) + "neigh6:\n" + neighShow(nil, dp.ipv6)
        }
        let ct = dp.pool.conntrack
        if ct.entries != nil {
            // conntrack -S and -L (the confirmed entries, as /proc/net/nf_conntrack lists them).
            s += "conntrack: entries \(ct.count) max \(ct.maxEntries) found \(ct.found) invalid \(ct.invalid) insert \(ct.inserted) insert_failed \(ct.insertFailed) early_drop \(ct.earlyDrop) expired \(ct.expired)\n"
            for l in ct.lines(now: dp.clock.now).prefix(1000) { s += l + "\n" }
        }
        s += poolLine() + "\n"
        return s
    }

    public func poolLine() -> String {
        let p = dp.pool
        return "pool: capacity \(p.capacity) in_use \(p.inUse) allocations \(p.allocations) frees \(p.frees) exhausted \(p.exhausted) napi_time_squeeze \(dp.timeSqueeze)"
    }
}
