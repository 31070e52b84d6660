#if canImport(Glibc)
import Glibc
#endif

/// What the commands need of an inet family's stack: its address syntax and its tables.
protocol InetFamilyStack: NeighbourResolver {
    static var isIPv6: Bool { get }
    static func parseAddress(_ s: some StringProtocol) -> Addr?
    static func addressString(_ a: Addr) -> String
    static func flowHash(_ a: Addr, _ b: Addr) -> UInt32
    func sourceAddress(_ dev: Int32, toward dst: Addr) -> Addr
}

extension IPv4Stack: InetFamilyStack {
    static var isIPv6: Bool { false }
    static func parseAddress(_ s: some StringProtocol) -> UInt32? { CommandRunner.parseIPv4(s) }
    static func addressString(_ a: UInt32) -> String { CommandRunner.ipString(a) }
}

extension IPv6Stack: InetFamilyStack {
    static var isIPv6: Bool { true }
    static func parseAddress(_ s: some StringProtocol) -> UInt128? { CommandRunner.parseIPv6(s) }
    static func addressString(_ a: UInt128) -> String { CommandRunner.ip6String(a) }
}

/// `addr`, `route` and `neigh` in iproute2's words (ip-address(8), ip-route(8), ip-neighbour(8))
/// for the IPv4 and IPv6 stacks (the family from `-4`/`-6` or the addresses given), parsed to
/// typed values and applied whole; `show` prints as `ip` prints.
extension CommandRunner {
    /// Dotted quad → host-order address.
    static func parseIPv4(_ s: some StringProtocol) -> UInt32? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard let b = UInt8(p), !p.isEmpty else { return nil }
            v = v << 8 | UInt32(b)
        }
        return v
    }

    public static func ipString(_ a: UInt32) -> String { "\(a >> 24).\(a >> 16 & 0xFF).\(a >> 8 & 0xFF).\(a & 0xFF)" }

    /// RFC 4291 text → host-order address (inet_pton).
    static func parseIPv6(_ s: some StringProtocol) -> UInt128? {
        var a = in6_addr()
        guard String(s).withCString({ inet_pton(AF_INET6, $0, &a) }) == 1 else { return nil }
        return withUnsafeBytes(of: &a) { Inet6Wire.load128($0.baseAddress!) }
    }

    /// Host-order address → RFC 5952 text (inet_ntop).
    public static func ip6String(_ v: UInt128) -> String {
        var a = in6_addr()
        withUnsafeMutableBytes(of: &a) { Inet6Wire.store128(v, $0.baseAddress!) }
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = inet_ntop(AF_INET6, &a, &buf, socklen_t(buf.count))
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The family a command's words name: `-4`/`-6` given, else IPv6 when one of them is an
    /// IPv6 address or prefix.
    static func wantsIPv6(_ w: [String], _ opts: Options) -> Bool {
        if opts.family != 0 { return opts.family == 6 }
        return w.contains { parseIPv6($0.split(separator: "/").first ?? "") != nil }
    }

    /// ADDR[/LEN] (LEN defaults to the address width); `default` is 0/0.
    static func parsePrefix<S: InetFamilyStack>(_ s: String, _: S.Type) throws(SluiceError) -> (S.Addr, Int) {
        if s == "default" || s == "all" { return (0, 0) }
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        let what = S.isIPv6 ? "inet6" : "inet"
        guard parts.count <= 2, let a = S.parseAddress(parts[0]) else { throw SluiceError("Error: an \(what) prefix is expected rather than \"\(s)\".") }
        var len = S.Addr.bitWidth
        if parts.count == 2 {
            guard let l = Int(parts[1]), (0...S.Addr.bitWidth).contains(l) else { throw SluiceError("Error: an \(what) prefix is expected rather than \"\(s)\".") }
            len = l
        }
        return (a, len)
    }

    static func parsePrefix(_ s: String) throws(SluiceError) -> (UInt32, Int) { try parsePrefix(s, IPv4Stack.self) }

    static func prefixString<S: InetFamilyStack>(_ p: S.Addr, _ l: Int, _: S.Type) -> String {
        l == 0 && p == 0 ? "default" : (l == S.Addr.bitWidth ? S.addressString(p) : "\(S.addressString(p))/\(l)")
    }

    // MARK: addrlabel

    /// `addrlabel add|del prefix PREFIX [dev DEV] label N`, `addrlabel list`, `addrlabel flush`:
    /// iproute2's ipaddrlabel.c grammar over the IPv6 policy table (the netlink path is
    /// AddrLabelNetlink.swift). Delete, like ip's, wants a label too, which the kernel ignores;
    /// flush deletes every entry, as ip dumps and deletes each.
    func addrlabel(_ w: [String], _ opts: Options = Options()) throws(SluiceError) -> String {
        guard let verb = w.first else { return addrlabelShow() }
        var a = Args(Array(w.dropFirst()))
        switch try match(verb, ["list", "show", "lst", "add", "delete", "flush"], what: "addrlabel command") {
        case "list", "show", "lst": return addrlabelShow()
        case "flush":
            for e in dp.ipv6.addressLabels.entries {
                try? dp.ipv6.addressLabels.delete(prefix: e.prefix, prefixLen: e.prefixLen, ifindex: e.ifindex)
            }
            return ""
        case let v:
            var prefix: (UInt128, Int)?, ifindex: Int32 = 0, label: UInt32?
            while let k = a.next() {
                switch k {
                case "prefix": prefix = try Self.parsePrefix(try a.value(for: "prefix"), IPv6Stack.self)
                case "dev":
                    let n = try a.value(for: "dev")
                    guard let d = dp.device(named: n) else { throw SluiceError("Error: argument \"\(n)\" is wrong: dev is invalid") }
                    ifindex = d.ifindex
                case "label":
                    let s = try a.value(for: "label")
                    guard let l = UInt32(s), l != AddressLabelTable.labelDefault else { throw SluiceError("Error: argument \"\(s)\" is wrong: label is invalid") }
                    label = l
                default: break          // ipaddrlabel_modify skips words it does not know
                }
            }
            guard let (p, len) = prefix else { throw SluiceError("Not enough information: \"prefix\" argument is required.") }
            guard let label else { throw SluiceError("Not enough information: \"label\" argument is required.") }
            do {
                if v == "add" { try dp.ipv6.addressLabels.add(prefix: p, prefixLen: len, ifindex: ifindex, label: label, replace: false) }
                else { try dp.ipv6.addressLabels.delete(prefix: p, prefixLen: len, ifindex: ifindex) }
            } catch {
                throw SluiceError("RTNETLINK answers: " + (error.errno == EEXIST ? "File exists" : error.errno == ESRCH ? "No such process" : "Invalid argument"))
            }
            return ""
        }
    }

    /// print_addrlabel's text: `prefix P/L [dev D] label N`.
    func addrlabelShow() -> String {
        dp.ipv6.addressLabels.entries.map { e in
            "prefix \(CommandRunner.ip6String(e.prefix))/\(e.prefixLen) "
                + (e.ifindex != 0 ? "dev \(dp.device(e.ifindex)?.name ?? "if\(e.ifindex)") " : "") + "label \(e.label) \n"
        }.joined()
    }

    // MARK: addr

    func addr(_ w: [String], _ opts: Options = Options()) throws(SluiceError) -> String {
        guard let verb = w.first else { return addrShow(nil, opts) }
        var a = Args(Array(w.dropFirst()))
        switch try match(verb, ["add", "delete", "show", "list", "flush"], what: "addr command") {
        case "add" where Self.wantsIPv6(Array(w.dropFirst()), opts), "delete" where Self.wantsIPv6(Array(w.dropFirst()), opts):
            var prefix: (UInt128, Int)?, devName: String?, nodad = false, noPrefixRoute = false, optimistic = false
            var valid = UInt32.max, preferred = UInt32.max
            func lifetime(_ k: String) throws(SluiceError) -> UInt32 {
                let v = try a.value(for: k)
                if v == "forever" { return .max }
                guard let n = UInt32(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: \(k) value") }
                return n
            }
            while let k = a.next() {
                switch k {
                case "dev": devName = try a.value(for: "dev")
                case "nodad": nodad = true
                case "optimistic": optimistic = true
                case "noprefixroute": noPrefixRoute = true
                case "valid_lft": valid = try lifetime(k)
                case "preferred_lft": preferred = try lifetime(k)
                case "local": prefix = try Self.parsePrefix(try a.value(for: "local"), IPv6Stack.self)
                default:
                    guard prefix == nil else { throw SluiceError("Error: either \"local\" is duplicate, or \"\(k)\" is a garbage.") }
                    prefix = try Self.parsePrefix(k, IPv6Stack.self)
                }
            }
            guard let devName else { throw SluiceError("Not enough information: \"dev\" argument is required.") }
            guard let (addr, len) = prefix else { throw SluiceError("Not enough information: an address is required.") }
            let dev = try device(devName)
            if verb.hasPrefix("d") { try dp.ipv6.deleteAddress(dev, addr, len); return "" }
            // ip's own checks (ipaddr_modify), before any request.
            guard valid != 0 else { throw SluiceError("valid_lft is zero") }
            guard preferred <= valid else { throw SluiceError("preferred_lft is greater than valid_lft") }
            // inet6_rtm_newaddr: `optimistic` counts only while optimistic_dad is on.
            optimistic = optimistic && dev.inet6.optimisticDAD
            if nodad && optimistic { throw SluiceError("Error: IFA_F_NODAD and IFA_F_OPTIMISTIC are mutually exclusive.") }
            var ia = Inet6Address(address: addr, prefixLen: len, nodad: nodad)
            ia.noPrefixRoute = noPrefixRoute
            ia.optimistic = optimistic
            ia.setLifetimes(valid: valid, preferred: preferred, now: dp.clock.now)
            try dp.ipv6.addAddress(dev, ia)
            return ""
        case "add", "delete":
            var prefix: (UInt32, Int)?, devName: String?, brd: String?, peer: (UInt32, Int)?, label: String?
            var scope: UInt8 = 0, valid = UInt32.max, preferred = UInt32.max, noPrefixRoute = false
            func lifetime(_ k: String) throws(SluiceError) -> UInt32 {
                let v = try a.value(for: k)
                if v == "forever" { return .max }
                guard let n = UInt32(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: \(k) value") }
                return n
            }
            while let k = a.next() {
                switch k {
                case "dev": devName = try a.value(for: "dev")
                case "broadcast", "brd": brd = try a.value(for: k)
                case "local": prefix = try Self.parsePrefix(try a.value(for: "local"))
                case "peer", "remote": peer = try Self.parsePrefix(try a.value(for: k))
                case "label": label = try a.value(for: "label")
                case "scope":
                    let v = try a.value(for: "scope")
                    guard let sc = RouteScope.parse(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: invalid scope value.") }
                    scope = sc
                case "valid_lft": valid = try lifetime(k)
                case "preferred_lft": preferred = try lifetime(k)
                case "noprefixroute": noPrefixRoute = true
                default:
                    guard prefix == nil else { throw SluiceError("Error: either \"local\" is duplicate, or \"\(k)\" is a garbage.") }
                    prefix = try Self.parsePrefix(k)
                }
            }
            guard let devName else { throw SluiceError("Not enough information: \"dev\" argument is required.") }
            guard let (addr, plen) = prefix else { throw SluiceError("Not enough information: an address is required.") }
            let dev = try device(devName)
            let len = peer?.1 ?? plen
            if verb.hasPrefix("d") { try dp.ipv4.deleteAddress(dev, addr, len); return "" }
            // ip's own checks (ipaddr_modify), before any request.
            guard valid != 0 else { throw SluiceError("valid_lft is zero") }
            guard preferred <= valid else { throw SluiceError("preferred_lft is greater than valid_lft") }
            var ia = InetAddress(address: addr, prefixLen: len, broadcast: 0, peer: peer?.0, label: label == dev.name ? nil : label, scope: scope)
            ia.setLifetimes(valid: valid, preferred: preferred, now: dp.clock.now)
            ia.noPrefixRoute = noPrefixRoute
            if let brd {
                if brd == "+" { ia.broadcast = ia.network | ~ia.mask }
                else if brd == "-" { ia.broadcast = ia.network }
                else { guard let b = Self.parseIPv4(brd) else { throw SluiceError("Error: an inet address is expected rather than \"\(brd)\".") }; ia.broadcast = b }
            }
            try dp.ipv4.addAddress(dev, ia)
            return ""
        case "flush":
            guard a.next() == "dev", let n = a.next() else { throw SluiceError("Error: addr flush needs dev NAME") }
            let dev = try device(n)
            if opts.family != 6 { for x in dp.ipv4.addresses[dev.ifindex] ?? [] { try? dp.ipv4.deleteAddress(dev, x.address, x.prefixLen) } }
            if opts.family != 4 { for x in dp.ipv6.addresses[dev.ifindex] ?? [] { try? dp.ipv6.deleteAddress(dev, x.address, x.prefixLen) } }
            return ""
        default:
            var devName: String?
            while let k = a.next() { if k == "dev" { devName = try a.value(for: "dev") } else { devName = k } }
            return addrShow(try devName.map { n throws(SluiceError) in try device(n) }, opts)
        }
    }

    func addrShow(_ only: NetDevice?, _ opts: Options = Options()) -> String {
        var out = ""
        for d in dp.allDevices where only == nil || only === d {
            out += describe(d, stats: false, details: false)
            for a in opts.family == 6 ? [] : dp.ipv4.addresses[d.ifindex] ?? [] {
                // print_addrinfo's order: address (and peer), brd, scope, flags, label; lifetimes.
                out += "    inet \(Self.ipString(a.address))"
                out += a.peer != a.address ? " peer \(Self.ipString(a.peer))/\(a.prefixLen)" : "/\(a.prefixLen)"
                if a.broadcast != 0 { out += " brd \(Self.ipString(a.broadcast))" }
                out += " scope \(RouteScope.name(a.scope))"
                // print_ifa_flags' order; deprecated is an IPv6 word for ip.
                if a.secondary { out += " secondary" }
                if !a.permanent { out += " dynamic" }
                if a.noPrefixRoute { out += " noprefixroute" }
                out += " \(a.label ?? d.name)\n"
                let left = a.remaining(at: dp.clock.now)
                func lft(_ v: UInt32) -> String { v == .max ? "forever" : "\(v)sec" }
                out += "       valid_lft \(lft(left.valid)) preferred_lft \(lft(left.preferred))\n"
            }
            for a in opts.family == 4 ? [] : dp.ipv6.addresses[d.ifindex] ?? [] {
                // print_ifa_flags' order: nodad, optimistic, dadfailed, deprecated, tentative,
                // dynamic, noprefixroute, stable-privacy.
                var flags = ""
                if a.nodad { flags += "nodad " }
                if a.optimistic { flags += "optimistic " }
                if a.dadFailed { flags += "dadfailed " }
                if a.deprecated { flags += "deprecated " }
                if a.tentative { flags += "tentative " }
                if !a.permanent { flags += "dynamic " }
                if a.noPrefixRoute { flags += "noprefixroute " }
                if a.stablePrivacy { flags += "stable-privacy " }
                out += "    inet6 \(Self.ip6String(a.address))/\(a.prefixLen) scope \(RouteScope.name(a.scope)) \(flags)\n"
                let left = a.remaining(at: dp.clock.now)
                func lft(_ v: UInt32) -> String { v == .max ? "forever" : "\(v)sec" }
                out += "       valid_lft \(lft(left.valid)) preferred_lft \(lft(left.preferred))\n"
            }
        }
        return out
    }

    // MARK: route

    struct RouteSpec<A: InetAddressValue> {
        var prefix: A = 0, length = 0, hasPrefix = false
        var route = RouteOf<A>(type: .unicast)
        var table: UInt32 = FIB.tableMain
        var scopeSet = false, protoSet = false, metricSet = false
    }

    func parseRoute<S: InetFamilyStack>(_ a: inout Args, _: S.Type) throws(SluiceError) -> RouteSpec<S.Addr> {
        var r = RouteSpec<S.Addr>()
        var nh = NextHopOf<S.Addr>(dev: 0)
        var haveNH = false
        let what = S.isIPv6 ? "inet6" : "inet"
        func gateway(_ v: String) throws(SluiceError) -> S.Addr {
            guard let g = S.parseAddress(v) else { throw SluiceError("Error: an \(what) address is expected rather than \"\(v)\".") }
            return g
        }
        while let k = a.next() {
            switch k {
            case "via":
                var v = try a.value(for: "via")
                if v == "inet" || v == "inet6" { v = try a.value(for: "via") }
                nh.gateway = try gateway(v); haveNH = true
            case "dev", "oif": nh.dev = try device(try a.value(for: k)).ifindex; haveNH = true
            case "mtu", "advmss", "window", "cwnd", "initcwnd", "initrwnd", "hoplimit", "reordering":
                // iproute2's metric words (RTAX_*), kept as `ip route` keeps them.
                let v = try a.value(for: k)
                guard let x = UInt32(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: \"\(k)\" value is invalid") }
                let t: [String: Int] = ["mtu": 2, "window": 3, "cwnd": 7, "advmss": 8,
                                        "reordering": 9, "hoplimit": 10, "initcwnd": 11, "initrwnd": 14]
                if r.route.metrics.isEmpty { r.route.metrics = [UInt32](repeating: 0, count: 17) }
                let clamp: [Int: UInt32] = [2: 65535 - 15, 8: 65535 - 40, 10: 255]
                r.route.metrics[t[k]! - 1] = min(x, clamp[t[k]!] ?? .max)
            case "metric", "priority", "preference":
                let v = try a.value(for: k)
                guard let m = UInt32(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: \"metric\" value is invalid") }
                r.route.metric = m; r.metricSet = true
            case "src":
                let v = try a.value(for: "src")
                guard let s = S.parseAddress(v) else { throw SluiceError("Error: an \(what) address is expected rather than \"\(v)\".") }
                r.route.prefsrc = s
            case "proto", "protocol":
                let v = try a.value(for: k)
                guard let n = RouteProtocol.parse(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: \"protocol\" value is invalid") }
                r.route.proto = n
                r.protoSet = true
            case "scope":
                let v = try a.value(for: "scope")
                guard let n = RouteScope.parse(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: \"scope\" value is invalid") }
                r.route.scope = n
                r.scopeSet = true
            case "table":
                let v = try a.value(for: "table")
                guard let n = Self.tableID(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: \"table\" value is invalid") }
                r.table = n == 0 ? FIB.tableMain : n
            case "onlink": nh.onlink = true
            case "nhid":
                let v = try a.value(for: "nhid")
                guard let id = UInt32(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: \"id\" value is invalid") }
                r.route.nhid = id
            case "realm", "realms": nh.realm = try Self.realms(try a.value(for: k)); haveNH = true
            case "expires":
                // RTA_EXPIRES, seconds: an IPv6 route lapses then (IPv4 ignores it, as the kernel).
                let v = try a.value(for: "expires")
                guard let x = UInt32(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: \"expires\" value is invalid") }
                if S.isIPv6 { r.route.expires = Self.routeExpiry(x, now: dp.clock.now) }
            case "pref":
                switch try a.value(for: "pref") {
                case "medium": r.route.pref = 0; case "high": r.route.pref = 1; case "low": r.route.pref = 3
                case let v: throw SluiceError("Error: argument \"\(v)\" is wrong: \"pref\" value is invalid")
                }
            case "nexthop":
                var h = NextHopOf<S.Addr>(dev: 0)
                while a.i < a.words.count, ["via", "dev", "weight", "onlink", "realm", "realms"].contains(a.words[a.i]) {
                    let kk = a.next()!
                    switch kk {
                    case "via": h.gateway = try gateway(try a.value(for: "via"))
                    case "dev": h.dev = try device(try a.value(for: "dev")).ifindex
                    case "weight": h.weight = try a.int(for: "weight", 1...256)
                    case "realm", "realms": h.realm = try Self.realms(try a.value(for: kk))
                    default: h.onlink = true
                    }
                }
                r.route.nexthops.append(h)
            default:
                if let t = RouteType(name: k), !r.hasPrefix {
                    r.route.type = t
                    continue
                }
                guard !r.hasPrefix else { throw SluiceError("Error: either \"to\" is duplicate, or \"\(k)\" is a garbage.") }
                let word = k == "to" ? try a.value(for: "to") : k
                (r.prefix, r.length) = try Self.parsePrefix(word, S.self)
                r.hasPrefix = true
            }
        }
        if haveNH && r.route.nexthops.isEmpty { r.route.nexthops = [nh] }
        return r
    }

    /// rtm_to_fib6_config's RTA_EXPIRES: seconds from now on the datapath clock, none for
    /// 0xFFFFFFFF (addrconf_timeout_fixup's infinity). 0 is a route that lapsed as it came.
    static func routeExpiry(_ seconds: UInt32, now: UInt64) -> UInt64 {
        seconds == .max ? 0 : max(1, now &+ UInt64(seconds) &* Time.s)
    }

    /// get_rt_realms_or_raw: `FROM/TO` or `TO`, each a number (0…255 is what cls_route
    /// matches; the kernel keeps 16 bits) or `cosmos` (realm 0, /etc/iproute2/rt_realms).
    static func realms(_ v: String) throws(SluiceError) -> UInt32 {
        func one(_ s: Substring) -> UInt32? { s == "cosmos" ? 0 : UInt32(s).flatMap { $0 <= 0xFFFF ? $0 : nil } }
        let parts = v.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1: if let t = one(parts[0]) { return t }
        case 2: if let f = one(parts[0]), let t = one(parts[1]) { return f << 16 | t }
        default: break
        }
        throw SluiceError("Error: argument \"\(v)\" is wrong: \"realm\" value is invalid")
    }

    /// print_rta_flow: `realm TO`, or `realms FROM/TO` when there is a source realm.
    static func realmsString(_ r: UInt32) -> String {
        func name(_ x: UInt32) -> String { x == 0 ? "cosmos" : "\(x)" }
        return r >> 16 != 0 ? " realms \(name(r >> 16))/\(name(r & 0xFFFF))" : " realm \(name(r & 0xFFFF))"
    }

    /// fib_check_nh (ip6_route_check_nh for IPv6) for a route to be added: a gateway must be
    /// reachable directly (a connected route covers it) unless onlink — a link-local IPv6
    /// gateway needs its device named; the device is the one that route uses when not named.
    func resolveNextHops<S: InetFamilyStack>(_ r: inout RouteSpec<S.Addr>, _ stack: S) throws(SluiceError) {
        if r.route.nhid != 0 { return try useNexthop(&r, S.self) }
        if r.table == FIB.tableLocal && r.route.type == .unicast && !r.protoSet { r.route.type = .local }
        // fib_valid_prefsrc: a preferred source must be a local address (but a local route's
        // own address may name itself). IPv6 checks it the same way (ip6_route_info_create).
        let src = r.route.prefsrc
        if src != 0 && !(r.route.type == .local && r.hasPrefix && src == r.prefix) {
            guard let l = stack.fib.local.lookup(src, hash: 0), l.type == .local else {
                throw SluiceError(S.isIPv6 ? "Error: Invalid source address." : "Error: Invalid prefsrc address.")
            }
        }
        guard r.route.type == .unicast || r.route.type == .local || r.route.type == .broadcast else {
            r.route.nexthops = []
            return
        }
        guard !r.route.nexthops.isEmpty else { throw SluiceError("Error: Device for nexthop is not up.") }
        for i in r.route.nexthops.indices {
            var h = r.route.nexthops[i]
            if S.isIPv6 && h.gateway != 0 && Inet6Wire.isLinkLocal(UInt128(truncatingIfNeeded: h.gateway)) {
                guard h.dev != 0 else { throw SluiceError("Error: Egress device not specified.") }
            } else if h.gateway != 0 && !h.onlink {
                guard let via = stack.fib.main.lookup(h.gateway, hash: 0), via.type == .unicast, via.gateway == 0,
                      h.dev == 0 || via.dev == h.dev else {
                    throw SluiceError("Error: Nexthop has invalid gateway.")
                }
                h.dev = via.dev
            }
            guard h.dev != 0, let d = dp.device(h.dev) else { throw SluiceError("Error: Device for nexthop is not up.") }
            // fib6_nh_init: no inet6_dev is ENODEV, a disabled one EACCES.
            if S.isIPv6 && d.inet6Absent { throw SluiceError("RTNETLINK answers: No such device") }
            if S.isIPv6 && d.inet6.disabled { throw SluiceError("Error: IPv6 is disabled on nexthop device (Permission denied)") }
            guard d.isUp else { throw SluiceError("Error: Device for nexthop is not up.") }
            r.route.nexthops[i] = h
        }
        // RTA_FLOW: IPv4 next hops keep their realms (fib_num_tclassid_users); IPv6 ignores them.
        if S.isIPv6 {
            for i in r.route.nexthops.indices { r.route.nexthops[i].realm = 0 }
        } else if r.route.nexthops.contains(where: { $0.realm != 0 }) {
            stack.fib.hasRealms = true
        }
        if !r.scopeSet && !S.isIPv6 {
            // rtm_scope: link for a route without a gateway, host for local, else universe.
            if r.route.type == .local { r.route.scope = RouteScope.host }
            else if r.route.nexthops.allSatisfy({ $0.gateway == 0 }) { r.route.scope = RouteScope.link }
        }
    }

    /// fib_create_info / ip6_route_info_create for a route naming a nexthop object: the
    /// object must exist, suit the family and the route's scope (fib_check_nexthop,
    /// fib6_check_nexthop); the route then carries what it resolves to.
    func useNexthop<S: InetFamilyStack>(_ r: inout RouteSpec<S.Addr>, _: S.Type) throws(SluiceError) {
        let table = dp.nexthops
        guard r.route.nexthops.isEmpty else { throw SluiceError("Error: Nexthop specification and nexthop id are mutually exclusive.") }
        guard let nh = table.objects[r.route.nhid] else { throw SluiceError("Error: Nexthop id does not exist.") }
        try checkRouteUse(nh, v6: S.isIPv6, scope: r.route.scope)
        let (hops, blackhole) = table.resolve(r.route.nhid, S.Addr.self)!
        r.route.nexthops = hops
        r.route.type = blackhole ? .blackhole : .unicast
    }

    /// fib_check_nexthop and fib6_check_nexthop: whether a route of this family and scope may
    /// use `nh` (all members of a group share the first one's scope).
    func checkRouteUse(_ nh: NexthopObject, v6: Bool, scope: UInt8) throws(SluiceError) {
        let table = dp.nexthops
        if v6 && table.has(nh, v6: false) { throw SluiceError("Error: IPv6 routes can not use an IPv4 nexthop.") }
        if !v6 && table.has(nh, v6: true) {
            throw SluiceError("Error: Sluice's IPv4 routes cannot use an IPv6 nexthop (RFC 5549 gateways are not implemented) (Operation not supported).")
        }
        if nh.isGroup && scope == RouteScope.host { throw SluiceError("Error: Route with host scope can not have multiple nexthops.") }
        let first = nh.isGroup ? nh.members.first.flatMap { table.objects[$0.id] } : nh
        if let f = first, case .single(_, let gw, _, let onlink) = f.kind {
            if scope == RouteScope.host && gw != 0 { throw SluiceError("Error: Route with host scope can not have a gateway.") }
            if onlink && scope >= RouteScope.link { throw SluiceError("Error: Scope mismatch with nexthop.") }
        }
    }

    func route(_ w: [String], _ opts: Options = Options()) throws(SluiceError) -> String {
        Self.wantsIPv6(w, opts) ? try route(w, dp.ipv6) : try route(w, dp.ipv4)
    }

    func route<S: InetFamilyStack>(_ w: [String], _ stack: S) throws(SluiceError) -> String {
        guard let verb = w.first else { return routeShow(table: FIB.tableMain, stack) }
        var a = Args(Array(w.dropFirst()))
        let fib = stack.fib
        switch try match(verb, ["add", "delete", "replace", "change", "append", "prepend", "show", "list", "get", "flush"], what: "route command") {
        case "add", "replace", "change", "append", "prepend":
            var r = try parseRoute(&a, S.self)
            guard r.hasPrefix else { throw SluiceError("Error: a destination prefix is required") }
            if !r.protoSet { r.route.proto = RouteProtocol.boot }
            // IP6_RT_PRIO_USER: an IPv6 route without a metric gets 1024.
            if S.isIPv6 && !r.metricSet { r.route.metric = 1024 }
            try Self.checkKeyLength(r.prefix, r.length, S.self)
            try resolveNextHops(&r, stack)
            let t = fib.newTable(r.table)
            defer { if r.table == FIB.tableDefault { fib.updateSimple() } }
            if verb == "change" && t.entry(LPMTrie<S.Addr>.mask(r.prefix, r.length), r.length) == nil {
                throw SluiceError("RTNETLINK answers: No such file or directory")
            }
            // IPv6 `append` (and `prepend`): a sibling of a gateway route of the same metric.
            if S.isIPv6 && (verb == "append" || verb == "prepend"), try t.addSiblings(r.prefix, r.length, r.route) { return "" }
            try t.insert(r.prefix, r.length, r.route, replace: verb == "replace" || verb == "change",
                         exclusive: verb == "add", append: verb == "append")
            if r.route.type == .local { fib.noteCustomLocalRoute() }
            return ""
        case "delete":
            let r = try parseRoute(&a, S.self)
            guard r.hasPrefix else { throw SluiceError("Error: a destination prefix is required") }
            guard let t = fib.table(r.table) else { throw SluiceError("RTNETLINK answers: No such process") }
            try Self.checkKeyLength(r.prefix, r.length, S.self)
            defer { if r.table == FIB.tableDefault { fib.updateSimple() } }
            let spec = r
            if S.isIPv6, spec.route.nexthops.count == 1,
               t.deleteSibling(r.prefix, r.length, gateway: spec.route.nexthops[0].gateway, dev: spec.route.nexthops[0].dev,
                               matching: { x in (!spec.metricSet || x.metric == spec.route.metric) && (!spec.protoSet || x.proto == spec.route.proto) }) {
                return ""
            }
            let ok = t.delete(r.prefix, r.length) { x in
                (!spec.metricSet || x.metric == spec.route.metric) && (spec.route.nexthops.isEmpty || x.nexthops.first?.gateway == spec.route.nexthops.first?.gateway || spec.route.nexthops.first?.gateway == 0)
                    && (spec.route.nexthops.first.map { $0.dev == 0 || x.nexthops.first?.dev == $0.dev } ?? true)
                    && (!spec.protoSet || x.proto == spec.route.proto) && (spec.route.nhid == 0 || x.nhid == spec.route.nhid)
            }
            guard ok else { throw SluiceError("RTNETLINK answers: No such process") }
            return ""
        case "get":
            guard let w = a.next(), let addr = S.parseAddress(w == "to" ? (a.next() ?? "") : w) else {
                throw SluiceError("Error: an \(S.isIPv6 ? "inet6" : "inet") address is expected")
            }
            guard let r = fib.lookup(addr, hash: S.flowHash(0, addr)) else { throw SluiceError("RTNETLINK answers: Network is unreachable") }
            switch r.type {
            case .unreachable: throw SluiceError("RTNETLINK answers: No route to host")
            case .prohibit: throw SluiceError("RTNETLINK answers: Permission denied")
            case .blackhole: throw SluiceError("RTNETLINK answers: Invalid argument")
            default: break
            }
            let dev = dp.device(r.dev)?.name ?? "?"
            // fib_result_prefsrc: IPv4 selects toward the gateway (inet_select_addr on the next
            // hop); IPv6 toward the destination (ipv6_dev_get_saddr).
            let src = r.prefsrc != 0 ? r.prefsrc : stack.sourceAddress(r.dev, toward: S.isIPv6 ? addr : r.gateway)
            var s = r.type == .local ? "local \(S.addressString(addr)) dev \(dev)" : "\(S.addressString(addr))"
            if r.type != .local {
                if r.gateway != 0 { s += " via \(S.addressString(r.gateway))" }
                s += " dev \(dev)"
            }
            if src != 0 { s += " src \(S.addressString(src))" }
            return s + "\n"
        case "flush":
            var r = try parseRoute(&a, S.self)
            if !r.hasPrefix { r.prefix = 0 }
            let spec = r
            fib.table(r.table)?.deleteAll { x in (!spec.protoSet || x.proto == spec.route.proto) && x.proto != RouteProtocol.kernel }
            if r.table == FIB.tableDefault { fib.updateSimple() }
            return ""
        default:
            var table: UInt32? = FIB.tableMain
            if a.next() == "table" {
                let v = a.next() ?? ""
                table = v == "all" ? nil : Self.tableID(v) ?? FIB.tableMain
            }
            return routeShow(table: table, stack)
        }
    }

    /// The order of a dump: IPv4 in key order (fib_trie), IPv6 as fib6's tree walk — a longer
    /// prefix before the shorter one that covers it, else by address.
    /// fib_valid_key_len: an IPv4 destination has no bits past its prefix length (IPv6 masks
    /// them away instead).
    static func checkKeyLength<S: InetFamilyStack>(_ prefix: S.Addr, _ length: Int, _: S.Type) throws(SluiceError) {
        if !S.isIPv6 && LPMTrie<S.Addr>.mask(prefix, length) != prefix {
            throw SluiceError("Error: Invalid prefix for given prefix length.")
        }
    }

    static func dumpOrder<A: InetAddressValue>(_ x: (prefix: A, length: Int, route: RouteOf<A>), _ y: (prefix: A, length: Int, route: RouteOf<A>)) -> Bool {
        if A.bitWidth == 128 {
            let common = min(x.length, y.length)
            if LPMTrie<A>.mask(x.prefix, common) == LPMTrie<A>.mask(y.prefix, common) && x.length != y.length { return x.length > y.length }
        }
        return (x.prefix, x.length, x.route.metric) < (y.prefix, y.length, y.route.metric)
    }

    /// `ip route show [table local|main|all]` as iproute2 prints it (print_route).
    func routeShow<S: InetFamilyStack>(table: UInt32?, _ stack: S) -> String {
        let fib = stack.fib
        var out = ""
        let tables: [FIBTableOf<S.Addr>] = table.map { fib.table($0).map { [$0] } ?? [] } ?? fib.tablesInDumpOrder
        for t in tables {
            for (prefix, length, r) in t.allRoutes.sorted(by: Self.dumpOrder) {
                var s = ""
                if r.type != .unicast { s += r.type.name + " " }
                s += Self.prefixString(prefix, length, S.self)
                if r.nhid != 0 { s += " nhid \(r.nhid)" }
                // An IPv6 route through a group shows it as multipath even with one member.
                let multipath = r.nexthops.count > 1 || (S.isIPv6 && r.nhid != 0 && dp.nexthops.objects[r.nhid]?.isGroup == true && !r.nexthops.isEmpty)
                if r.nexthops.count == 1 && !multipath {
                    let h = r.nexthops[0]
                    if h.gateway != 0 { s += " via \(S.addressString(h.gateway))" }
                    s += " dev \(dp.device(h.dev)?.name ?? "?")"
                } else if r.nexthops.isEmpty && (S.isIPv6 || r.nhid != 0), let lo = dp.device(fib.loopbackIndex), fib.loopbackIndex > 0 {
                    s += " dev \(lo.name)"
                }
                if table == nil && t.id != FIB.tableMain { s += " table \(Self.tableName(t.id))" }
                if r.proto != RouteProtocol.boot { s += " proto \(RouteProtocol.name(r.proto))" }
                if r.scope != RouteScope.universe { s += " scope \(RouteScope.name(r.scope))" }
                if r.prefsrc != 0 { s += " src \(S.addressString(r.prefsrc))" }
                if r.metric != 0 || S.isIPv6 { s += " metric \(r.metric)" }
                if r.nexthops.count == 1 && r.nexthops[0].realm != 0 { s += Self.realmsString(r.nexthops[0].realm) }
                for (i, n) in [(1, "mtu"), (2, "window"), (6, "cwnd"), (7, "advmss"), (8, "reordering"),
                               (9, "hoplimit"), (10, "initcwnd"), (13, "initrwnd")] where i < r.metrics.count && r.metrics[i] != 0 {
                    s += " \(n) \(r.metrics[i])"
                }
                let flags = Datapath.routeFlagWords(dp.routeFlags(r))
                if !flags.isEmpty { s += " " + flags.dropLast() }
                // print_rta_cacheinfo: the ticks left (rounded up, as dumped), in whole seconds.
                if r.expires != 0 {
                    let now = dp.clock.now, tick = 10 * Time.ms
                    let left = r.expires > now ? Int64((r.expires - now + tick - 1) / tick) : -Int64((now - r.expires) / tick)
                    s += " expires \(left / 100)sec"
                }
                if S.isIPv6 { s += " pref \(r.pref == 1 ? "high" : r.pref == 3 ? "low" : "medium")" }
                s += " "
                if multipath {
                    for h in r.nexthops {
                        s += "\n\tnexthop"
                        if h.gateway != 0 { s += " via \(S.addressString(h.gateway))" }
                        s += " dev \(dp.device(h.dev)?.name ?? "?") weight \(h.weight) " + Datapath.routeFlagWords(dp.nexthopFlags(r, h))
                        if h.realm != 0 { s += Self.realmsString(h.realm).dropFirst() + " " }
                    }
                }
                out += s + "\n"
            }
        }
        return out
    }

    // MARK: neigh

    func neigh(_ w: [String], _ opts: Options = Options()) throws(SluiceError) -> String {
        if w.isEmpty || ["show", "list"].contains(w[0]) || (w[0] != "add" && w[0] != "replace" && w[0] != "change" && w[0] != "delete" && w[0] != "flush" && w[0].hasPrefix("s")) {
            var a = Args(Array(w.dropFirst()))
            var devName: String?
            while let k = a.next() { if k == "dev" { devName = try a.value(for: "dev") } }
            let only = try devName.map { n throws(SluiceError) in try device(n) }
            return (opts.family == 6 ? "" : neighShow(only, dp.ipv4)) + (opts.family == 4 ? "" : neighShow(only, dp.ipv6))
        }
        if w[0] == "flush" {
            var a = Args(Array(w.dropFirst()))
            guard a.next() == "dev", let n = a.next() else { throw SluiceError("Flush requires arguments.") }
            let d = try device(n).ifindex
            if opts.family != 6 { dp.ipv4.flushNeighbours(dev: d) }
            if opts.family != 4 { dp.ipv6.flushNeighbours(dev: d) }
            return ""
        }
        return Self.wantsIPv6(Array(w.dropFirst()), opts) ? try neigh(w, dp.ipv6) : try neigh(w, dp.ipv4)
    }

    func neigh<S: InetFamilyStack>(_ w: [String], _ stack: S) throws(SluiceError) -> String {
        var a = Args(Array(w.dropFirst()))
        let what = S.isIPv6 ? "inet6" : "inet"
        switch try match(w[0], ["add", "replace", "change", "delete"], what: "neigh command") {
        case "add", "replace", "change":
            var ip: S.Addr?, mac: MACAddress?, devName: String?, router = false, proxy = false
            var state = NUD.permanent
            while let k = a.next() {
                switch k {
                case "proxy":
                    let v = try a.value(for: "proxy")
                    guard let x = S.parseAddress(v) else { throw SluiceError("Error: an \(what) address is expected rather than \"\(v)\".") }
                    ip = x; proxy = true
                case "lladdr": mac = try a.mac(for: "lladdr")
                case "dev": devName = try a.value(for: "dev")
                case "router" where S.isIPv6: router = true
                case "nud":
                    let v = try a.value(for: "nud")
                    switch v {
                    case "permanent": state = .permanent; case "noarp": state = .noarp
                    case "reachable": state = .reachable; case "stale": state = .stale
                    case "delay": state = .delay; case "probe": state = .probe
                    case "incomplete": state = .incomplete; case "failed": state = .failed; case "none": state = .none
                    default: throw SluiceError("Error: argument \"\(v)\" is wrong: nud state is bad")
                    }
                case "permanent": state = .permanent
                case "to": ip = S.parseAddress(try a.value(for: "to"))
                default:
                    guard let v = S.parseAddress(k) else { throw SluiceError("Error: an \(what) address is expected rather than \"\(k)\".") }
                    ip = v
                }
            }
            if proxy, let ip {
                // neigh_add with NTF_PROXY (pneigh_lookup creating; IPv6's pndisc_constructor
                // wants a device).
                let d = try devName.map { n throws(SluiceError) in try device(n).ifindex } ?? 0
                if S.isIPv6 && d == 0 { throw SluiceError("RTNETLINK answers: No buffer space available") }
                stack.neighbours.addProxy(ProxyNeighbourOf(ip: ip, dev: d, flags: router ? 0x80 : 0, permanent: state == .permanent, proto: 0))
                return ""
            }
            guard let devName, let ip else { throw SluiceError("Device and destination are required arguments.") }
            let dev = try device(devName)
            // ndisc_allow_add.
            if S.isIPv6 && dev.inet6.disabled { throw SluiceError("Error: IPv6 is disabled on this device.") }
            try stack.addNeighbour(dev, ip: ip, mac: mac, state: state, replace: w[0] != "add", router: S.isIPv6 ? router : nil)
            return ""
        default:
            var ip: S.Addr?, devName: String?, proxy = false
            while let k = a.next() {
                if k == "dev" { devName = try a.value(for: "dev") } else {
                    if k == "proxy" { proxy = true }
                    ip = S.parseAddress(k == "to" || k == "proxy" ? (a.next() ?? "") : k)
                }
            }
            if proxy, let ip {
                let d = try devName.map { n throws(SluiceError) in try device(n).ifindex } ?? 0
                guard stack.neighbours.deleteProxy(ip, dev: d) else { throw SluiceError("RTNETLINK answers: No such file or directory") }
                return ""
            }
            guard let devName, let ip else { throw SluiceError("Device and destination are required arguments.") }
            try stack.deleteNeighbour(try device(devName), ip: ip)
            return ""
        }
    }

    /// `ip neigh show` as print_neigh: "ADDR dev DEV lladdr MAC [router] STATE".
    func neighShow<S: InetFamilyStack>(_ only: NetDevice?, _ stack: S) -> String {
        var out = ""
        for e in stack.neighbours.shown where (only == nil || only!.ifindex == e.dev) && e.state != .none {
            var s = "\(S.addressString(e.ip)) dev \(dp.device(e.dev)?.name ?? "?")"
            s += e.state.isValid ? " lladdr \(e.mac) " : "  "
            if e.isRouter { s += "router " }
            out += s + e.state.name + "\n"
        }
        return out
    }
}

/// The neighbour table a `net.ipv{4,6}.neigh.default.*` key names.
enum NeighbourParamsHolder {
    case v4(NeighbourTableOf<UInt32>), v6(NeighbourTableOf<UInt128>)
    var params: NeighbourParams {
        switch self { case .v4(let t): t.params; case .v6(let t): t.params }
    }
    func update(_ f: (inout NeighbourParams) -> Void) {
        switch self { case .v4(let t): f(&t.params); case .v6(let t): f(&t.params) }
    }
    var count: Int { switch self { case .v4(let t): t.count; case .v6(let t): t.count } }
    var allocs: UInt64 { switch self { case .v4(let t): t.allocs; case .v6(let t): t.allocs } }
    var destroys: UInt64 { switch self { case .v4(let t): t.destroys; case .v6(let t): t.destroys } }
    var resFailed: UInt64 { switch self { case .v4(let t): t.resFailed; case .v6(let t): t.resFailed } }
    var tableOverflows: UInt64 { switch self { case .v4(let t): t.tableOverflows; case .v6(let t): t.tableOverflows } }
    var reachableTime: UInt64 { switch self { case .v4(let t): t.tableReachableTime(); case .v6(let t): t.tableReachableTime() } }
    func parms(_ dev: Int32) -> NeighbourParams { switch self { case .v4(let t): t.parms(dev); case .v6(let t): t.parms(dev) } }
    func setDevice(_ dev: Int32, _ p: NeighbourParams) { switch self { case .v4(let t): t.setDeviceParams(dev, p); case .v6(let t): t.setDeviceParams(dev, p) } }
}

extension CommandRunner {
    static let neighbourKeys = ["gc_thresh3", "base_reachable_time_ms", "retrans_time_ms", "delay_first_probe_time", "gc_stale_time",
                                "ucast_solicit", "mcast_solicit", "unres_qlen"]

    /// An integer as procfs reads one (proc_get_long: strtoul's base 0 — 0x for hex, a
    /// leading 0 for octal — after an optional minus sign); nil for anything else.
    static func procInteger(_ s: String) -> Int? {
        var t = Substring(s)
        let negative = t.hasPrefix("-")
        if negative { t = t.dropFirst() }
        let v: Int?
        if t.hasPrefix("0x") || t.hasPrefix("0X") { v = Int(t.dropFirst(2), radix: 16) }
        else if t.count > 1 && t.hasPrefix("0") { v = Int(t.dropFirst(), radix: 8) }
        else { v = t.allSatisfy(\.isASCII) ? Int(t) : nil }
        guard let v, !t.hasPrefix("+") else { return nil }
        return negative ? -v : v
    }

    /// Every key `sysctl` answers, as path components under /proc/sys (a device's directory
    /// under conf keeps its name's dots): what a walk of /proc/sys/net through `sluice exec`
    /// (`sysctl -a`, `sysctl net.ipv4.conf.eth0`) lists.
    func sysctlPaths() -> [[String]] {
        var keys: [[String]] = [["net", "core", "busy_poll"], ["net", "core", "default_qdisc"], ["net", "vrf", "strict_mode"], ["net", "ipv4", "ip_forward"], ["net", "ipv4", "icmp_ratelimit"],
                                ["net", "ipv4", "icmp_msgs_per_sec"], ["net", "ipv4", "icmp_msgs_burst"], ["net", "ipv4", "icmp_ratemask"],
                                ["net", "ipv6", "icmp", "ratelimit"], ["net", "ipv4", "fib_multipath_hash_policy"],
                                ["net", "ipv4", "fib_multipath_hash_fields"], ["net", "ipv4", "fib_multipath_hash_seed"], ["net", "ipv6", "fib_multipath_hash_policy"],
                                ["net", "ipv6", "fib_multipath_hash_fields"]]
        for family in ["ipv4", "ipv6"] { for k in Self.neighbourKeys { keys.append(["net", family, "neigh", "default", k]) } }
        for which in ["all", "default"] + dp.allDevices.map(\.name) {
            for k in InetKnob.allCases { keys.append(["net", "ipv4", "conf", which, k.name]) }
            if let d = dp.device(named: which), d.inet6Absent { continue }
            for k in Inet6Knob.allCases { keys.append(["net", "ipv6", "conf", which, k.name]) }
        }
        return keys
    }

    /// The directory `dir` (components under /proc/sys) as procfs lists it: its entries sorted
    /// by name, a directory's with a trailing slash; nil when it is no directory.
    func sysctlDirectory(_ dir: [String]) -> [String]? {
        var names: [String: Bool] = [:]
        for k in sysctlPaths() where k.count > dir.count && Array(k.prefix(dir.count)) == dir {
            names[k[dir.count], default: false] = names[k[dir.count], default: false] || k.count > dir.count + 1
        }
        guard !names.isEmpty else { return nil }
        return names.keys.sorted().map { names[$0]! ? $0 + "/" : $0 }
    }

    /// `sysctl [-w] KEY=VALUE` / `sysctl KEY`: the kernel knobs the IPv4 and IPv6 stacks have,
    /// with the kernel's names and units (procfs: net.ipv4.*, net.ipv6.*, net.ipv{4,6}.neigh.default.*).
    func sysctl(_ w: [String]) throws(SluiceError) -> String {
        let words = w.filter { $0 != "-w" && $0 != "-q" }
        guard !words.isEmpty else { throw SluiceError("Error: sysctl needs KEY or KEY=VALUE") }
        let v4 = dp.ipv4
        var out = ""
        for word in words {
            let parts = word.split(separator: "=", maxSplits: 1).map { String($0.filter { $0 != " " }) }
            let key = parts[0]
            if key == "net.core.default_qdisc" {
                // A qdisc's name, not a number: the root new devices get.
                if parts.count == 2 { try dp.setDefaultQdisc(parts[1]) }
                out += "\(key) = \(dp.defaultQdiscKind)\n"
                continue
            }
            let value: Int? = parts.count == 2 ? Self.procInteger(parts[1]) : nil
            if parts.count == 2 && value == nil { throw SluiceError("sysctl: invalid value \"\(parts[1])\" for \(key)") }
            let v = value ?? 0
            func set(_ range: ClosedRange<Int>, _ apply: (Int) -> Void) throws(SluiceError) {
                guard let value else { return }
                guard range.contains(value) else { throw SluiceError("sysctl: \(key): \(value) is out of range \(range.lowerBound)…\(range.upperBound)") }
                apply(value)
            }
            let current: Int
            // net.ipv{4,6}.neigh.default.*: the family's neighbour table.
            let neighPrefix = key.hasPrefix("net.ipv6.neigh.default.") ? "net.ipv6.neigh.default." : "net.ipv4.neigh.default."
            let nt: NeighbourParamsHolder = neighPrefix.contains("ipv6") ? .v6(dp.ipv6.neighbours) : .v4(v4.neighbours)
            let p = nt.params
            let v6 = dp.ipv6
            switch key {
            case "net.core.busy_poll":
                // The busy-poll window, µs: every device's now and new devices' (the daemon's
                // --busy-poll); per device, `busy_poll` in the configuration.
                try set(0...Int(Int32.max)) { dp.setBusyPoll(us: $0) }; current = Int(dp.defaultBusyPollNs / Time.us)
            case "net.vrf.strict_mode":
                if let value {
                    guard (0...1).contains(value) else { throw SluiceError("sysctl: \(key): \(value) is out of range 0…1") }
                    try dp.setVRFStrictMode(value == 1)
                }
                current = dp.vrfStrictMode ? 1 : 0
            case "net.ipv4.ip_forward":
                try set(Int(Int32.min)...Int(Int32.max)) { v4.setConf(.all, .forwarding, Int32($0)) }; current = Int(v4.confAll[.forwarding])
            case _ where key.hasPrefix(IPv4Stack.confPrefix):
                // net.ipv4.conf.{all,default,DEV}.KNOB (ipv4/DevConf.swift): any int, as proc_dointvec.
                guard let (target, knob) = v4.confKey(key) else { throw SluiceError("sysctl: cannot stat /proc/sys/\(String(key.map { $0 == "." ? "/" : $0 == "/" ? "." : $0 })): No such file or directory") }
                try set(Int(Int32.min)...Int(Int32.max)) { v4.setConf(target, knob, Int32($0)) }; current = Int(v4.conf(target)[knob])
            case _ where key.hasPrefix(IPv6Stack.confPrefix):
                // net.ipv6.conf.{all,default,DEV}.KNOB (ipv6/DevConf6.swift).
                guard let (target, knob) = v6.confKey(key) else { throw SluiceError("sysctl: cannot stat /proc/sys/\(String(key.map { $0 == "." ? "/" : $0 == "/" ? "." : $0 })): No such file or directory") }
                try set(knob.range(target)) { v6.setConf(target, knob, Int32($0)) }; current = Int(v6.conf(target)[knob])
            case "net.ipv4.fib_multipath_hash_policy":
                try set(0...3) { v4.multipathHashPolicy = UInt8($0) }; current = Int(v4.multipathHashPolicy)
            case "net.ipv6.fib_multipath_hash_policy":
                try set(0...3) { v6.multipathHashPolicy = UInt8($0) }; current = Int(v6.multipathHashPolicy)
            case "net.ipv4.fib_multipath_hash_seed":
                // proc_fib_multipath_hash_seed: a u32 (proc_douintvec_minmax); IPv6 hashes with it too.
                try set(0...Int(UInt32.max)) { v4.multipathHashSeed = UInt32($0); v6.multipathHashSeed = UInt32($0) }; current = Int(v4.multipathHashSeed)
            case "net.ipv4.fib_multipath_hash_fields":
                try set(1...Int(MultipathField.all)) { v4.multipathHashFields = UInt32($0) }; current = Int(v4.multipathHashFields)
            case "net.ipv6.fib_multipath_hash_fields":
                try set(1...Int(MultipathField.all)) { v6.multipathHashFields = UInt32($0) }; current = Int(v6.multipathHashFields)
            case "net.ipv6.icmp.ratelimit":
                try set(0...Int(Int32.max)) { v6.icmpRateLimit = UInt64($0) * Time.ms }; current = Int(v6.icmpRateLimit / Time.ms)
            case "net.ipv4.icmp_ratelimit":
                try set(0...Int(Int32.max)) { v4.icmpRateLimit = UInt64($0) * Time.ms }; current = Int(v4.icmpRateLimit / Time.ms)
            case "net.ipv4.icmp_msgs_per_sec":
                try set(0...Int(Int32.max)) { v4.icmpMsgsPerSec = UInt64($0); v6.icmpMsgsPerSec = UInt64($0) }; current = Int(v4.icmpMsgsPerSec)
            case "net.ipv4.icmp_msgs_burst":
                try set(0...Int(Int32.max)) { v4.icmpMsgsBurst = UInt64($0); v6.icmpMsgsBurst = UInt64($0) }; current = Int(v4.icmpMsgsBurst)
            case "net.ipv4.icmp_ratemask":
                try set(0...Int(UInt32.max)) { v4.icmpRateMask = UInt32($0) }; current = Int(v4.icmpRateMask)
            case neighPrefix + "gc_thresh3":
                try set(1...1_000_000) { _ in nt.update { $0.gcThresh3 = v } }; current = p.gcThresh3
            case neighPrefix + "base_reachable_time_ms":
                try set(1...Int(Int32.max)) { _ in nt.update { $0.baseReachableTime = UInt64(v) * Time.ms } }; current = Int(p.baseReachableTime / Time.ms)
            case neighPrefix + "retrans_time_ms":
                try set(1...Int(Int32.max)) { _ in nt.update { $0.retransTime = UInt64(v) * Time.ms } }; current = Int(p.retransTime / Time.ms)
            case neighPrefix + "delay_first_probe_time":
                try set(1...Int(Int32.max)) { _ in nt.update { $0.delayFirstProbeTime = UInt64(v) * Time.s } }; current = Int(p.delayFirstProbeTime / Time.s)
            case neighPrefix + "gc_stale_time":
                try set(1...Int(Int32.max)) { _ in nt.update { $0.gcStaleTime = UInt64(v) * Time.s } }; current = Int(p.gcStaleTime / Time.s)
            case neighPrefix + "ucast_solicit":
                try set(0...255) { _ in nt.update { $0.ucastProbes = v } }; current = p.ucastProbes
            case neighPrefix + "mcast_solicit":
                try set(0...255) { _ in nt.update { $0.mcastProbes = v } }; current = p.mcastProbes
            case neighPrefix + "unres_qlen":
                try set(0...100_000) { _ in nt.update { $0.unresQueue = v } }; current = p.unresQueue
            default:
                throw SluiceError("sysctl: cannot stat /proc/sys/\(String(key.map { $0 == "." ? "/" : $0 == "/" ? "." : $0 })): No such file or directory")
            }
            out += "\(key) = \(value ?? current)\n"
        }
        return out
    }
}
