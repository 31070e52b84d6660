/// `addr`, `route` and `neigh` in iproute2's words (ip-address(8), ip-route(8), ip-neighbour(8))
/// for the IPv4 stack, parsed to typed values and applied whole; `show` prints as `ip` prints.
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

    /// ADDR[/LEN] (LEN defaults to 32); `default` is 0/0.
    static func parsePrefix(_ s: String) throws(SluiceError) -> (UInt32, Int) {
        if s == "default" || s == "all" { return (0, 0) }
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let a = parseIPv4(parts[0]) else { throw SluiceError("Error: an inet prefix is expected rather than \"\(s)\".") }
        var len = 32
        if parts.count == 2 {
            guard let l = Int(parts[1]), (0...32).contains(l) else { throw SluiceError("Error: an inet prefix is expected rather than \"\(s)\".") }
            len = l
        }
        return (a, len)
    }

    static func prefixString(_ p: UInt32, _ l: Int) -> String { l == 0 && p == 0 ? "default" : (l == 32 ? ipString(p) : "\(ipString(p))/\(l)") }

    // MARK: addr

    func addr(_ w: [String]) throws(SluiceError) -> String {
        guard let verb = w.first else { return addrShow(nil) }
        var a = Args(Array(w.dropFirst()))
        switch try match(verb, ["add", "delete", "show", "list", "flush"], what: "addr command") {
        case "add", "delete":
            var prefix: (UInt32, Int)?, devName: String?, brd: String?
            while let k = a.next() {
                switch k {
                case "dev": devName = try a.value(for: "dev")
                case "broadcast", "brd": brd = try a.value(for: k)
                case "local": prefix = try Self.parsePrefix(try a.value(for: "local"))
                default:
                    guard prefix == nil else { throw SluiceError("Error: either \"local\" is duplicate, or \"\(k)\" is a garbage.") }
                    prefix = try Self.parsePrefix(k)
                }
            }
            guard let devName else { throw SluiceError("Not enough information: \"dev\" argument is required.") }
            guard let (addr, len) = prefix else { throw SluiceError("Not enough information: an address is required.") }
            let dev = try device(devName)
            if verb.hasPrefix("d") { try dp.ipv4.deleteAddress(dev, addr, len); return "" }
            var ia = InetAddress(address: addr, prefixLen: len, broadcast: 0)
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
            for x in dp.ipv4.addresses[dev.ifindex] ?? [] { try? dp.ipv4.deleteAddress(dev, x.address, x.prefixLen) }
            return ""
        default:
            var devName: String?
            while let k = a.next() { if k == "dev" { devName = try a.value(for: "dev") } else { devName = k } }
            return addrShow(try devName.map { n throws(SluiceError) in try device(n) })
        }
    }

    func addrShow(_ only: NetDevice?) -> String {
        var out = ""
        for d in dp.allDevices where only == nil || only === d {
            out += describe(d, stats: false, details: false)
            for a in dp.ipv4.addresses[d.ifindex] ?? [] {
                out += "    inet \(Self.ipString(a.address))/\(a.prefixLen)"
                if a.broadcast != 0 { out += " brd \(Self.ipString(a.broadcast))" }
                out += " scope global\(a.secondary ? " secondary" : "") \(d.name)\n"
                out += "       valid_lft forever preferred_lft forever\n"
            }
        }
        return out
    }

    // MARK: route

    struct RouteSpec {
        var prefix: UInt32 = 0, length = 0, hasPrefix = false
        var route = Route(type: .unicast)
        var table: UInt32 = FIB.tableMain
        var scopeSet = false, protoSet = false, metricSet = false
    }

    func parseRoute(_ a: inout Args) throws(SluiceError) -> RouteSpec {
        var r = RouteSpec()
        var nh = NextHop(dev: 0)
        var haveNH = false
        while let k = a.next() {
            switch k {
            case "via":
                var v = try a.value(for: "via")
                if v == "inet" { v = try a.value(for: "via") }
                guard let g = Self.parseIPv4(v) else { throw SluiceError("Error: an inet address is expected rather than \"\(v)\".") }
                nh.gateway = g; haveNH = true
            case "dev", "oif": nh.dev = try device(try a.value(for: k)).ifindex; haveNH = true
            case "metric", "priority", "preference":
                let v = try a.value(for: k)
                guard let m = UInt32(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: \"metric\" value is invalid") }
                r.route.metric = m; r.metricSet = true
            case "src":
                let v = try a.value(for: "src")
                guard let s = Self.parseIPv4(v) else { throw SluiceError("Error: an inet address is expected rather than \"\(v)\".") }
                r.route.prefsrc = s
            case "proto", "protocol":
                let v = try a.value(for: k)
                switch v {
                case "kernel": r.route.proto = 2; case "boot": r.route.proto = 3; case "static": r.route.proto = 4
                default: guard let n = UInt8(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: \"protocol\" value is invalid") }; r.route.proto = n
                }
                r.protoSet = true
            case "scope":
                let v = try a.value(for: "scope")
                switch v {
                case "global", "universe": r.route.scope = 0; case "link": r.route.scope = 253; case "host": r.route.scope = 254
                default: guard let n = UInt8(v) else { throw SluiceError("Error: argument \"\(v)\" is wrong: \"scope\" value is invalid") }; r.route.scope = n
                }
                r.scopeSet = true
            case "table":
                let v = try a.value(for: "table")
                switch v {
                case "main": r.table = FIB.tableMain; case "local": r.table = FIB.tableLocal
                default: guard let n = UInt32(v), n == 254 || n == 255 else { throw SluiceError("Error: only the main and local tables exist in Sluice, not \"\(v)\"") }; r.table = n
                }
            case "onlink": nh.onlink = true
            case "nexthop":
                var h = NextHop(dev: 0)
                while a.i < a.words.count, ["via", "dev", "weight", "onlink"].contains(a.words[a.i]) {
                    let kk = a.next()!
                    switch kk {
                    case "via":
                        let v = try a.value(for: "via")
                        guard let g = Self.parseIPv4(v) else { throw SluiceError("Error: an inet address is expected rather than \"\(v)\".") }
                        h.gateway = g
                    case "dev": h.dev = try device(try a.value(for: "dev")).ifindex
                    case "weight": h.weight = try a.int(for: "weight", 1...256)
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
                (r.prefix, r.length) = try Self.parsePrefix(word)
                r.hasPrefix = true
            }
        }
        if haveNH && r.route.nexthops.isEmpty { r.route.nexthops = [nh] }
        return r
    }

    /// fib_check_nh for a route to be added: a gateway must be reachable directly (a connected
    /// route covers it) unless onlink; the device is the one that route uses when not named.
    func resolveNextHops(_ r: inout RouteSpec) throws(SluiceError) {
        if r.table == FIB.tableLocal && r.route.type == .unicast && !r.protoSet { r.route.type = .local }
        guard r.route.type == .unicast || r.route.type == .local || r.route.type == .broadcast else {
            r.route.nexthops = []
            return
        }
        guard !r.route.nexthops.isEmpty else { throw SluiceError("Error: Device for nexthop is not up.") }
        for i in r.route.nexthops.indices {
            var h = r.route.nexthops[i]
            if h.gateway != 0 && !h.onlink {
                guard let via = dp.ipv4.fib.main.lookup(h.gateway, hash: 0), via.type == .unicast, via.gateway == 0,
                      h.dev == 0 || via.dev == h.dev else {
                    throw SluiceError("Error: Nexthop has invalid gateway.")
                }
                h.dev = via.dev
            }
            guard h.dev != 0, let d = dp.device(h.dev) else { throw SluiceError("Error: Device for nexthop is not up.") }
            guard d.isUp else { throw SluiceError("Error: Device for nexthop is not up.") }
            r.route.nexthops[i] = h
        }
        if !r.scopeSet {
            // rtm_scope: link for a route without a gateway, host for local, else universe.
            if r.route.type == .local { r.route.scope = RouteScope.host }
            else if r.route.nexthops.allSatisfy({ $0.gateway == 0 }) { r.route.scope = RouteScope.link }
        }
    }

    func route(_ w: [String]) throws(SluiceError) -> String {
        guard let verb = w.first else { return routeShow(table: FIB.tableMain) }
        var a = Args(Array(w.dropFirst()))
        let fib = dp.ipv4.fib
        switch try match(verb, ["add", "delete", "replace", "change", "append", "prepend", "show", "list", "get", "flush"], what: "route command") {
        case "add", "replace", "change", "append", "prepend":
            var r = try parseRoute(&a)
            guard r.hasPrefix else { throw SluiceError("Error: a destination prefix is required") }
            if !r.protoSet { r.route.proto = RouteProtocol.boot }
            try resolveNextHops(&r)
            guard let t = fib.table(r.table) else { throw SluiceError("Error: no such table") }
            if verb == "change" && t.entry(LPMTrie<UInt32>.mask(r.prefix, r.length), r.length) == nil {
                throw SluiceError("RTNETLINK answers: No such file or directory")
            }
            try t.insert(r.prefix, r.length, r.route, replace: verb == "replace" || verb == "change",
                         exclusive: verb == "add", append: verb == "append")
            return ""
        case "delete":
            let r = try parseRoute(&a)
            guard r.hasPrefix, let t = fib.table(r.table) else { throw SluiceError("Error: a destination prefix is required") }
            let spec = r
            let ok = t.delete(r.prefix, r.length) { x in
                (!spec.metricSet || x.metric == spec.route.metric) && (spec.route.nexthops.isEmpty || x.nexthops.first?.gateway == spec.route.nexthops.first?.gateway || spec.route.nexthops.first?.gateway == 0)
                    && (spec.route.nexthops.first.map { $0.dev == 0 || x.nexthops.first?.dev == $0.dev } ?? true)
                    && (!spec.protoSet || x.proto == spec.route.proto)
            }
            guard ok else { throw SluiceError("RTNETLINK answers: No such process") }
            return ""
        case "get":
            guard let w = a.next(), let addr = Self.parseIPv4(w == "to" ? (a.next() ?? "") : w) else {
                throw SluiceError("Error: an inet address is expected")
            }
            guard let r = fib.lookup(addr, hash: IPv4Stack.flowHash(0, addr)) else { throw SluiceError("RTNETLINK answers: Network is unreachable") }
            switch r.type {
            case .unreachable: throw SluiceError("RTNETLINK answers: No route to host")
            case .prohibit: throw SluiceError("RTNETLINK answers: Permission denied")
            case .blackhole: throw SluiceError("RTNETLINK answers: Invalid argument")
            default: break
            }
            let dev = dp.device(r.dev)?.name ?? "?"
            let src = r.prefsrc != 0 ? r.prefsrc : dp.ipv4.sourceAddress(r.dev, toward: addr)
            var s = r.type == .local ? "local \(Self.ipString(addr)) dev \(dev)" : "\(Self.ipString(addr))"
            if r.type != .local {
                if r.gateway != 0 { s += " via \(Self.ipString(r.gateway))" }
                s += " dev \(dev)"
            }
            if src != 0 { s += " src \(Self.ipString(src))" }
            return s + "\n"
        case "flush":
            var r = try parseRoute(&a)
            if !r.hasPrefix { r.prefix = 0 }
            let spec = r
            fib.table(r.table)?.deleteAll { x in (!spec.protoSet || x.proto == spec.route.proto) && x.proto != RouteProtocol.kernel }
            return ""
        default:
            var table = FIB.tableMain
            if a.next() == "table" {
                let v = a.next() ?? ""
                table = v == "local" ? FIB.tableLocal : v == "all" ? 0 : FIB.tableMain
            }
            return routeShow(table: table)
        }
    }

    /// `ip route show [table local|main|all]` as iproute2 prints it (print_route).
    func routeShow(table: UInt32) -> String {
        let fib = dp.ipv4.fib
        var out = ""
        let tables: [FIBTable] = table == 0 ? [fib.main, fib.local] : [fib.table(table) ?? fib.main]
        for t in tables {
            for (prefix, length, r) in t.allRoutes {
                var s = ""
                if r.type != .unicast { s += r.type.name + " " }
                s += Self.prefixString(prefix, length)
                if r.nexthops.count == 1 {
                    let h = r.nexthops[0]
                    if h.gateway != 0 { s += " via \(Self.ipString(h.gateway))" }
                    s += " dev \(dp.device(h.dev)?.name ?? "?")"
                }
                if table == 0 && t.id == FIB.tableLocal { s += " table local" }
                if r.proto != RouteProtocol.boot { s += " proto \(RouteProtocol.name(r.proto))" }
                if r.scope != RouteScope.universe { s += " scope \(RouteScope.name(r.scope))" }
                if r.prefsrc != 0 { s += " src \(Self.ipString(r.prefsrc))" }
                if r.metric != 0 { s += " metric \(r.metric)" }
                if r.nexthops.count == 1 && r.nexthops[0].onlink { s += " onlink" }
                s += " "
                if r.nexthops.count > 1 {
                    for h in r.nexthops {
                        s += "\n\tnexthop"
                        if h.gateway != 0 { s += " via \(Self.ipString(h.gateway))" }
                        s += " dev \(dp.device(h.dev)?.name ?? "?") weight \(h.weight) "
                    }
                }
                out += s + "\n"
            }
        }
        return out
    }

    // MARK: neigh

    func neigh(_ w: [String]) throws(SluiceError) -> String {
        guard let verb = w.first else { return neighShow(nil) }
        var a = Args(Array(w.dropFirst()))
        switch try match(verb, ["add", "replace", "change", "delete", "show", "list", "flush"], what: "neigh command") {
        case "add", "replace", "change":
            var ip: UInt32?, mac: MACAddress?, devName: String?
            var state = NUD.permanent
            while let k = a.next() {
                switch k {
                case "lladdr": mac = try a.mac(for: "lladdr")
                case "dev": devName = try a.value(for: "dev")
                case "nud":
                    let v = try a.value(for: "nud")
                    switch v {
                    case "permanent": state = .permanent; case "noarp": state = .noarp
                    case "reachable": state = .reachable; case "stale": state = .stale
                    default: throw SluiceError("Error: argument \"\(v)\" is wrong: nud state is bad")
                    }
                case "permanent": state = .permanent
                case "to": ip = Self.parseIPv4(try a.value(for: "to"))
                default:
                    guard let v = Self.parseIPv4(k) else { throw SluiceError("Error: an inet address is expected rather than \"\(k)\".") }
                    ip = v
                }
            }
            guard let devName, let ip else { throw SluiceError("Device and destination are required arguments.") }
            guard let mac else { throw SluiceError("Error: lladdr is required") }
            try dp.ipv4.addNeighbour(try device(devName), ip: ip, mac: mac, state: state, replace: verb != "add")
            return ""
        case "delete":
            var ip: UInt32?, devName: String?
            while let k = a.next() {
                if k == "dev" { devName = try a.value(for: "dev") } else { ip = Self.parseIPv4(k == "to" ? (a.next() ?? "") : k) }
            }
            guard let devName, let ip else { throw SluiceError("Device and destination are required arguments.") }
            try dp.ipv4.deleteNeighbour(try device(devName), ip: ip)
            return ""
        case "flush":
            guard a.next() == "dev", let n = a.next() else { throw SluiceError("Flush requires arguments.") }
            dp.ipv4.flushNeighbours(dev: try device(n).ifindex)
            return ""
        default:
            var devName: String?
            while let k = a.next() { if k == "dev" { devName = try a.value(for: "dev") } }
            return neighShow(try devName.map { n throws(SluiceError) in try device(n) })
        }
    }

    /// `ip neigh show` as print_neigh: "ADDR dev DEV lladdr MAC [router] STATE".
    func neighShow(_ only: NetDevice?) -> String {
        var out = ""
        for e in dp.ipv4.neighbours.shown where only == nil || only!.ifindex == e.dev {
            var s = "\(Self.ipString(e.ip)) dev \(dp.device(e.dev)?.name ?? "?")"
            s += e.state.isValid ? " lladdr \(e.mac) " : "  "
            out += s + e.state.name + "\n"
        }
        return out
    }
}

extension CommandRunner {
    /// `sysctl [-w] KEY=VALUE` / `sysctl KEY`: the kernel knobs the IPv4 stack has, with the
    /// kernel's names and units (procfs: net.ipv4.*, net.ipv4.neigh.default.*).
    func sysctl(_ w: [String]) throws(SluiceError) -> String {
        let words = w.filter { $0 != "-w" && $0 != "-q" }
        guard !words.isEmpty else { throw SluiceError("Error: sysctl needs KEY or KEY=VALUE") }
        let v4 = dp.ipv4
        var out = ""
        for word in words {
            let parts = word.split(separator: "=", maxSplits: 1).map { String($0.filter { $0 != " " }) }
            let key = parts[0]
            let value: Int? = parts.count == 2 ? Int(parts[1]) : nil
            if parts.count == 2 && value == nil { throw SluiceError("sysctl: invalid value \"\(parts[1])\" for \(key)") }
            func set(_ range: ClosedRange<Int>, _ apply: (Int) -> Void) throws(SluiceError) {
                guard let value else { return }
                guard range.contains(value) else { throw SluiceError("sysctl: \(key): \(value) is out of range \(range.lowerBound)…\(range.upperBound)") }
                apply(value)
            }
            let p = v4.neighbours.params
            let current: Int
            switch key {
            case "net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding":
                try set(0...1) { v4.forwarding = $0 == 1 }; current = v4.forwarding ? 1 : 0
            case "net.ipv4.conf.all.arp_ignore", "net.ipv4.conf.default.arp_ignore":
                try set(0...1) { v4.arpIgnore = $0 }; current = v4.arpIgnore
            case "net.ipv4.icmp_ratelimit":
                try set(0...Int(Int32.max)) { v4.icmpRateLimit = UInt64($0) * Time.ms }; current = Int(v4.icmpRateLimit / Time.ms)
            case "net.ipv4.icmp_msgs_per_sec":
                try set(0...Int(Int32.max)) { v4.icmpMsgsPerSec = UInt64($0) }; current = Int(v4.icmpMsgsPerSec)
            case "net.ipv4.icmp_msgs_burst":
                try set(0...Int(Int32.max)) { v4.icmpMsgsBurst = UInt64($0) }; current = Int(v4.icmpMsgsBurst)
            case "net.ipv4.icmp_ratemask":
                try set(0...Int(UInt32.max)) { v4.icmpRateMask = UInt32($0) }; current = Int(v4.icmpRateMask)
            case "net.ipv4.neigh.default.gc_thresh3":
                try set(1...1_000_000) { v4.neighbours.params.gcThresh3 = $0 }; current = v4.neighbours.params.gcThresh3
            case "net.ipv4.neigh.default.base_reachable_time_ms":
                try set(1...Int(Int32.max)) { v4.neighbours.params.baseReachableTime = UInt64($0) * Time.ms }; current = Int(p.baseReachableTime / Time.ms)
            case "net.ipv4.neigh.default.retrans_time_ms":
                try set(1...Int(Int32.max)) { v4.neighbours.params.retransTime = UInt64($0) * Time.ms }; current = Int(p.retransTime / Time.ms)
            case "net.ipv4.neigh.default.delay_first_probe_time":
                try set(1...Int(Int32.max)) { v4.neighbours.params.delayFirstProbeTime = UInt64($0) * Time.s }; current = Int(p.delayFirstProbeTime / Time.s)
            case "net.ipv4.neigh.default.gc_stale_time":
                try set(1...Int(Int32.max)) { v4.neighbours.params.gcStaleTime = UInt64($0) * Time.s }; current = Int(p.gcStaleTime / Time.s)
            case "net.ipv4.neigh.default.ucast_solicit":
                try set(0...255) { v4.neighbours.params.ucastProbes = $0 }; current = p.ucastProbes
            case "net.ipv4.neigh.default.mcast_solicit":
                try set(0...255) { v4.neighbours.params.mcastProbes = $0 }; current = p.mcastProbes
            case "net.ipv4.neigh.default.unres_qlen":
                try set(0...100_000) { v4.neighbours.params.unresQueue = $0 }; current = p.unresQueue
            default:
                throw SluiceError("sysctl: cannot stat /proc/sys/\(String(key.map { $0 == "." ? "/" : $0 })): No such file or directory")
            }
            out += "\(key) = \(value ?? current)\n"
        }
        return out
    }
}
