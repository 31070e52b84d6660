#if canImport(Glibc)
import Glibc
#endif

/// IPv4 and IPv6 addresses, routes and neighbours over rtnetlink, as devinet.c and addrconf.c
/// (inet_rtm_newaddr, inet6_rtm_newaddr, inet_fill_ifaddr, inet6_fill_ifaddr),
/// fib_frontend.c/fib_semantics.c and ip6_fib.c/route.c (inet_rtm_newroute, inet6_rtm_newroute,
/// fib_dump_info, rt6_fill_node, inet_rtm_getroute, inet6_rtm_getroute) and neighbour.c
/// (neigh_fill_info, neigh_add, neigh_delete) put them on the wire: what `ip addr`, `ip route`
/// and `ip neigh` (with -4 or -6) send and read. Requests become the command language's typed
/// values and go through the same apply step; one generic path serves both families.
/// Not yet: IFA_F_MCAUTOJOIN and IFA_F_TEMPORARY (Sluice makes no temporary addresses),
/// nexthop objects.
enum IFA {
    static let ADDRESS: UInt16 = 1, LOCAL: UInt16 = 2, LABEL: UInt16 = 3, BROADCAST: UInt16 = 4
    static let CACHEINFO: UInt16 = 6, FLAGS: UInt16 = 8, RT_PRIORITY: UInt16 = 9
    static let F_SECONDARY: UInt32 = 0x01, F_NODAD: UInt32 = 0x02, F_OPTIMISTIC: UInt32 = 0x04, F_DEPRECATED: UInt32 = 0x20, F_PERMANENT: UInt32 = 0x80
    static let F_NOPREFIXROUTE: UInt32 = 0x200
    /// ifa_ipv4_policy and ifa_ipv6_policy together (IFA_CACHEINFO: struct ifa_cacheinfo).
    static let policy = NLAPolicy(maxType: 12, [ADDRESS: .binary(maxLength: 16), LOCAL: .binary(maxLength: 16),
                                                LABEL: .string(maxLength: 15), BROADCAST: .binary(maxLength: 16), FLAGS: .u32,
                                                CACHEINFO: .minLength(16), RT_PRIORITY: .u32])
}

enum RTA {
    static let DST: UInt16 = 1, SRC: UInt16 = 2, IIF: UInt16 = 3, OIF: UInt16 = 4, GATEWAY: UInt16 = 5
    static let PRIORITY: UInt16 = 6, PREFSRC: UInt16 = 7, METRICS: UInt16 = 8, MULTIPATH: UInt16 = 9
    static let FLOW: UInt16 = 11, CACHEINFO: UInt16 = 12, TABLE: UInt16 = 15, MARK: UInt16 = 16, PREF: UInt16 = 20, EXPIRES: UInt16 = 23, UID: UInt16 = 25
    static let IP_PROTO: UInt16 = 27, SPORT: UInt16 = 28, DPORT: UInt16 = 29, NH_ID: UInt16 = 30
    static let RTM_F_CLONED: UInt32 = 0x200, RTNH_F_DEAD: UInt8 = 1, RTNH_F_ONLINK: UInt8 = 4, RTNH_F_LINKDOWN: UInt8 = 16
    static let RTAX_MTU: UInt16 = 2, RTAX_HOPLIMIT: UInt16 = 10, RTAX_ADVMSS: UInt16 = 8, RTAX_FEATURES: UInt16 = 12
    static let RTAX_CC_ALGO: UInt16 = 16, RTAX_MAX: UInt16 = 17, RTAX_FEATURE_MASK: UInt32 = 0x1F
    static let policy = NLAPolicy(maxType: 30, [DST: .u32, SRC: .u32, IIF: .u32, OIF: .u32, GATEWAY: .u32, PRIORITY: .u32,
                                                PREFSRC: .u32, METRICS: .unspec, MULTIPATH: .unspec, FLOW: .u32, TABLE: .u32, MARK: .u32, UID: .u32,
                                                IP_PROTO: .u8, SPORT: .u16, DPORT: .u16, NH_ID: .u32])
    /// rtm_ipv6_policy: addresses are 16 bytes.
    static let policy6 = NLAPolicy(maxType: 30, [DST: .binary(maxLength: 16), SRC: .binary(maxLength: 16), IIF: .u32, OIF: .u32,
                                                 GATEWAY: .binary(maxLength: 16), PRIORITY: .u32, PREFSRC: .binary(maxLength: 16),
                                                 METRICS: .unspec, MULTIPATH: .unspec, TABLE: .u32, MARK: .u32, PREF: .u8, EXPIRES: .u32, UID: .u32,
                                                 IP_PROTO: .u8, SPORT: .u16, DPORT: .u16, NH_ID: .u32])
}

extension RtnlProcessor {
    static let AF_INET: UInt8 = 2, AF_INET6: UInt8 = 10

    @inline(__always) static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    static func addr(_ s: ArraySlice<UInt8>?) -> UInt32? { addr(s, UInt32.self) }

    /// An address of either family, big-endian, as the attribute carries it.
    static func bytes<A: InetAddressValue>(_ v: A) -> [UInt8] {
        (0..<(A.bitWidth / 8)).map { UInt8(truncatingIfNeeded: v >> (A.bitWidth - 8 - 8 * $0)) }
    }
    static func addr<A: InetAddressValue>(_ s: ArraySlice<UInt8>?, _: A.Type) -> A? {
        guard let s, s.count == A.bitWidth / 8 else { return nil }
        return s.reduce(A(0)) { $0 << 8 | A($1) }
    }
    static func family<S: InetFamilyStack>(_: S.Type) -> UInt8 { S.isIPv6 ? AF_INET6 : AF_INET }

    // MARK: addresses

    /// inet_fill_ifaddr. `now` gives the lifetimes left (a dump); without it they are reported
    /// as set (a notification, so that a snapshot does not change with the clock).
    func encodeAddr(_ d: NetDevice, _ a: InetAddress, type: UInt16, flags: UInt16, seq: UInt32, now: UInt64? = nil, _ w: inout NetlinkWriter) {
        let start = w.begin(type: type, flags: flags, seq: seq, pid: pid)
        let f = (a.permanent ? IFA.F_PERMANENT : 0) | (a.secondary ? IFA.F_SECONDARY : 0) | (a.deprecated ? IFA.F_DEPRECATED : 0)
            | (a.noPrefixRoute ? IFA.F_NOPREFIXROUTE : 0)
        w.put8(Self.AF_INET); w.put8(UInt8(a.prefixLen)); w.put8(UInt8(truncatingIfNeeded: f)); w.put8(a.scope)
        w.put32(UInt32(bitPattern: d.ifindex))
        w.attr(IFA.ADDRESS, Self.be32(a.peer))
        w.attr(IFA.LOCAL, Self.be32(a.address))
        if a.broadcast != 0 { w.attr(IFA.BROADCAST, Self.be32(a.broadcast)) }
        w.attr(IFA.LABEL, string: a.label ?? d.name)
        w.attr(IFA.FLAGS, u32: f)
        if a.metric != 0 { w.attr(IFA.RT_PRIORITY, u32: a.metric) }
        let left = now.map { a.remaining(at: $0) } ?? (a.validLft, a.preferredLft)
        var ci = NetlinkWriter()
        ci.put32(left.1); ci.put32(left.0); ci.put32(0); ci.put32(0)    // preferred, valid, cstamp, tstamp
        w.attr(IFA.CACHEINFO, ci.bytes)
        w.end(start)
    }

    /// inet6_fill_ifaddr: IFA_ADDRESS only, scope link for link-local, the lifetimes left.
    func encodeAddr6(_ d: NetDevice, _ a: Inet6Address, type: UInt16, flags: UInt16, seq: UInt32, _ w: inout NetlinkWriter) {
        let start = w.begin(type: type, flags: flags, seq: seq, pid: pid)
        // IFA_F_TENTATIVE 0x40, IFA_F_DADFAILED 0x08, IFA_F_STABLE_PRIVACY 0x800.
        let f = (a.permanent ? IFA.F_PERMANENT : 0) | (a.nodad ? IFA.F_NODAD : 0) | (a.stablePrivacy ? 0x800 : 0) | (a.tentative ? 0x40 : 0)
            | (a.optimistic ? IFA.F_OPTIMISTIC : 0)
            | (a.dadFailed ? 0x08 : 0) | (a.deprecated ? IFA.F_DEPRECATED : 0) | (a.noPrefixRoute ? IFA.F_NOPREFIXROUTE : 0) | a.userFlags
        w.put8(Self.AF_INET6); w.put8(UInt8(a.prefixLen)); w.put8(UInt8(truncatingIfNeeded: f)); w.put8(a.scope)
        w.put32(UInt32(bitPattern: d.ifindex))
        w.attr(IFA.ADDRESS, Self.bytes(a.address))
        if a.metric != 0 { w.attr(IFA.RT_PRIORITY, u32: a.metric) }
        let left = a.remaining(at: dp.clock.now)
        var ci = NetlinkWriter()
        ci.put32(left.preferred); ci.put32(left.valid); ci.put32(0); ci.put32(0)
        w.attr(IFA.CACHEINFO, ci.bytes)
        w.attr(IFA.FLAGS, u32: f)
        w.end(start)
    }

    /// inet_dump_ifaddr (every device, or one with strict checking's ifa_index).
    func dumpAddrs(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        let p = msg.payload
        let family = p.first ?? 0
        var only: Int32 = 0
        if strictCheck && p.count >= 8 { only = Int32(bitPattern: p.le32(at: 4)) }
        var parts = DumpParts(limit: bufferSize)
        let now = dp.clock.now
        // check_lifetime runs when a lifetime ends; Sluice's housekeeping at most a second
        // later, so a dump runs it first and never shows what the kernel would have removed.
        dp.ipv4.expireAddresses(now)
        dp.ipv6.expireAddresses(now)
        dp.ipv6.expireRoutes(now)
        if family == 0 || family == Self.AF_INET {
            for d in dp.allDevices where only == 0 || d.ifindex == only {
                for a in dp.ipv4.addresses[d.ifindex] ?? [] {
                    parts.add { w in encodeAddr(d, a, type: NL.RTM_NEWADDR, flags: NL.F_MULTI, seq: msg.header.seq, now: now, &w) }
                }
            }
        }
        if family == 0 || family == Self.AF_INET6 {
            for d in dp.allDevices where only == 0 || d.ifindex == only {
                for a in dp.ipv6.addresses[d.ifindex] ?? [] {
                    parts.add { w in encodeAddr6(d, a, type: NL.RTM_NEWADDR, flags: NL.F_MULTI, seq: msg.header.seq, &w) }
                }
            }
        }
        parts.finish(seq: msg.header.seq, pid: pid, into: &replies)
    }

    /// inet_rtm_newaddr / inet_rtm_deladdr.
    func changeAddr(_ msg: NetlinkMessage, delete: Bool) throws(NetlinkError) {
        let p = msg.payload
        guard p.count >= 8 else { throw NetlinkError(EINVAL, "Invalid header for address request") }
        if p[p.startIndex] == Self.AF_INET6 { try changeAddr6(msg, delete: delete); return }
        // rtnetlink has no address handler for any other family: the errno alone.
        guard p[p.startIndex] == Self.AF_INET else { throw NetlinkError(EOPNOTSUPP) }
        let plen = Int(p[p.startIndex + 1])
        guard plen <= 32 else { throw NetlinkError(EINVAL, "Invalid prefix length") }
        let a = try NLAttributes.parse(p.dropFirst(8), base: NL.hdrLen + 8, policy: IFA.policy, strict: false)
        guard let dev = dp.device(Int32(bitPattern: p.le32(at: 4))) else { throw NetlinkError(ENODEV) }
        let scope = p[p.startIndex + 3]
        let label = a.string(IFA.LABEL)
        if delete {
            // inet_rtm_deladdr: by local address, prefix (IFA_ADDRESS) and label, as given.
            let peer = Self.addr(a[IFA.ADDRESS])
            guard let found = dp.ipv4.findAddress(dev, local: Self.addr(a[IFA.LOCAL]), prefixLen: peer == nil ? nil : plen, peer: peer, label: label) else {
                throw NetlinkError(EADDRNOTAVAIL, "ipv4: Address not found")
            }
            do { try dp.ipv4.deleteAddress(dev, found.address, found.prefixLen) } catch { throw Self.netlinkError(error) }
            return
        }
        // rtm_to_ifaddr: IFA_LOCAL, else IFA_ADDRESS; the peer is IFA_ADDRESS.
        guard let local = Self.addr(a[IFA.LOCAL]) ?? Self.addr(a[IFA.ADDRESS]) else { throw NetlinkError(EINVAL, "ipv4: Local address is not supplied") }
        var valid = UInt32.max, preferred = UInt32.max
        if let ci = a[IFA.CACHEINFO] {
            guard ci.count >= 16 else { throw NetlinkError(ERANGE, "Attribute failed policy validation", offset: a.offsets[IFA.CACHEINFO]) }
            preferred = ci.le32(at: 0); valid = ci.le32(at: 4)
            guard valid != 0, preferred <= valid else { throw NetlinkError(EINVAL, "ipv4: address lifetime invalid") }
        }
        var ia = InetAddress(address: local, prefixLen: plen, broadcast: Self.addr(a[IFA.BROADCAST]) ?? 0,
                             peer: Self.addr(a[IFA.ADDRESS]) ?? local, label: label == dev.name ? nil : label, scope: scope)
        ia.setLifetimes(valid: valid, preferred: preferred, now: dp.clock.now)
        ia.noPrefixRoute = (a.u32(IFA.FLAGS) ?? UInt32(p[p.startIndex + 2])) & IFA.F_NOPREFIXROUTE != 0
        ia.metric = a.u32(IFA.RT_PRIORITY) ?? 0
        // find_matching_ifa: the same local address on the same subnet and length.
        if let old = dp.ipv4.addresses[dev.ifindex]?.first(where: { $0.address == local && $0.mask == ia.mask && $0.matches(ia.peer) }) {
            guard msg.header.flags & NL.F_EXCL == 0, msg.header.flags & NL.F_REPLACE != 0 else {
                throw NetlinkError(EEXIST, "ipv4: Address already assigned")
            }
            dp.ipv4.setMetric(dev, old.address, old.prefixLen, ia.metric)
            dp.ipv4.setLifetimes(dev, old.address, old.prefixLen, valid: valid, preferred: preferred)
            return
        }
        do { try dp.ipv4.addAddress(dev, ia) } catch { throw Self.netlinkError(error) }
    }

    /// inet6_rtm_newaddr / inet6_rtm_deladdr.
    func changeAddr6(_ msg: NetlinkMessage, delete: Bool) throws(NetlinkError) {
        let p = msg.payload
        let plen = Int(p[p.startIndex + 1])
        guard plen <= 128 else { throw NetlinkError(EINVAL, "Invalid prefix length") }
        let a = try NLAttributes.parse(p.dropFirst(8), base: NL.hdrLen + 8, policy: IFA.policy, strict: false)
        guard let dev = dp.device(Int32(bitPattern: p.le32(at: 4))) else { throw NetlinkError(ENODEV) }
        guard let local = Self.addr(a[IFA.LOCAL], UInt128.self) ?? Self.addr(a[IFA.ADDRESS], UInt128.self) else { throw NetlinkError(EINVAL, "ipv6: Invalid address") }
        do {
            if delete {
                try dp.ipv6.deleteAddress(dev, local, plen)
            } else {
                // inet6_rtm_newaddr: lifetimes from IFA_CACHEINFO (forever without), checked.
                var valid = UInt32.max, preferred = UInt32.max
                if let ci = a[IFA.CACHEINFO] {
                    guard ci.count >= 16 else { throw NetlinkError(ERANGE, "Attribute failed policy validation", offset: a.offsets[IFA.CACHEINFO]) }
                    preferred = ci.le32(at: 0); valid = ci.le32(at: 4)
                }
                guard valid != 0, preferred <= valid else { throw NetlinkError(EINVAL, "ipv6: address lifetime invalid") }
                let flags = a.u32(IFA.FLAGS) ?? UInt32(p[p.startIndex + 2])
                let nodad = flags & IFA.F_NODAD != 0, noPrefixRoute = flags & IFA.F_NOPREFIXROUTE != 0
                // inet6_rtm_newaddr: IFA_F_OPTIMISTIC is dropped unless optimistic_dad is on.
                let optimistic = flags & IFA.F_OPTIMISTIC != 0 && dev.inet6.optimisticDAD
                if nodad && optimistic { throw NetlinkError(EINVAL, "IFA_F_NODAD and IFA_F_OPTIMISTIC are mutually exclusive") }
                let userFlags = flags & Inet6Address.userFlagMask
                // inet6_addr_add / inet6_addr_modify: mngtmpaddr only on a /64.
                if flags & 0x100 != 0 && plen != 64 {
                    throw NetlinkError(EINVAL, "ipv6: address with \"mngtmpaddr\" flag must have a prefix length of 64")
                }
                if flags & 0x400 != 0 { throw NetlinkError(EOPNOTSUPP, "ipv6: autojoin (IFA_F_MCAUTOJOIN) is not implemented in Sluice") }
                if dp.ipv6.addresses[dev.ifindex]?.contains(where: { $0.address == local }) ?? false {
                    // An existing address: NLM_F_REPLACE without NLM_F_EXCL modifies it.
                    if msg.header.flags & NL.F_EXCL != 0 || msg.header.flags & NL.F_REPLACE == 0 {
                        throw NetlinkError(EEXIST, "ipv6: address already assigned")
                    }
                    dp.ipv6.modifyAddress(dev, local, valid: valid, preferred: preferred, nodad: nodad, noPrefixRoute: noPrefixRoute,
                                          userFlags: userFlags, metric: a.u32(IFA.RT_PRIORITY) ?? 0, optimistic: optimistic)
                    return
                }
                var ia = Inet6Address(address: local, prefixLen: plen, nodad: nodad)
                ia.noPrefixRoute = noPrefixRoute
                ia.optimistic = optimistic
                ia.userFlags = userFlags
                ia.metric = a.u32(IFA.RT_PRIORITY) ?? 0
                ia.setLifetimes(valid: valid, preferred: preferred, now: dp.clock.now)
                try dp.ipv6.addAddress(dev, ia)
            }
        } catch let e as NetlinkError { throw e } catch {
            let m = (error as! SluiceError).message
            throw m.contains("not found") ? NetlinkError(EADDRNOTAVAIL, "ipv6: address not found") : Self.netlinkError(error as! SluiceError)
        }
    }

    // MARK: routes

    func encodeRoute<A: InetAddressValue>(table: UInt32, _ prefix: A, _ length: Int, _ r: RouteOf<A>, seq: UInt32, _ w: inout NetlinkWriter) {
        let v6 = A.bitWidth == 128
        let start = w.begin(type: NL.RTM_NEWROUTE, flags: NL.F_MULTI, seq: seq, pid: pid)
        w.put8(v6 ? Self.AF_INET6 : Self.AF_INET); w.put8(UInt8(length)); w.put8(0); w.put8(r.tos)
        w.put8(table < 256 ? UInt8(table) : 252); w.put8(r.proto); w.put8(r.scope); w.put8(r.type.rawValue)
        let flags = dp.routeFlags(r)
        w.put32(UInt32(flags))
        w.attr(RTA.TABLE, u32: table)
        if length > 0 { w.attr(RTA.DST, Self.bytes(prefix)) }
        if r.metric != 0 || v6 { w.attr(RTA.PRIORITY, u32: r.metric) }
        Self.putMetrics(r.metrics, &w)
        if r.prefsrc != 0 { w.attr(RTA.PREFSRC, Self.bytes(r.prefsrc)) }
        // fib_dump_info / rt6_fill_node with a nexthop object: its id, then (compat mode, the
        // default) what it resolves to — an IPv6 route's group always as RTA_MULTIPATH.
        if r.nhid != 0 { w.attr(RTA.NH_ID, u32: r.nhid) }
        let asMultipath = r.nexthops.count > 1 || (v6 && r.nhid != 0 && dp.nexthops.objects[r.nhid]?.isGroup == true && !r.nexthops.isEmpty)
        if r.nexthops.count == 1 && !asMultipath {
            let h = r.nexthops[0]
            if h.gateway != 0 { w.attr(RTA.GATEWAY, Self.bytes(h.gateway)) }
            w.attr(RTA.OIF, u32: UInt32(bitPattern: h.dev))
            if h.realm != 0 { w.attr(RTA.FLOW, u32: h.realm) }
        } else if asMultipath {
            let mp = w.beginNest(RTA.MULTIPATH, flagged: false)
            for h in r.nexthops {
                let at = w.count
                w.put16(0); w.put8(dp.nexthopFlags(r, h)); w.put8(UInt8(h.weight - 1))
                w.put32(UInt32(bitPattern: h.dev))
                if h.gateway != 0 { w.attr(RTA.GATEWAY, Self.bytes(h.gateway)) }
                if h.realm != 0 { w.attr(RTA.FLOW, u32: h.realm) }
                w.set16(at, UInt16(w.count - at))
            }
            w.endNest(mp)
        } else if (v6 || r.nhid != 0) && dp.ipv6.fib.loopbackIndex > 0 {
            // ip6_route_info_create: a reject route's device is lo (a blackhole nexthop's too).
            w.attr(RTA.OIF, u32: UInt32(bitPattern: dp.ipv6.fib.loopbackIndex))
        }
        if r.expires != 0 {
            // rtnl_put_cacheinfo: rta_expires in clock ticks (USER_HZ, 100 a second), rounded
            // up: the kernel counts in whole jiffies, so a route announced as it is made shows
            // its whole lifetime, not a tick less for the time the message took.
            let now = dp.clock.now
            let tick = 10 * Time.ms
            let left = r.expires > now ? Int64((r.expires - now + tick - 1) / tick) : -Int64((now - r.expires) / tick)
            var ci = NetlinkWriter()
            for _ in 0..<2 { ci.put32(0) }                              // rta_clntref, rta_lastuse
            ci.put32(UInt32(bitPattern: Int32(clamping: left)))            // rta_expires
            for _ in 0..<5 { ci.put32(0) }                              // error, used, id, ts, tsage
            w.attr(RTA.CACHEINFO, ci.bytes)
        }
        if v6 { w.attr(RTA.PREF, [r.pref]) }
        w.end(start)
    }

    /// inet_dump_fib: both tables (ip filters by table itself). Like the FDB dump, the tables
    /// are read once into a list and the messages built a datagram per worker pass, each when
    /// the reader has taken the one before, so a full-size table never holds the datapath up.
    func dumpRoutes(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        let family = msg.payload.first ?? 0
        dp.ipv4.expireAddresses(dp.clock.now)
        dp.ipv6.expireAddresses(dp.clock.now)
        dp.ipv6.expireRoutes(dp.clock.now)
        var list: [(table: UInt32, prefix: UInt32, length: Int, route: Route)] = []
        var list6: [(table: UInt32, prefix: UInt128, length: Int, route: RouteOf<UInt128>)] = []
        if family == 0 || family == Self.AF_INET {
            for t in dp.ipv4.fib.tablesInDumpOrder {
                for (prefix, length, r) in t.allRoutes { list.append((t.id, prefix, length, r)) }
            }
        }
        if family == 0 || family == Self.AF_INET6 {
            for t in dp.ipv6.fib.tablesInDumpOrder {
                for e in t.allRoutes.sorted(by: CommandRunner.dumpOrder) { list6.append((t.id, e.prefix, e.length, e.route)) }
            }
        }
        let seq = msg.header.seq
        dumpInParts(seq: seq, count: list.count + list6.count, &replies) { [unowned self] i, w in
            if i < list.count {
                let e = list[i]
                encodeRoute(table: e.table, e.prefix, e.length, e.route, seq: seq, &w)
            } else {
                let e = list6[i - list.count]
                encodeRoute(table: e.table, e.prefix, e.length, e.route, seq: seq, &w)
            }
        }
    }

    /// Starts a dump of `count` items read once beforehand, built a datagram per worker pass as
    /// the reader takes the one before (netlink_dump's callback), so a big table never holds
    /// the datapath up.
    func dumpInParts(seq: UInt32, count: Int, _ replies: inout [[UInt8]], _ encode: @escaping (Int, inout NetlinkWriter) -> Void) {
        var i = 0
        dump = { [unowned self] (w: inout NetlinkWriter) -> Bool in
            while i < count {
                let before = w.count
                encode(i, &w)
                if w.count > bufferSize && before > 0 { w.truncate(to: before); return false }
                i += 1
            }
            if w.count + NL.hdrLen + 4 > bufferSize { return false }
            w.done(seq: seq, pid: pid, flags: NL.F_MULTI)
            return true
        }
        if let first = nextDumpPart() { replies.append(first) }
    }

    /// The command language's route from an rtmsg and its attributes.
    func routeSpec<S: InetFamilyStack>(_ msg: NetlinkMessage, _: S.Type) throws(NetlinkError) -> CommandRunner.RouteSpec<S.Addr> {
        typealias A = S.Addr
        let p = msg.payload
        let a = try NLAttributes.parse(p.dropFirst(12), base: NL.hdrLen + 12, policy: S.isIPv6 ? RTA.policy6 : RTA.policy, strict: false)
        var s = CommandRunner.RouteSpec<A>()
        // rtm_to_fib_config: a dsfield with ECN bits is refused; rtm_to_fib6_config: IPv6
        // routes take none.
        let tos = p[p.startIndex + 3]
        if S.isIPv6 && tos != 0 { throw NetlinkError(EINVAL, "Invalid dsfield (tos): option not available for IPv6") }
        if tos & 0x03 != 0 { throw NetlinkError(EINVAL, "Invalid dsfield (tos): ECN bits must be 0") }
        s.length = Int(p[p.startIndex + 1])
        guard s.length <= A.bitWidth else { throw NetlinkError(EINVAL, "Invalid prefix length") }
        s.prefix = Self.addr(a[RTA.DST], A.self) ?? 0
        s.hasPrefix = true
        s.route.tos = tos
        let table = a.u32(RTA.TABLE) ?? UInt32(p[p.startIndex + 4])
        s.table = table == 0 ? FIB.tableMain : table
        s.route.proto = p[p.startIndex + 5]; s.protoSet = s.route.proto != 0
        s.route.scope = p[p.startIndex + 6]
        s.scopeSet = msg.header.type == NL.RTM_NEWROUTE
        guard let t = RouteType(rawValue: p[p.startIndex + 7] == 0 ? 1 : p[p.startIndex + 7]) else {
            throw NetlinkError(EINVAL, "Invalid route type")
        }
        s.route.type = t
        let onlink = UInt32(p.le32(at: 8)) & UInt32(RTA.RTNH_F_ONLINK) != 0
        if let m = a.u32(RTA.PRIORITY) { s.route.metric = m; s.metricSet = true }
        s.route.nhid = a.u32(RTA.NH_ID) ?? 0
        if let src = Self.addr(a[RTA.PREFSRC], A.self) { s.route.prefsrc = src }
        if let mx = a[RTA.METRICS] { s.route.metrics = try Self.metrics(mx, base: a.offsets[RTA.METRICS]! + NL.attrHdrLen) }
        if S.isIPv6 {
            s.scopeSet = true
            if let pr = a[RTA.PREF]?.first { s.route.pref = pr }
            if let e = a.u32(RTA.EXPIRES) { s.route.expires = CommandRunner.routeExpiry(e, now: dp.clock.now) }
        }
        if let mp = a[RTA.MULTIPATH] {
            var i = 0
            while i + 8 <= mp.count {
                let len = Int(mp.le16(at: i))
                guard len >= 8, i + len <= mp.count else { throw NetlinkError(EINVAL, "Invalid nexthop configuration - extra data after nexthop") }
                var h = NextHopOf<A>(dev: Int32(bitPattern: mp.le32(at: i + 4)), weight: Int(mp[mp.startIndex + i + 3]) + 1,
                                onlink: mp[mp.startIndex + i + 2] & RTA.RTNH_F_ONLINK != 0)
                var j = i + 8
                while j + 4 <= i + len {
                    let alen = Int(mp.le16(at: j)), at = mp.le16(at: j + 2)
                    guard alen >= 4 else { break }
                    if at == RTA.GATEWAY && alen == 4 + A.bitWidth / 8 { h.gateway = Self.addr(mp[(mp.startIndex + j + 4)..<(mp.startIndex + j + alen)], A.self) ?? 0 }
                    if at == RTA.FLOW && alen == 8 { h.realm = mp.le32(at: j + 4) }
                    j += (alen + 3) & ~3
                }
                s.route.nexthops.append(h)
                i += (len + 3) & ~3
            }
        } else if a[RTA.GATEWAY] != nil || a[RTA.OIF] != nil {
            s.route.nexthops = [NextHopOf<A>(gateway: Self.addr(a[RTA.GATEWAY], A.self) ?? 0, dev: Int32(bitPattern: a.u32(RTA.OIF) ?? 0), onlink: onlink)]
        }
        if let flow = a.u32(RTA.FLOW), !S.isIPv6 {
            // fib_create_info: a realm without a next hop still makes one (its device resolved
            // from the gateway or refused as for any next hop).
            if s.route.nexthops.isEmpty { s.route.nexthops = [NextHopOf<A>(dev: 0, onlink: onlink)] }
            s.route.nexthops[0].realm = flow
        }
        if let tr = ifindexTranslator {
            for i in s.route.nexthops.indices where s.route.nexthops[i].dev != 0 { s.route.nexthops[i].dev = tr(s.route.nexthops[i].dev) }
        }
        for h in s.route.nexthops where h.dev != 0 && dp.device(h.dev) == nil { throw NetlinkError(ENODEV, "Nexthop device is not found") }
        return s
    }

    /// inet_rtm_newroute: NLM_F_CREATE/EXCL/REPLACE/APPEND as fib_table_insert reads them.
    func newRoute(_ msg: NetlinkMessage) throws(NetlinkError) {
        switch try routeFamily(msg) {
        case Self.AF_INET6: try newRoute(msg, dp.ipv6)
        default: try newRoute(msg, dp.ipv4)
        }
    }

    /// The family of a route request (AF_INET or AF_INET6; anything else is refused).
    func routeFamily(_ msg: NetlinkMessage) throws(NetlinkError) -> UInt8 {
        let p = msg.payload
        guard p.count >= 12 else { throw NetlinkError(EINVAL, "Invalid header for route request") }
        let f = p[p.startIndex]
        guard f == Self.AF_INET || f == Self.AF_INET6 else { throw NetlinkError(EOPNOTSUPP, "Sluice routes IPv4 and IPv6 only") }
        return f
    }

    /// ip_metrics_convert: RTAX_* u32 values, clamped as the kernel clamps them.
    static func metrics(_ mx: ArraySlice<UInt8>, base: Int) throws(NetlinkError) -> [UInt32] {
        var m = [UInt32](repeating: 0, count: Int(RTA.RTAX_MAX))
        for (t, v, at) in try NLAttributes.list(mx, base: base) where t != 0 {
            guard t <= RTA.RTAX_MAX else { throw NetlinkError(EINVAL, "Invalid metric type", offset: at) }
            if t == RTA.RTAX_CC_ALGO { throw NetlinkError(EOPNOTSUPP, "congctl metrics are not implemented in Sluice", offset: at) }
            guard v.count == 4 else { throw NetlinkError(EINVAL, "Invalid attribute in metrics", offset: at) }
            var x = v.le32(at: 0)
            switch t {
            case RTA.RTAX_ADVMSS: x = min(x, 65535 - 40)
            case RTA.RTAX_MTU: x = min(x, 65535 - 15)
            case RTA.RTAX_HOPLIMIT: x = min(x, 255)
            case RTA.RTAX_FEATURES where x & ~RTA.RTAX_FEATURE_MASK != 0:
                throw NetlinkError(EINVAL, "Unknown flag set in feature mask in metrics attribute", offset: at)
            default: break
            }
            m[Int(t) - 1] = x
        }
        return m.allSatisfy { $0 == 0 } ? [] : m
    }

    /// rtnetlink_put_metrics: the metrics set, in RTAX order, nested without NLA_F_NESTED.
    static func putMetrics(_ m: [UInt32], _ w: inout NetlinkWriter) {
        guard m.contains(where: { $0 != 0 }) else { return }
        let n = w.beginNest(RTA.METRICS, flagged: false)
        for (i, v) in m.enumerated() where v != 0 {
            if UInt16(i + 1) == RTA.RTAX_FEATURES && v & RTA.RTAX_FEATURE_MASK == 0 { continue }
            w.attr(UInt16(i + 1), u32: v)
        }
        w.endNest(n)
    }

    func newRoute<S: InetFamilyStack>(_ msg: NetlinkMessage, _ stack: S) throws(NetlinkError) {
        var s = try routeSpec(msg, S.self)
        let f = msg.header.flags
        // IP6_RT_PRIO_USER for an IPv6 route without RTA_PRIORITY.
        if S.isIPv6 && !s.metricSet { s.route.metric = 1024 }
        do {
            try CommandRunner.checkKeyLength(s.prefix, s.length, S.self)
            try runner.resolveNextHops(&s, stack)
            // fib_new_table / fib6_new_table: a route names its table into being.
            let t = stack.fib.newTable(s.table)
            defer { if s.table == FIB.tableDefault { stack.fib.updateSimple() } }
            let exists = t.entry(LPMTrie<S.Addr>.mask(s.prefix, s.length), s.length).map { t.prefixes[$0]!.routes.contains { $0.metric == s.route.metric && $0.tos == s.route.tos } } ?? false
            // fib_table_insert answers a change of a missing IPv4 route with ENOENT alone.
            if !exists && f & NL.F_CREATE == 0 { throw S.isIPv6 ? NetlinkError(ENOENT, "Route does not exist") : NetlinkError(ENOENT) }
            if S.isIPv6 && f & (NL.F_EXCL | NL.F_REPLACE) == 0, try t.addSiblings(s.prefix, s.length, s.route) { return }
            try t.insert(s.prefix, s.length, s.route, replace: f & NL.F_REPLACE != 0, exclusive: f & NL.F_EXCL != 0, append: f & NL.F_APPEND != 0)
            if s.route.type == .local { stack.fib.noteCustomLocalRoute() }
        } catch let e as NetlinkError { throw e } catch {
            let m = (error as! SluiceError).message
            if m.contains("File exists") { throw NetlinkError(EEXIST) }
            if m.contains("not up") { throw NetlinkError(ENETDOWN, "Nexthop device is not up") }
            // ip6_route_check_nh answers an unreachable gateway with EHOSTUNREACH alone.
            if m.contains("invalid gateway") { throw S.isIPv6 ? NetlinkError(EHOSTUNREACH) : NetlinkError(ENETUNREACH, "Nexthop has invalid gateway") }
            if m.contains("Egress device") { throw NetlinkError(EINVAL, "Egress device not specified") }
            if m.contains("Invalid prefsrc address") { throw NetlinkError(EINVAL, "Invalid prefsrc address") }
            if m.contains("Invalid source address") { throw NetlinkError(EINVAL, "Invalid source address") }
            // An extack sentence as `ip` prints it: without its final period on the wire.
            if m.hasPrefix("Error: ") && m.hasSuffix(".") && !m.hasSuffix(").") { throw Self.netlinkError(SluiceError(String(m.dropLast()))) }
            throw Self.netlinkError(error as! SluiceError)
        }
    }

    /// inet_rtm_delroute: the first route matching what the request names.
    func delRoute(_ msg: NetlinkMessage) throws(NetlinkError) {
        switch try routeFamily(msg) {
        case Self.AF_INET6: try delRoute(msg, dp.ipv6)
        default: try delRoute(msg, dp.ipv4)
        }
    }

    func delRoute<S: InetFamilyStack>(_ msg: NetlinkMessage, _ stack: S) throws(NetlinkError) {
        let s = try routeSpec(msg, S.self)
        if s.route.nhid != 0 && dp.nexthops.objects[s.route.nhid] == nil { throw NetlinkError(EINVAL, "Nexthop id does not exist") }
        guard let t = stack.fib.table(s.table) else { throw NetlinkError(ESRCH, "FIB table does not exist") }
        do { try CommandRunner.checkKeyLength(s.prefix, s.length, S.self) } catch { throw Self.netlinkError(error) }
        // IPv6: a request naming one next hop takes that sibling out of a multipath route; one
        // naming none takes the route with all its siblings (fc_delete_all_nh).
        if S.isIPv6, s.route.nexthops.count == 1, t.deleteSibling(s.prefix, s.length, gateway: s.route.nexthops[0].gateway, dev: s.route.nexthops[0].dev, matching: { x in
            (!s.metricSet || x.metric == s.route.metric) && (!s.protoSet || x.proto == s.route.proto)
        }) { return }
        let ok = t.delete(s.prefix, s.length) { x in
            (!s.metricSet || x.metric == s.route.metric) && (s.route.type == .unicast || x.type == s.route.type)
                && (s.route.nhid == 0 || x.nhid == s.route.nhid)
                && (!s.protoSet || x.proto == s.route.proto)
                && (s.route.nexthops.isEmpty || (x.nexthops.count == s.route.nexthops.count
                    && zip(x.nexthops, s.route.nexthops).allSatisfy { ($1.gateway == 0 || $0.gateway == $1.gateway) && ($1.dev == 0 || $0.dev == $1.dev) }))
        }
        guard ok else { throw NetlinkError(ESRCH) }
        if s.table == FIB.tableDefault { stack.fib.updateSimple() }
    }

    /// inet_rtm_getroute: the route a packet to RTA_DST would take (rt_fill_info).
    func getRoute(_ msg: NetlinkMessage) throws(NetlinkError) -> [UInt8] {
        switch try routeFamily(msg) {
        case Self.AF_INET6: try getRoute6(msg)
        default: try getRoute4(msg)
        }
    }

    /// The keys of a `route get` (RTA_DST, RTA_SRC, RTA_IIF, RTA_OIF, RTA_MARK, RTA_UID), the
    /// devices named checked as inet_rtm_getroute checks them (ENODEV).
    struct RouteQuery<A: InetAddressValue> {
        var dst: A, src: A, iif: Int32, oif: Int32, mark: UInt32, uid: UInt32, tos: UInt8
        /// RTA_IP_PROTO (IPv4's default UDP, IPv6's none), RTA_SPORT, RTA_DPORT.
        var proto: UInt8 = 0, sport: UInt16 = 0, dport: UInt16 = 0

        /// The flow the rules see: an input route's device, else lo and the output device.
        func keys(loopback: Int32) -> FlowKeysOf<A> {
            var k = FlowKeysOf(src: src, iif: iif != 0 ? iif : loopback, oif: iif != 0 ? 0 : oif, mark: mark, tos: tos)
            k.uid = uid
            k.proto = proto; k.sport = sport; k.dport = dport
            return k
        }
    }

    func routeQuery<A: InetAddressValue>(_ msg: NetlinkMessage, _: A.Type) throws(NetlinkError) -> RouteQuery<A> {
        let p = msg.payload
        let a = try NLAttributes.parse(p.dropFirst(12), base: NL.hdrLen + 12, policy: A.bitWidth == 128 ? RTA.policy6 : RTA.policy, strict: false)
        var q = RouteQuery(dst: Self.addr(a[RTA.DST], A.self) ?? 0, src: Self.addr(a[RTA.SRC], A.self) ?? 0,
                           iif: Int32(bitPattern: a.u32(RTA.IIF) ?? 0), oif: Int32(bitPattern: a.u32(RTA.OIF) ?? 0),
                           mark: a.u32(RTA.MARK) ?? 0, uid: a.u32(RTA.UID) ?? 0, tos: p[p.startIndex + 3])
        // inet_rtm_getroute builds a UDP packet unless told otherwise; rtm_getroute_parse_ip_proto
        // takes TCP, UDP and the family's ICMP only.
        let v6 = A.bitWidth == 128
        q.proto = v6 ? 0 : IPProto.udp
        if let v = a[RTA.IP_PROTO]?.first {
            guard v == IPProto.tcp || v == IPProto.udp || v == (v6 ? IPProto.icmpv6 : IPProto.icmp) else {
                throw NetlinkError(EOPNOTSUPP, "Unsupported ip proto", offset: a.offsets[RTA.IP_PROTO])
            }
            q.proto = v
        }
        if let v = a[RTA.SPORT], v.count == 2 { q.sport = UInt16(v[v.startIndex]) << 8 | UInt16(v[v.startIndex + 1]) }
        if let v = a[RTA.DPORT], v.count == 2 { q.dport = UInt16(v[v.startIndex]) << 8 | UInt16(v[v.startIndex + 1]) }
        for d in [q.iif, q.oif] where d != 0 && dp.device(d) == nil { throw NetlinkError(ENODEV) }
        return q
    }

    var loopbackIndex: Int32 { dp.allDevices.first { $0.flags.contains(.loopback) }?.ifindex ?? 1 }

    /// inet_rtm_getroute: with RTA_IIF the input route ip_route_input_slow would give a packet
    /// from `src` arriving there (martian sources and destinations refused, forwarding
    /// required), else the output route ip_route_output_key_hash_rcu gives (`src` must be ours;
    /// a lookup restricted to `oif` that finds nothing assumes the destination is on that link).
    /// Traffic to our own addresses leaves through lo; the source is inet_select_addr's.
    func getRoute4(_ msg: NetlinkMessage) throws(NetlinkError) -> [UInt8] {
        let q = try routeQuery(msg, UInt32.self)
        let v4 = dp.ipv4
        let lo = loopbackIndex
        func zeronet(_ a: UInt32) -> Bool { a >> 24 == 0 }
        func loopback(_ a: UInt32) -> Bool { a >> 24 == 127 }
        func multicastOrAll(_ a: UInt32) -> Bool { a >> 28 == 0xE || a == 0xFFFF_FFFF }
        func isLocal(_ a: UInt32) -> Bool { v4.fib.local.lookup(a, hash: 0)?.type == .local }
        func reject(_ t: RouteType) throws(NetlinkError) {
            switch t {
            case .unreachable: throw NetlinkError(EHOSTUNREACH)
            case .prohibit: throw NetlinkError(EACCES)
            case .blackhole: throw NetlinkError(EINVAL)
            default: break
            }
        }
        var type = RouteType.unicast, out: Int32 = 0, gateway: UInt32 = 0, prefsrc: UInt32 = 0, redirect = false
        var realm: UInt32 = 0
        var metrics: [UInt32] = []
        var table = FIB.tableMain
        // The matched route's DSCP, which rt_fill_info reports (res->dscp, not the request's).
        var routeTos: UInt8 = 0
        // inet_rtm_getroute_build_skb: the packet a route is asked for — an IPv4 header, then a
        // UDP or TCP header with the ports or an ICMP echo — hashed as a forwarded packet is,
        // for an output route too (fib_select_path hashes that packet, its source 0 when none
        // was given).
        let hash: UInt32
        do {
            var pkt = [UInt8](repeating: 0, count: 28)
            pkt[0] = 0x45; pkt[9] = q.proto
            for i in 0..<4 { pkt[12 + i] = UInt8(truncatingIfNeeded: q.src >> (24 - 8 * i)); pkt[16 + i] = UInt8(truncatingIfNeeded: q.dst >> (24 - 8 * i)) }
            if q.proto == IPProto.icmp { pkt[20] = 8 }
            else { pkt[20] = UInt8(q.sport >> 8); pkt[21] = UInt8(q.sport & 0xFF); pkt[22] = UInt8(q.dport >> 8); pkt[23] = UInt8(q.dport & 0xFF) }
            hash = pkt.withUnsafeBytes { b in
                v4.plainL3Hash && q.proto != IPProto.icmp ? IPv4Stack.flowHash(q.src, q.dst)
                    : v4.multipathHash(b.baseAddress!, ihl: 20, total: 28, src: q.src, dst: q.dst, proto: q.proto, fragment: false)
            }
        }
        if q.iif != 0, let inDev = dp.device(q.iif) {
            // fib_validate_source: a martian source and an rp_filter refusal are both EINVAL (since
            // ip_route_input returns a drop reason, which inet_rtm_getroute answers as EINVAL; the
            // kernel beside Sluice does, older ones answered rp_filter with EXDEV).
            func validate(dst: UInt32, oif: Int32) throws(NetlinkError) {
                if v4.validateSource(inDev, src: q.src, dst: dst, tos: q.tos & 0xFC, oif: oif, mark: q.mark) != .ok { throw NetlinkError(EINVAL) }
            }
            let forwarding = inDev.inet4.forwarding
            if multicastOrAll(q.src) { throw NetlinkError(EINVAL) }
            if q.dst == 0xFFFF_FFFF || (q.src == 0 && q.dst == 0) {
                if q.src != 0 { try validate(dst: 0, oif: 0) }
                type = .broadcast; out = lo
            } else {
                // ip_route_input_slow's martians; 127/8 only without route_localnet.
                if zeronet(q.src) || zeronet(q.dst) || ((loopback(q.dst) || loopback(q.src)) && !inDev.inet4.routeLocalnet) { throw NetlinkError(EINVAL) }
                guard let r = v4.fib.resolve(q.dst, keys: q.keys(loopback: loopbackIndex), hash: hash) else { throw NetlinkError(forwarding ? ENETUNREACH : EHOSTUNREACH) }
                if r.route.nexthops.isEmpty && r.route.type != .local {
                    if !forwarding { throw NetlinkError(EHOSTUNREACH) }
                    try reject(r.route.type)
                }
                table = r.table
                routeTos = r.route.tos
                switch r.route.type {
                case .local, .broadcast:
                    try validate(dst: r.route.type == .local ? q.dst : 0, oif: 0)
                    type = r.route.type; out = lo
                case .unicast:
                    guard forwarding else { throw NetlinkError(EHOSTUNREACH) }
                    out = r.nexthop?.dev ?? 0; gateway = r.nexthop?.gateway ?? 0
                    try validate(dst: q.dst, oif: out)
                    metrics = r.route.metrics
                    // dst->tclassid: the next hop's realms, the source's from the way back.
                    var res = FIBResult(type: .unicast, gateway: 0, dev: out, prefsrc: 0, nh: -1, realm: r.nexthop?.realm ?? 0)
                    res.ruleRealm = v4.fib.ruleRealm(q.dst, keys: q.keys(loopback: loopbackIndex), hash: hash)
                    var itag: UInt32 = 0
                    if v4.fib.hasRealms, let back = v4.fib.lookup(q.src, hash: 0, keys: { FlowKeysOf(src: q.dst, iif: out, tos: q.tos) }),
                       back.type == .unicast { itag = back.itag }
                    realm = res.tclassid(itag: itag)
                    // IPSKB_DOREDIRECT: back out of the input device, the sender on its subnet.
                    redirect = out == q.iif && v4.earnsRedirect(inDev, src: q.src, gateway: gateway)
                default: throw NetlinkError(EINVAL)
                }
            }
        } else {
            if q.src != 0 {
                if multicastOrAll(q.src) || zeronet(q.src) { throw NetlinkError(EINVAL) }
                guard v4.addresses.values.contains(where: { $0.contains { $0.address == q.src } }) else { throw NetlinkError(ENETUNREACH) }
            }
            if q.oif != 0 && !(dp.device(q.oif)?.isUp ?? false) { throw NetlinkError(ENETUNREACH) }
            if let r = v4.fib.resolve(q.dst, keys: q.keys(loopback: loopbackIndex), hash: hash) {
                try reject(r.route.type)
                type = r.route.type
                metrics = r.route.metrics          // the route's fib metrics, as the rtable inherits them
                table = r.table
                routeTos = r.route.tos
                let nh = r.nexthop
                var res = FIBResult(type: type, gateway: 0, dev: 0, prefsrc: 0, nh: -1, realm: nh?.realm ?? 0)
                res.ruleRealm = v4.fib.ruleRealm(q.dst, keys: q.keys(loopback: loopbackIndex), hash: hash)
                realm = res.tclassid(itag: 0)
                switch type {
                case .local:
                    // __mkroute_output: a local route's device is its VRF device, else lo.
                    let vrf = v4.fib.l3mdevMaster(nh?.dev ?? 0)
                    out = vrf != 0 ? vrf : lo
                    prefsrc = q.src != 0 ? q.src : r.route.prefsrc != 0 ? r.route.prefsrc : q.dst
                default:
                    out = nh?.dev ?? 0; gateway = nh?.gateway ?? 0
                    prefsrc = q.src != 0 ? q.src : r.route.prefsrc != 0 ? r.route.prefsrc
                        : v4.selectAddress(out, toward: gateway, scope: gateway != 0 ? RouteScope.link : RouteScope.host)
                }
            } else if q.oif != 0 {
                out = q.oif
                prefsrc = q.src != 0 ? q.src : v4.selectAddress(q.oif, toward: 0, scope: RouteScope.link)
            } else {
                throw NetlinkError(ENETUNREACH)
            }
        }
        // RTCF_LOCAL, RTCF_BROADCAST and RTCF_DOREDIRECT in rtm_flags' high bits: "cache <local,brd>", "<redirect>".
        let rtcf: UInt32 = (type == .local || type == .broadcast ? 0x8000_0000 : 0) | (type == .broadcast ? 0x1000_0000 : 0)
            | (redirect ? 0x0100_0000 : 0)
        var w = NetlinkWriter()
        let start = w.begin(type: NL.RTM_NEWROUTE, flags: 0, seq: msg.header.seq, pid: pid)
        w.put8(Self.AF_INET); w.put8(32); w.put8(q.src != 0 ? 32 : 0); w.put8(routeTos)
        // The table the lookup ended in when the request asks (RTM_F_LOOKUP_TABLE, as ip route
        // get does), else main. Until a custom rule was ever added the kernel keeps tables
        // local and main merged in one: a local route is then reported as main's.
        if msg.payload.le32(at: 8) & 0x1000 == 0 || table == 0 || (table == FIB.tableLocal && !v4.fib.hadCustomRules) { table = FIB.tableMain }
        w.put8(UInt8(table < 256 ? table : 252)); w.put8(0); w.put8(RouteScope.universe); w.put8(type.rawValue)
        w.put32(RTA.RTM_F_CLONED | rtcf)
        w.attr(RTA.TABLE, u32: table)
        w.attr(RTA.DST, Self.be32(q.dst))
        if q.src != 0 { w.attr(RTA.SRC, Self.be32(q.src)) }
        w.attr(RTA.OIF, u32: UInt32(bitPattern: out))
        if realm != 0 { w.attr(RTA.FLOW, u32: realm) }
        if q.iif == 0 && prefsrc != q.src { w.attr(RTA.PREFSRC, Self.be32(prefsrc)) }
        if gateway != 0 { w.attr(RTA.GATEWAY, Self.be32(gateway)) }
        Self.putMetrics(metrics, &w)
        if q.mark != 0 { w.attr(RTA.MARK, u32: q.mark) }
        if q.iif == 0 { w.attr(RTA.UID, u32: q.uid) }
        w.attr(RTA.CACHEINFO, [UInt8](repeating: 0, count: 32))
        if q.iif != 0 { w.attr(RTA.IIF, u32: UInt32(bitPattern: q.iif)) }
        w.end(start)
        return w.bytes
    }

    /// inet6_rtm_getroute: the route ip6_route_input_lookup (RTA_IIF) or ip6_route_output
    /// (restricted to RTA_OIF when given: RT6_LOOKUP_F_IFACE) finds, filled as rt6_fill_node
    /// fills it: its table, protocol and metric; our own addresses through lo; with an input
    /// device the iif, else the source ip6_route_get_saddr picks.
    func getRoute6(_ msg: NetlinkMessage) throws(NetlinkError) -> [UInt8] {
        let q = try routeQuery(msg, UInt128.self)
        let v6 = dp.ipv6
        guard let r = v6.fib.resolve(q.dst, keys: q.keys(loopback: loopbackIndex), hash: v6.routeGetHash(q.src, q.dst, proto: q.proto, ports: UInt32(q.sport) << 16 | UInt32(q.dport))) else { throw NetlinkError(ENETUNREACH) }
        switch r.route.type {
        case .unreachable: throw NetlinkError(EHOSTUNREACH)
        case .prohibit: throw NetlinkError(EACCES)
        case .blackhole: throw NetlinkError(EINVAL)
        default: break
        }
        let ours = r.route.type == .local || r.route.type == .anycast
        // ip6_rt_get_dev_rcu: a local or anycast route's device is its VRF device (but for a
        // link-local or multicast destination), else lo.
        let vrf = Inet6Wire.isLinkLocal(q.dst) || Inet6Wire.isMulticast(q.dst) ? 0 : v6.fib.l3mdevMaster(r.nexthop?.dev ?? 0)
        let out = ours ? (vrf != 0 ? vrf : loopbackIndex) : r.nexthop?.dev ?? 0
        let gateway = r.nexthop?.gateway ?? 0
        var w = NetlinkWriter()
        let start = w.begin(type: NL.RTM_NEWROUTE, flags: 0, seq: msg.header.seq, pid: pid)
        w.put8(Self.AF_INET6); w.put8(128); w.put8(128); w.put8(0)
        w.put8(UInt8(truncatingIfNeeded: r.table)); w.put8(r.route.proto); w.put8(RouteScope.universe); w.put8(r.route.type.rawValue)
        w.put32(0)
        w.attr(RTA.TABLE, u32: r.table)
        w.attr(RTA.DST, Self.bytes(q.dst))
        w.attr(RTA.SRC, Self.bytes(q.src))
        if q.iif != 0 {
            w.attr(RTA.IIF, u32: UInt32(bitPattern: q.iif))
        } else {
            let src = r.route.prefsrc != 0 ? r.route.prefsrc : r.route.type == .local ? q.dst
                : v6.sourceAddress(r.nexthop?.dev ?? out, toward: q.dst)
            if src != 0 { w.attr(RTA.PREFSRC, Self.bytes(src)) }
        }
        Self.putMetrics(r.route.metrics, &w)
        w.attr(RTA.OIF, u32: UInt32(bitPattern: out))
        if gateway != 0 { w.attr(RTA.GATEWAY, Self.bytes(gateway)) }
        w.attr(RTA.PRIORITY, u32: r.route.metric)
        w.attr(RTA.CACHEINFO, [UInt8](repeating: 0, count: 32))
        w.attr(RTA.PREF, [r.route.pref])
        w.end(start)
        return w.bytes
    }

    // MARK: neighbours (AF_INET, AF_INET6)

    func encodeNeigh<A: InetAddressValue>(_ e: NeighbourEntryOf<A>, seq: UInt32, flags: UInt16 = NL.F_MULTI, _ w: inout NetlinkWriter) {
        let now = dp.clock.now
        let start = w.begin(type: NL.RTM_NEWNEIGH, flags: flags, seq: seq, pid: pid)
        w.put8(A.bitWidth == 128 ? Self.AF_INET6 : Self.AF_INET); w.put8(0); w.put16(0)
        w.put32(UInt32(bitPattern: e.dev))
        w.put16(e.state.rawValue)
        w.put8(e.isRouter ? 0x80 : 0); w.put8(RouteType.unicast.rawValue)   // NTF_ROUTER
        w.attr(NDA.DST, Self.bytes(e.ip))
        if e.state.isValid { w.attr(NDA.LLADDR, e.mac.octets) }
        func age(_ t: UInt64) -> UInt32 { t == 0 ? 0 : UInt32(truncatingIfNeeded: (now &- t) / (10 * Time.ms)) }
        var ci = NetlinkWriter()
        // ndm_refcnt: the references beyond the table's own, which here is the timer's
        // (neigh_add_timer holds one while INCOMPLETE, REACHABLE, DELAY or PROBE runs).
        ci.put32(age(e.confirmed)); ci.put32(age(e.used)); ci.put32(age(e.updated)); ci.put32(e.timer != 0 ? 1 : 0)
        w.attr(NDA.CACHEINFO, ci.bytes)
        w.attr(4, u32: UInt32(e.probes))                   // NDA_PROBES
        w.end(start)
    }

    /// pneigh_fill_info: a proxy entry (NTF_PROXY, NUD_NONE, the device or 0).
    func encodeProxy<A: InetAddressValue>(_ e: ProxyNeighbourOf<A>, seq: UInt32, flags: UInt16 = NL.F_MULTI, _ w: inout NetlinkWriter) {
        let start = w.begin(type: NL.RTM_NEWNEIGH, flags: flags, seq: seq, pid: pid)
        w.put8(A.bitWidth == 128 ? Self.AF_INET6 : Self.AF_INET); w.put8(0); w.put16(0)
        w.put32(UInt32(bitPattern: e.dev))
        w.put16(0)
        w.put8(e.flags | Self.NTF_PROXY); w.put8(RouteType.unicast.rawValue)
        w.attr(NDA.DST, Self.bytes(e.ip))
        if e.proto != 0 { w.attr(12, u8: e.proto) }             // NDA_PROTOCOL
        w.end(start)
    }

    static let NTF_PROXY: UInt8 = 0x08

    /// neigh_dump_table: the entries read once, the messages built in parts (the table may
    /// hold gc_thresh3 entries, a million if so configured). A request whose ndm_flags are
    /// NTF_PROXY dumps the proxy entries instead (pneigh_dump_table).
    func dumpNeighbours(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        let p = msg.payload
        let family = p.first ?? 0
        // neigh_valid_dump_req: NDA_IFINDEX and NDA_MASTER filter the dump (by the entry's
        // device, and by that device's master — a bridge or a VRF; -1: devices without one);
        // under strict checking the header must be otherwise empty and nothing else asked.
        var devFilter: Int32 = 0, masterFilter: Int32 = 0
        if p.count >= 12 {
            if strictCheck {
                if p[p.startIndex + 1] != 0 || p.le16(at: 2) != 0 || p.le32(at: 4) != 0 || p.le16(at: 8) != 0 || p[p.startIndex + 11] != 0 {
                    throw NetlinkError(EINVAL, "Invalid values in header for neighbor dump request")
                }
                if p[p.startIndex + 10] & ~Self.NTF_PROXY != 0 { throw NetlinkError(EINVAL, "Invalid flags in header for neighbor dump request") }
            }
            let a = try NLAttributes.parse(p.dropFirst(12), base: NL.hdrLen + 12, policy: NLAPolicy(maxType: 16, [NDA.IFINDEX: .u32, NDA.MASTER: .u32]), strict: false)
            if strictCheck, let t = a.values.keys.first(where: { $0 != NDA.IFINDEX && $0 != NDA.MASTER }) {
                throw NetlinkError(EINVAL, "Unsupported attribute in neighbor dump request", offset: a.offsets[t])
            }
            devFilter = Int32(bitPattern: a.u32(NDA.IFINDEX) ?? 0)
            masterFilter = Int32(bitPattern: a.u32(NDA.MASTER) ?? 0)
        }
        // neigh_ifindex_filtered and neigh_master_filtered.
        let filtered = devFilter != 0 || masterFilter != 0
        let keep: (Int32) -> Bool = { [dp] d in
            if devFilter != 0 && d != devFilter { return false }
            guard masterFilter != 0 else { return true }
            let m = dp.device(d)?.master ?? 0
            return masterFilter == -1 ? m == 0 : m == masterFilter
        }
        let flags = NL.F_MULTI | (filtered ? NL.F_DUMP_FILTERED : 0)
        let seq = msg.header.seq
        if p.count >= 12 && p[p.startIndex + 10] == Self.NTF_PROXY {
            let v4 = family == 0 || family == Self.AF_INET ? dp.ipv4.neighbours.proxiesInDumpOrder.filter { keep($0.dev) } : []
            let v6 = family == 0 || family == Self.AF_INET6 ? dp.ipv6.neighbours.proxiesInDumpOrder.filter { keep($0.dev) } : []
            dumpInParts(seq: seq, count: v4.count + v6.count, &replies) { [unowned self] i, w in
                if i < v4.count { encodeProxy(v4[i], seq: seq, flags: flags, &w) } else { encodeProxy(v6[i - v4.count], seq: seq, flags: flags, &w) }
            }
            return
        }
        let v4 = family == 0 || family == Self.AF_INET ? dp.ipv4.neighbours.shown.filter { keep($0.dev) } : []
        let v6 = family == 0 || family == Self.AF_INET6 ? dp.ipv6.neighbours.shown.filter { keep($0.dev) } : []
        dumpInParts(seq: seq, count: v4.count + v6.count, &replies) { [unowned self] i, w in
            if i < v4.count { encodeNeigh(v4[i], seq: seq, flags: flags, &w) } else { encodeNeigh(v6[i - v4.count], seq: seq, flags: flags, &w) }
        }
    }

    /// neigh_add / neigh_delete for AF_INET and AF_INET6.
    /// neigh_get (`ip neigh get ADDR dev DEV`): one entry by address and device.
    func getNeigh(_ msg: NetlinkMessage) throws(NetlinkError) -> [UInt8] {
        let p = msg.payload
        guard p.count >= 12 else { throw NetlinkError(EINVAL, "Invalid header for neighbor get request") }
        let v6 = p[p.startIndex] == Self.AF_INET6
        guard v6 || p[p.startIndex] == Self.AF_INET else { throw NetlinkError(EAFNOSUPPORT, "Unsupported family in header for neighbor get request") }
        let a = try NLAttributes.parse(p.dropFirst(12), base: NL.hdrLen + 12, policy: NLAPolicy(maxType: 16, [NDA.DST: .binary(maxLength: 16)]), strict: strictCheck)
        let ifindex = Int32(bitPattern: p.le32(at: 4))
        var dev: NetDevice? = nil
        if ifindex != 0 {
            guard let d = dp.device(ifindex) else { throw NetlinkError(ENODEV, "Unknown device ifindex") }
            dev = d
        }
        guard a.has(NDA.DST) else { throw NetlinkError(EINVAL, "Network address not specified") }
        var w = NetlinkWriter()
        if p[p.startIndex + 10] & Self.NTF_PROXY != 0 {
            // pneigh_lookup: the entry for the address on that device (or on every device).
            let d = dev?.ifindex ?? 0
            if v6, let dst = Self.addr(a[NDA.DST], UInt128.self), let i = dp.ipv6.neighbours.proxy(d, dst) {
                encodeProxy(dp.ipv6.neighbours.proxies[i], seq: msg.header.seq, flags: 0, &w)
            } else if !v6, let dst = Self.addr(a[NDA.DST], UInt32.self), let i = dp.ipv4.neighbours.proxy(d, dst) {
                encodeProxy(dp.ipv4.neighbours.proxies[i], seq: msg.header.seq, flags: 0, &w)
            } else {
                throw NetlinkError(ENOENT, "Proxy neighbour entry not found")
            }
            return w.bytes
        }
        guard let dev else { throw NetlinkError(EINVAL, "No device specified") }
        if v6 {
            guard let dst = Self.addr(a[NDA.DST], UInt128.self) else { throw NetlinkError(EINVAL, "Invalid network address in neighbor get request") }
            guard let e = dp.ipv6.neighbours.shown.first(where: { $0.dev == dev.ifindex && $0.ip == dst }) else { throw NetlinkError(ENOENT, "Neighbour entry not found") }
            encodeNeigh(e, seq: msg.header.seq, flags: 0, &w)
        } else {
            guard let dst = Self.addr(a[NDA.DST], UInt32.self) else { throw NetlinkError(EINVAL, "Invalid network address in neighbor get request") }
            guard let e = dp.ipv4.neighbours.shown.first(where: { $0.dev == dev.ifindex && $0.ip == dst }) else { throw NetlinkError(ENOENT, "Neighbour entry not found") }
            encodeNeigh(e, seq: msg.header.seq, flags: 0, &w)
        }
        return w.bytes
    }

    func changeNeigh(_ msg: NetlinkMessage, delete: Bool) throws(NetlinkError) {
        let p = msg.payload
        guard p.count >= 12 else { throw NetlinkError(EINVAL, "Invalid header for neighbour request") }
        if p[p.startIndex] == Self.AF_INET6 { try changeNeigh(msg, delete: delete, dp.ipv6) } else { try changeNeigh(msg, delete: delete, dp.ipv4) }
    }

    func changeNeigh<S: InetFamilyStack>(_ msg: NetlinkMessage, delete: Bool, _ stack: S) throws(NetlinkError) {
        let p = msg.payload
        let a = try NLAttributes.parse(p.dropFirst(12), base: NL.hdrLen + 12, policy: NLAPolicy(maxType: 16, [NDA.DST: .binary(maxLength: 16), NDA.LLADDR: .binary(maxLength: 32), 12: .u8]), strict: false)
        let ifindex = Int32(bitPattern: p.le32(at: 4))
        if ifindex != 0 && dp.device(ifindex) == nil { throw NetlinkError(ENODEV) }
        guard let ip = Self.addr(a[NDA.DST], S.Addr.self) else { throw NetlinkError(EINVAL, "Network address not specified") }
        let ndmFlags = p[p.startIndex + 10]
        if ndmFlags & Self.NTF_PROXY != 0 {
            // neigh_add / neigh_delete for a proxy entry (pneigh_lookup with creation, pneigh_delete).
            if delete {
                guard stack.neighbours.deleteProxy(ip, dev: ifindex) else { throw NetlinkError(ENOENT) }
            } else {
                // pndisc_constructor refuses an entry without a device: pneigh_lookup fails.
                if S.isIPv6 && ifindex == 0 { throw NetlinkError(ENOBUFS) }
                stack.neighbours.addProxy(ProxyNeighbourOf(ip: ip, dev: ifindex, flags: ndmFlags & ~Self.NTF_PROXY,
                                                           permanent: p.le16(at: 8) & 0x80 != 0, proto: a.u8(12) ?? 0))
            }
            return
        }
        guard let dev = dp.device(ifindex) else { throw NetlinkError(EINVAL, "Device not specified") }
        // ndisc_allow_add.
        if !delete && S.isIPv6 && dev.inet6.disabled { throw NetlinkError(EINVAL, "IPv6 is disabled on this device") }
        do {
            if delete { try stack.deleteNeighbour(dev, ip: ip); return }
            // neigh_add: an address shorter than the device's is refused; none is allowed.
            if let ll = a[NDA.LLADDR], ll.count < 6 { throw NetlinkError(EINVAL, "Invalid link address") }
            let mac = a[NDA.LLADDR].map { MACAddress(Array($0.prefix(6))) }
            let state = NUD(rawValue: p.le16(at: 8)) ?? .permanent
            let f = msg.header.flags
            if stack.neighbours.find(dev.ifindex, ip) == nil && f & NL.F_CREATE == 0 { throw NetlinkError(ENOENT) }
            try stack.addNeighbour(dev, ip: ip, mac: mac, state: state == .none ? .permanent : state,
                                     replace: f & NL.F_EXCL == 0, router: S.isIPv6 ? ndmFlags & 0x80 != 0 : nil)
        } catch let e as NetlinkError { throw e } catch {
            let m = (error as! SluiceError).message
            throw m.contains("File exists") ? NetlinkError(EEXIST) : m.contains("No such file") ? NetlinkError(ENOENT) : Self.netlinkError(error as! SluiceError)
        }
    }
}

extension Datapath {
    /// rtnh_flags of one of a route's next hops, as the kernel keeps them (fib_sync_down_dev,
    /// fib6_ifdown, fib_check_nh, fib_nexthop_info): "linkdown" while its device is up without
    /// carrier, "dead" too while it is down (a multipath route's other next hops keep it) — or
    /// linkdown where the device's ignore_routes_with_linkdown makes it dead; "onlink" as asked.
    /// A local or anycast route's next hop is never dead.
    func nexthopFlags<A: InetAddressValue>(_ r: RouteOf<A>, _ h: NextHopOf<A>) -> UInt8 {
        let onlink = h.onlink ? RTA.RTNH_F_ONLINK : 0
        guard r.type != .local && r.type != .anycast, let d = device(h.dev) else { return onlink }
        if !d.isUp { return onlink | RTA.RTNH_F_DEAD | RTA.RTNH_F_LINKDOWN }
        guard !d.carrier else { return onlink }
        let ignore = A.bitWidth == 128 ? d.inet6.ignoreRoutesWithLinkdown : d.inet4.ignoreRoutesWithLinkdown
        return onlink | RTA.RTNH_F_LINKDOWN | (ignore ? RTA.RTNH_F_DEAD : 0)
    }

    /// rtm_flags: an IPv4 route's own (fi->fib_flags: linkdown when all its next hops were
    /// dead or linkdown at a device's event), then a single next hop's; an IPv6 multipath
    /// route's none (rt6_fill_node).
    func routeFlags<A: InetAddressValue>(_ r: RouteOf<A>) -> UInt8 {
        var flags: UInt8 = A.bitWidth == 32 && r.linkdown ? RTA.RTNH_F_LINKDOWN : 0
        if r.nexthops.count == 1 { flags |= nexthopFlags(r, r.nexthops[0]) }
        return flags
    }

    /// print_rt_flags' words for the flags above, each followed by a space.
    static func routeFlagWords(_ f: UInt8) -> String {
        (f & RTA.RTNH_F_DEAD != 0 ? "dead " : "") + (f & RTA.RTNH_F_ONLINK != 0 ? "onlink " : "") + (f & RTA.RTNH_F_LINKDOWN != 0 ? "linkdown " : "")
    }
}
