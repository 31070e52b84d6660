#if canImport(Glibc)
import Glibc
#endif

/// IFLA_* attribute types (linux/if_link.h).
public enum IFLA {
    public static let ADDRESS: UInt16 = 1, BROADCAST: UInt16 = 2, IFNAME: UInt16 = 3, MTU: UInt16 = 4, LINK: UInt16 = 5
    public static let QDISC: UInt16 = 6, STATS: UInt16 = 7, MASTER: UInt16 = 10, TXQLEN: UInt16 = 13, MAP: UInt16 = 14
    public static let WEIGHT: UInt16 = 15, OPERSTATE: UInt16 = 16, LINKMODE: UInt16 = 17, LINKINFO: UInt16 = 18
    public static let NET_NS_PID: UInt16 = 19, IFALIAS: UInt16 = 20, STATS64: UInt16 = 23, AF_SPEC: UInt16 = 26
    public static let GROUP: UInt16 = 27, NET_NS_FD: UInt16 = 28, EXT_MASK: UInt16 = 29, PROMISCUITY: UInt16 = 30
    public static let NUM_TX_QUEUES: UInt16 = 31, NUM_RX_QUEUES: UInt16 = 32, CARRIER: UInt16 = 33
    public static let TARGET_NETNSID: UInt16 = 46, MIN_MTU: UInt16 = 50, MAX_MTU: UInt16 = 51, PROP_LIST: UInt16 = 52, ALT_IFNAME: UInt16 = 53
    public static let RTM_NEWLINKPROP: UInt16 = 108, RTM_DELLINKPROP: UInt16 = 109
    public static let ALLMULTI: UInt16 = 61, XDP: UInt16 = 43, PROTO_DOWN: UInt16 = 39
    public static let GSO_MAX_SEGS: UInt16 = 40, GSO_MAX_SIZE: UInt16 = 41, GRO_MAX_SIZE: UInt16 = 58
    public static let TSO_MAX_SIZE: UInt16 = 59, TSO_MAX_SEGS: UInt16 = 60
    public static let INFO_KIND: UInt16 = 1, INFO_DATA: UInt16 = 2, INFO_SLAVE_KIND: UInt16 = 4, INFO_SLAVE_DATA: UInt16 = 5
    /// IFLA_INFO_DATA of the kinds only Sluice has (afpacket, afxdp, pcap): its own attributes,
    /// as `sluice link add` sends them (Debian's ip knows no options for these kinds).
    public enum Port {
        public static let DEV: UInt16 = 1, VNET_HDR: UInt16 = 2, RX_MODE: UInt16 = 3, QUEUE: UInt16 = 4
        public static let MODE: UInt16 = 5, RX_RING: UInt16 = 6, PCAP_IN: UInt16 = 7, PCAP_OUT: UInt16 = 8
        /// A vif's guest-tx rate (bits per second, 0: unlimited) and credit window (µs), as
        /// `link add|set NAME type vif rate RATE window TIME` say them.
        public static let VIF_RATE: UInt16 = 9, VIF_WINDOW_USEC: UInt16 = 10
        /// An afxdp port's multi-buffer (XDP_USE_SG with Sluice's own program): 1 on, 0 off.
        public static let MULTIBUFFER: UInt16 = 11
        static let policy = NLAPolicy(maxType: 11, [DEV: .string(maxLength: 15), VNET_HDR: .u8, RX_MODE: .string(maxLength: 8),
                                                    QUEUE: .u32, MODE: .string(maxLength: 10), RX_RING: .u32,
                                                    PCAP_IN: .string(maxLength: 4095), PCAP_OUT: .string(maxLength: 4095),
                                                    VIF_RATE: .u64, VIF_WINDOW_USEC: .u32, MULTIBUFFER: .u8])
        /// The credit a vif's IFLA_INFO_DATA asks of `v`, checked; nil when it names none.
        static func vifCredit(_ d: NLAttributes?, _ v: VifDriver) throws(NetlinkError) -> (bytes: UInt64, window: UInt64)? {
            guard let d else { return nil }
            let usec = d.u32(VIF_WINDOW_USEC)
            if let usec, !(1...10_000_000).contains(usec) {
                throw NetlinkError(EINVAL, "vif: the credit window is 1 us to 10 s", offset: d.offsets[VIF_WINDOW_USEC])
            }
            if let r = d.u64(VIF_RATE), r != 0 && r < 8 { throw NetlinkError(EINVAL, "vif: a rate is at least 8 bit/s", offset: d.offsets[VIF_RATE]) }
            do { return try v.credit(rate: d.u64(VIF_RATE), window: usec.map { UInt64($0) * 1000 }) } catch {
                throw NetlinkError(EINVAL, String(error.message.dropFirst("Error: ".count)), offset: d.offsets[VIF_WINDOW_USEC])
            }
        }
    }

    static let linkinfoPolicy = NLAPolicy(maxType: 5, [INFO_KIND: .string(maxLength: 63), INFO_DATA: .unspec,
                                                       INFO_SLAVE_KIND: .string(maxLength: 63), INFO_SLAVE_DATA: .unspec])
    public static let VLAN_ID: UInt16 = 1, VLAN_FLAGS: UInt16 = 2, VLAN_EGRESS_QOS: UInt16 = 3, VLAN_INGRESS_QOS: UInt16 = 4
    public static let VLAN_PROTOCOL: UInt16 = 5, VLAN_QOS_MAPPING: UInt16 = 1
    public static let MACVLAN_MODE: UInt16 = 1, MACVLAN_FLAGS: UInt16 = 2
    /// vlan_policy (net/8021q/vlan_netlink.c).
    static let vlanPolicy = NLAPolicy(maxType: 5, [VLAN_ID: .u16, VLAN_FLAGS: .minLength(8), VLAN_EGRESS_QOS: .unspec,
                                                   VLAN_INGRESS_QOS: .unspec, VLAN_PROTOCOL: .u16])
    public static let BR_AGEING_TIME: UInt16 = 4, BR_STP_STATE: UInt16 = 5, BR_VLAN_FILTERING: UInt16 = 7
    public static let BR_VLAN_PROTOCOL: UInt16 = 8, BR_GROUP_FWD_MASK: UInt16 = 9, BR_VLAN_DEFAULT_PVID: UInt16 = 39
    public static let BR_FORWARD_DELAY: UInt16 = 1, BR_HELLO_TIME: UInt16 = 2, BR_MAX_AGE: UInt16 = 3, BR_PRIORITY: UInt16 = 6
    public static let BR_ROOT_ID: UInt16 = 10, BR_BRIDGE_ID: UInt16 = 11, BR_ROOT_PORT: UInt16 = 12, BR_ROOT_PATH_COST: UInt16 = 13
    public static let BR_TOPOLOGY_CHANGE: UInt16 = 14, BR_TOPOLOGY_CHANGE_DETECTED: UInt16 = 15
    public static let BR_FDB_FLUSH: UInt16 = 21, BR_MCAST_SNOOPING: UInt16 = 23
    public static let BR_NF_CALL_IPTABLES: UInt16 = 36, BR_NF_CALL_IP6TABLES: UInt16 = 37, BR_NF_CALL_ARPTABLES: UInt16 = 38
    /// br_policy (net/bridge/br_netlink.c), for the attributes Sluice's bridge has or refuses.
    static let bridgePolicy = NLAPolicy(maxType: 64, [BR_AGEING_TIME: .u32, BR_STP_STATE: .u32, BR_VLAN_FILTERING: .u8,
                                                      BR_VLAN_PROTOCOL: .u16, BR_GROUP_FWD_MASK: .u16, BR_VLAN_DEFAULT_PVID: .u16,
                                                      BR_FORWARD_DELAY: .u32, BR_HELLO_TIME: .u32, BR_MAX_AGE: .u32, BR_PRIORITY: .u16,
                                                      BR_MCAST_SNOOPING: .u8, BR_NF_CALL_IPTABLES: .u8, BR_NF_CALL_IP6TABLES: .u8,
                                                      BR_NF_CALL_ARPTABLES: .u8, 22: .u8, 24: .u8, 25: .u8, 26: .u32, 27: .u32, 28: .u32,
                                                      29: .u32, 30: .u64, 31: .u64, 32: .u64, 33: .u64, 34: .u64, 35: .u64, 42: .u8,
                                                      43: .u8, 44: .u8])
    /// The IFLA_BR_* names (if_link.h order), for what Sluice's bridge refuses.
    static let bridgeAttrNames = ["unspec", "forward_delay", "hello_time", "max_age", "ageing_time", "stp_state", "priority",
        "vlan_filtering", "vlan_protocol", "group_fwd_mask", "root_id", "bridge_id", "root_port", "root_path_cost",
        "topology_change", "topology_change_detected", "hello_timer", "tcn_timer", "topology_change_timer", "gc_timer",
        "group_address", "fdb_flush", "mcast_router", "mcast_snooping", "mcast_query_use_ifaddr", "mcast_querier",
        "mcast_hash_elasticity", "mcast_hash_max", "mcast_last_member_count", "mcast_startup_query_count",
        "mcast_last_member_interval", "mcast_membership_interval", "mcast_querier_interval", "mcast_query_interval",
        "mcast_query_response_interval", "mcast_startup_query_interval", "nf_call_iptables", "nf_call_ip6tables",
        "nf_call_arptables", "vlan_default_pvid", "pad", "vlan_stats_enabled", "mcast_stats_enabled", "mcast_igmp_version",
        "mcast_mld_version", "vlan_stats_per_port", "multi_boolopt", "mcast_querier_state"]
    /// ifla_policy (net/core/rtnetlink.c), for the attributes Sluice reads or must bound.
    public static let policy = NLAPolicy(maxType: 64, [
        IFNAME: .string(maxLength: 15), ADDRESS: .binary(maxLength: 32), BROADCAST: .binary(maxLength: 32),
        MAP: .minLength(24), MTU: .u32, LINK: .u32, MASTER: .u32, CARRIER: .u8, TXQLEN: .u32, WEIGHT: .u32,
        OPERSTATE: .u8, LINKMODE: .u8, LINKINFO: .nested(linkinfoPolicy), NET_NS_PID: .u32, NET_NS_FD: .u32,
        IFALIAS: .binary(maxLength: 256), EXT_MASK: .u32, PROMISCUITY: .u32, NUM_TX_QUEUES: .u32,
        NUM_RX_QUEUES: .u32, GROUP: .u32, TARGET_NETNSID: .s32, MIN_MTU: .u32, MAX_MTU: .u32,
        ALT_IFNAME: .string(maxLength: 127), AF_SPEC: .unspec, STATS64: .unspec,
        GSO_MAX_SEGS: .u32, GSO_MAX_SIZE: .u32, GRO_MAX_SIZE: .u32,
    ])
}

/// rtnetlink requests against a datapath, as the kernel answers them: netlink_rcv_skb's walk
/// over a datagram, rtnetlink_rcv_msg's dispatch and permission rule, netlink_ack's replies.
/// Handlers so far: RTM_GETLINK (dump, by index, by name); RTM_GETQDISC and RTM_GETTCLASS
/// dumps, qdisc and class changes (TcNetlink.swift); RTM_NEWLINK/SETLINK/DELLINK (create dummy
/// and bridge devices, change, delete). Everything else answers EOPNOTSUPP until the control
/// plane implements it. Runs on the datapath's thread.
public final class RtnlProcessor {
    public let dp: Datapath
    /// The apply layer shared with the command language (tc's add/replace/change rules).
    public let runner: CommandRunner
    /// The reader's port id (what getsockname returns to it).
    public var pid: UInt32
    /// The reader's socket options: NETLINK_EXT_ACK, NETLINK_CAP_ACK, NETLINK_GET_STRICT_CHK.
    public var extAck = false, capAck = false, strictCheck = false
    /// A warning for the current request's acknowledgement (NL_SET_ERR_MSG on success).
    var extAckWarning: String?
    /// Whether the reader may change state (CAP_NET_ADMIN: uid 0 or the configured group).
    public var mayChange = true
    /// The largest datagram the reader takes (a dump part never exceeds it).
    public var bufferSize = 32768
    /// The multicast groups some reader has joined: changes are snapshotted for these only.
    public var eventGroups: Set<UInt32> = []
    /// A dump in progress (netlink_dump's callback): appends the next messages to a datagram,
    /// returns true once it also wrote NLMSG_DONE.
    var dump: ((inout NetlinkWriter) -> Bool)?
    /// Whether a dump awaits its next datagram (the server asks once the reader took the last).
    public var dumpPending: Bool { dump != nil }

    /// The next datagram of the dump in progress, or nil when there is none.
    public func nextDumpPart() -> [UInt8]? {
        guard let d = dump else { return nil }
        var w = NetlinkWriter()
        if d(&w) { dump = nil }
        return w.bytes
    }

    /// Maps interface indexes in requests (FPM: the kernel's) to Sluice's, when set.
    public var ifindexTranslator: ((Int32) -> Int32)?
    /// Notifications of the changes handled so far, (group, message), for the server to deliver.
    public var events: [(UInt32, [UInt8])] = []

    public init(runner: CommandRunner, pid: UInt32) { self.runner = runner; dp = runner.dp; self.pid = pid }
    public convenience init(datapath: Datapath, pid: UInt32) { self.init(runner: CommandRunner(datapath: datapath), pid: pid) }

    /// The private message `sluice exec` sends for a /proc/net file it reads, or a sysctl file
    /// under /proc/sys/net it reads or writes: the path, NUL-terminated, and for a write
    /// (NLM_F_REPLACE) the value after it. The answer is the same type carrying the errno (u32:
    /// 0, ENOENT for a file the daemon does not have, EINVAL for a value it refuses, EPERM for
    /// a read-only client's write) and a read's text: ProcFiles, or the daemon's sysctl.
    public static let procFileType: UInt16 = 14

    func procFile(_ msg: NetlinkMessage) -> [UInt8] {
        let bytes = Array(msg.payload)
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        let path = String(decoding: bytes[..<end], as: UTF8.self)
        let write = msg.header.flags & NL.F_REPLACE != 0
        var err: Int32 = 0
        var text = ""
        let components = path.split(separator: "/").dropFirst(2).map(String.init)   // after proc/sys
        if let (name, attr) = Self.sysfsNAPIFile(path) {
            (err, text) = sysfsNAPI(name, attr, write: write ? Array(bytes[min(end + 1, bytes.count)...]) : nil)
        } else if path.hasPrefix("/proc/sys/net"), !write, path.hasSuffix("/") || path == "/proc/sys/net" || runner.sysctlDirectory(components) != nil {
            // A directory: with a trailing slash its listing (a name a line, a directory's
            // ending in a slash), else EISDIR, which the shim's stat takes for a directory.
            if path.hasSuffix("/"), let names = runner.sysctlDirectory(components) {
                text = names.map { $0 + "\n" }.joined()
            } else {
                err = path.hasSuffix("/") ? ENOENT : EISDIR
            }
        } else if path.hasPrefix("/proc/sys/net/"), !path.contains("="), !path.contains(" ") {
            // proc_sys: net/ipv6/conf/all/forwarding is the key net.ipv6.conf.all.forwarding.
            // A device name's dots are slashes in the key (procps's conversion, reversed).
            let key = path.dropFirst("/proc/sys/".count).split(separator: "/").map { String($0.map { $0 == "." ? "/" : $0 }) }.joined(separator: ".")
            if write {
                let value = String(decoding: bytes[min(end + 1, bytes.count)...], as: UTF8.self)
                    .split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).joined(separator: " ")
                if !mayChange {
                    err = EPERM
                } else if value.isEmpty || value.contains(" ") {
                    err = EINVAL
                } else {
                    // qdisc_set_default: a name it has no qdisc for is ENOENT (Sluice's
                    // defaults are pfifo_fast, fq_codel, pfifo and bfifo).
                    do { _ = try runner.sysctl(["\(key)=\(value)"]) } catch {
                        err = error.message.contains("cannot stat") || key == "net.core.default_qdisc" ? ENOENT : EINVAL
                    }
                }
            } else {
                do {
                    let line = try runner.sysctl([key])
                    text = line.split(separator: "=", maxSplits: 1).last.map { String($0.drop { $0 == " " }) } ?? "\n"
                } catch {
                    err = ENOENT
                }
            }
        } else if !write, let t = ProcFiles.text(path, dp) {
            text = t
        } else {
            err = write ? EACCES : ENOENT
        }
        var w = NetlinkWriter()
        let st = w.begin(type: Self.procFileType, flags: 0, seq: msg.header.seq, pid: pid)
        w.put32(UInt32(err))
        w.put(Array(text.utf8).prefix(60_000))
        w.end(st)
        return w.bytes
    }

    /// /sys/class/net/DEV/napi_defer_hard_irqs and gro_flush_timeout, the NAPI settings the
    /// kernel's net-sysfs offers per device: (DEV, file name), or nil for any other path.
    public static func sysfsNAPIFile(_ path: String) -> (String, String)? {
        let prefix = "/sys/class/net/"
        guard path.hasPrefix(prefix) else { return nil }
        let parts = path.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1] == "napi_defer_hard_irqs" || parts[1] == "gro_flush_timeout" else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    /// kstrtoul(buf, 0, …) as netdev_store parses a sysfs write: an optional '+', then decimal,
    /// 0x-prefixed hex or 0-prefixed octal digits, at most one trailing newline; EINVAL for
    /// anything else, ERANGE past 64 bits.
    static func kstrtoul(_ b: [UInt8]) -> (value: UInt64, errno: Int32) {
        var i = 0
        if i < b.count && b[i] == UInt8(ascii: "+") { i += 1 }
        var base: UInt64 = 10
        if i + 1 < b.count && b[i] == UInt8(ascii: "0") && (b[i + 1] | 0x20) == UInt8(ascii: "x") && i + 2 < b.count && Self.digit(b[i + 2], 16) != nil {
            base = 16; i += 2
        } else if i < b.count && b[i] == UInt8(ascii: "0") {
            base = 8
        }
        var v: UInt64 = 0, digits = 0, overflow = false
        while i < b.count, let d = Self.digit(b[i], base) {
            let (m, o1) = v.multipliedReportingOverflow(by: base)
            let (a, o2) = m.addingReportingOverflow(d)
            overflow = overflow || o1 || o2
            v = a; digits += 1; i += 1
        }
        if digits == 0 { return (0, EINVAL) }
        if overflow { return (0, ERANGE) }
        if i < b.count && b[i] == UInt8(ascii: "\n") { i += 1 }
        return i == b.count ? (v, 0) : (0, EINVAL)
    }

    static func digit(_ c: UInt8, _ base: UInt64) -> UInt64? {
        let d: UInt64
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt64(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt64(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt64(c - UInt8(ascii: "A") + 10)
        default: return nil
        }
        return d < base ? d : nil
    }

    /// A read ("%d\n" / "%lu\n") or a write of one of the NAPI sysfs files: (errno, text).
    /// Writes as netdev_store: EPERM for a read-only client, the parse's EINVAL/ERANGE,
    /// napi_defer_hard_irqs above S32_MAX ERANGE; any unsigned long for gro_flush_timeout.
    func sysfsNAPI(_ name: String, _ attr: String, write value: [UInt8]?) -> (Int32, String) {
        guard let dev = dp.device(named: name) else { return (ENOENT, "") }
        let defer_ = attr == "napi_defer_hard_irqs"
        guard let value else {
            return (0, defer_ ? "\(Int32(bitPattern: dev.napi.deferHardIrqs))\n" : "\(dev.napi.groFlushTimeoutNs)\n")
        }
        if !mayChange { return (EPERM, "") }
        let (v, e) = Self.kstrtoul(value)
        if e != 0 { return (e, "") }
        if defer_ {
            guard v <= UInt64(Int32.max) else { return (ERANGE, "") }
            dev.napi.deferHardIrqs = UInt32(v)
        } else {
            dev.napi.groFlushTimeoutNs = v
        }
        return (0, "")
    }

    /// The device a write of net.ipv6.conf.DEV.disable_ipv6 names, if the request is one.
    func disableIPv6Device(_ msg: NetlinkMessage) -> NetDevice? {
        guard msg.header.flags & NL.F_REPLACE != 0 else { return nil }
        let bytes = Array(msg.payload)
        let path = String(decoding: bytes[..<(bytes.firstIndex(of: 0) ?? bytes.count)], as: UTF8.self)
        let prefix = "/proc/sys/net/ipv6/conf/", suffix = "/disable_ipv6"
        guard path.hasPrefix(prefix), path.hasSuffix(suffix), path.count > prefix.count + suffix.count else { return nil }
        let name = String(path.dropFirst(prefix.count).dropLast(suffix.count))
        return name == "all" || name == "default" ? nil : dp.device(named: name)
    }

    /// Answers one datagram: every reply datagram, in order.
    public func handle(_ datagram: [UInt8]) -> [[UInt8]] {
        var replies: [[UInt8]] = []
        for msg in NetlinkMessages(datagram) {
            if msg.header.type == Self.procFileType {
                // Knob changes made outside a request (a configuration file) are not announced.
                clearNetconfNotes()
                // disable_ipv6 written on a device is its NETDEV_DOWN or NETDEV_UP for IPv6:
                // the route changes are announced in that order, as for the link itself.
                let disabling = disableIPv6Device(msg)
                let before = disabling.map { routesThrough(dp.ipv6.fib, $0) } ?? []
                replies.append(procFile(msg))
                if let dev = disabling, eventGroups.contains(RTNLGRP.IPV6_ROUTE) {
                    let after = routesThrough(dp.ipv6.fib, dev)
                    for r in before where !after.contains(where: { $0.key == r.key }) {
                        events.append((RTNLGRP.IPV6_ROUTE, Self.notification(r.msg, type: NL.RTM_DELROUTE, seq: 0, pid: 0)))
                    }
                    let fresh = after.filter { r in !before.contains { $0.key == r.key } }
                    for r in dp.ipv6.addressEvents.contains(where: { $0.dev == dev.ifindex && !$0.deleted }) ? upOrder(dev, fresh: fresh) : fresh {
                        events.append((RTNLGRP.IPV6_ROUTE, Self.notification(r.msg, type: NL.RTM_NEWROUTE, seq: 0, pid: 0)))
                    }
                    dp.ipv6.fib.journal.entries.removeAll()
                }
                announceNetconf()
                continue
            }
            if msg.header.type == Self.tunnelIoctlType {
                replies.append(tunnelIoctl(msg))
                dp.ipv4.fib.journal.entries.removeAll()
                dp.ipv6.fib.journal.entries.removeAll()
                continue
            }
            var w = NetlinkWriter()
            var err: NetlinkError? = nil
            var dumped = false
            extAckWarning = nil
            if msg.header.flags & NL.F_REQUEST != 0 && msg.header.type >= NL.MIN_TYPE {
                // NLM_F_ECHO: the change's notification goes to the requester too (rtnl_notify's
                // report), so its group is snapshotted even if nobody listens.
                let family = msg.payload.isEmpty ? 0 : msg.payload[msg.payload.startIndex]
                let echoGroup = msg.header.flags & NL.F_ECHO != 0 ? Self.group(of: msg.header.type, family: family) : nil
                let joined = eventGroups, firstEvent = events.count
                if let g = echoGroup { eventGroups.insert(g) }
                do throws(NetlinkError) {
                    dumped = try withEvents(msg) { () throws(NetlinkError) -> Bool in try dispatch(msg, &replies) }
                } catch {
                    err = error
                }
                eventGroups = joined
                // The request announced its own route changes (or, as the kernel, kept silent).
                dp.ipv4.fib.journal.entries.removeAll()
                dp.ipv6.fib.journal.entries.removeAll()
                if let g = echoGroup, err == nil, let e = events[firstEvent...].first(where: { $0.0 == g }) { replies.append(e.1) }
            }
            // netlink_ack: on error always; on success when asked (a dump ends with DONE instead).
            if err != nil || (msg.header.flags & NL.F_ACK != 0 && !dumped) {
                w.ack(msg, error: err, pid: pid, extAck: extAck, capAck: capAck, warning: extAckWarning)
                replies.append(w.bytes)
            }
        }
        return replies
    }

    /// rtnetlink_rcv_msg: returns true when the request was a dump (its replies appended).
    func dispatch(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) -> Bool {
        let type = msg.header.type
        guard type <= NL.RTM_MAX else { throw NetlinkError(EOPNOTSUPP) }
        // All messages carry at least the one-byte rtgenmsg; shorter ones are ignored.
        guard msg.payload.count >= 1 else { return false }
        let kind = (type - NL.RTM_BASE) & 3
        if kind != 2 && !mayChange { throw NetlinkError(EPERM, "Operation not permitted for a read-only client") }
        let isDump = kind == 2 && msg.header.flags & NL.F_DUMP == NL.F_DUMP
        // One dump at a time per socket, as netlink_dump_start.
        if isDump && dump != nil { throw NetlinkError(EBUSY, "A dump is already in progress on this socket") }
        switch type {
        case NL.RTM_GETLINK where isDump && msg.payload[msg.payload.startIndex] == NDA.AF_BRIDGE:
            try dumpBridgeLinks(msg, &replies)
            return true
        case NL.RTM_GETLINK:
            if isDump { try dumpLinks(msg, &replies); return true }
            replies.append(try getLink(msg))
            return false
        case NL.RTM_GETQDISC where isDump:
            try dumpQdiscs(msg, &replies)
            return true
        case NL.RTM_GETTCLASS where isDump:
            try dumpClasses(msg, &replies)
            return true
        case NL.RTM_NEWQDISC: try newQdisc(msg); return false
        case NL.RTM_DELQDISC: try delQdisc(msg); return false
        case NL.RTM_NEWTCLASS: try newClass(msg); return false
        case NL.RTM_DELTCLASS: try delClass(msg); return false
        case NL.RTM_GETTFILTER where isDump:
            try dumpFilters(msg, &replies)
            return true
        case NL.RTM_GETTFILTER:
            replies.append(try getFilter(msg))
            return false
        case NL.RTM_GETACTION where isDump:
            try dumpActions(msg, &replies)
            return true
        case NL.RTM_GETACTION:
            replies.append(try getActions(msg))
            return false
        case NL.RTM_NEWACTION: try newActions(msg, &replies); return false
        case NL.RTM_DELACTION: try delActions(msg, &replies); return false
        case NL.RTM_NEWTFILTER: try newFilter(msg); return false
        case NL.RTM_NEWCHAIN, NL.RTM_DELCHAIN: try changeChain(msg); return false
        case NL.RTM_GETCHAIN where isDump: try dumpChains(msg, &replies); return true
        case NL.RTM_GETCHAIN: replies.append(try getChain(msg)); return false
        case NL.RTM_DELTFILTER: try delFilter(msg); return false
        case NL.RTM_SETLINK where msg.payload[msg.payload.startIndex] == NDA.AF_BRIDGE:
            try bridgeSetLink(msg, delete: false)
            return false
        case NL.RTM_DELLINK where msg.payload[msg.payload.startIndex] == NDA.AF_BRIDGE:
            try bridgeSetLink(msg, delete: true)
            return false
        case NL.RTM_NEWLINK, NL.RTM_SETLINK:
            try newLink(msg)
            return false
        case NL.RTM_DELLINK:
            try delLink(msg)
            return false
        case IFLA.RTM_NEWLINKPROP, IFLA.RTM_DELLINKPROP:
            try linkProperty(msg)
            return false
        case IFLAStats.RTM_GETSTATS where isDump: try dumpStats(msg, &replies); return true
        case IFLAStats.RTM_GETSTATS: replies.append(try getStats(msg)); return false
        case IFLAStats.RTM_SETSTATS: try setStats(msg); return false
        case NDTA.RTM_GETNEIGHTBL where isDump: try dumpNeighTables(msg, &replies); return true
        case NDTA.RTM_SETNEIGHTBL: try setNeighTable(msg); return false
        case NL.RTM_GETNSID where isDump:
            // One namespace: no peer has an id.
            var parts = DumpParts(limit: bufferSize)
            parts.finish(seq: msg.header.seq, pid: pid, into: &replies)
            return true
        case NL.RTM_GETNSID:
            // rtnl_net_getid: the daemon is one namespace, and no peer has an id.
            var w = NetlinkWriter()
            let st = w.begin(type: NL.RTM_GETNSID - 2, flags: 0, seq: msg.header.seq, pid: pid)
            w.put32(0)                                     // rtgenmsg, padded
            w.attr(1, u32: UInt32(bitPattern: -1))         // NETNSA_NSID: NETNSA_NSID_NOT_ASSIGNED
            w.end(st)
            replies.append(w.bytes)
            return false
        case NL.RTM_GETNEIGH where isDump:
            if msg.payload[msg.payload.startIndex] == NDA.AF_BRIDGE { try dumpFdb(msg, &replies); return true }
            try dumpNeighbours(msg, &replies); return true
        case NL.RTM_GETNEIGH where msg.payload.first == NDA.AF_BRIDGE:
            replies.append(try getFdb(msg)); return false
        case NL.RTM_GETNEIGH where [Self.AF_INET, Self.AF_INET6].contains(msg.payload.first ?? 0):
            replies.append(try getNeigh(msg)); return false
        case NL.RTM_NEWNEIGH where [Self.AF_INET, Self.AF_INET6].contains(msg.payload[msg.payload.startIndex]):
            try changeNeigh(msg, delete: false); return false
        case NL.RTM_DELNEIGH where [Self.AF_INET, Self.AF_INET6].contains(msg.payload[msg.payload.startIndex]):
            try changeNeigh(msg, delete: true); return false
        case IFLABridge.RTM_GETVLAN where isDump:
            try dumpVLANs(msg, &replies); return true
        case NL.RTM_GETADDR where isDump:
            try dumpAddrs(msg, &replies); return true
        case IFAL.RTM_GETADDRLABEL where isDump: try dumpAddrLabels(msg, &replies); return true
        case IFAL.RTM_GETADDRLABEL: replies.append(try getAddrLabel(msg)); return false
        case IFAL.RTM_NEWADDRLABEL, IFAL.RTM_DELADDRLABEL: try changeAddrLabel(msg); return false
        case NL.RTM_NEWADDR: try changeAddr(msg, delete: false); return false
        case NL.RTM_DELADDR: try changeAddr(msg, delete: true); return false
        case NL.RTM_GETROUTE where isDump:
            try dumpRoutes(msg, &replies); return true
        case NL.RTM_GETROUTE:
            replies.append(try getRoute(msg)); return false
        case MDBA.RTM_GETMDB where isDump && msg.payload.first == NDA.AF_BRIDGE: dumpMdb(msg, &replies); return true
        case MDBA.RTM_NEWMDB where msg.payload.first == NDA.AF_BRIDGE, MDBA.RTM_DELMDB where msg.payload.first == NDA.AF_BRIDGE:
            try changeMdb(msg); return false
        case NETCONFA.RTM_GETNETCONF where isDump: try dumpNetconf(msg, &replies); return true
        case NETCONFA.RTM_GETNETCONF: replies.append(try getNetconf(msg)); return false
        case FRA.RTM_GETRULE where isDump: try dumpRules(msg, &replies); return true
        case FRA.RTM_NEWRULE: try changeRule(msg, delete: false); return false
        case FRA.RTM_DELRULE: try changeRule(msg, delete: true); return false
        case NHA.RTM_GETNEXTHOP where isDump: try dumpNexthops(msg, &replies); return true
        case NHA.RTM_GETNEXTHOP: replies.append(try getNexthop(msg)); return false
        case NHA.RTM_NEWNEXTHOP: try newNexthop(msg); return false
        case NHA.RTM_DELNEXTHOP: try delNexthop(msg); return false
        case NL.RTM_NEWROUTE: try newRoute(msg); return false
        case NL.RTM_DELROUTE: try delRoute(msg); return false
        case NL.RTM_NEWNEIGH where msg.payload[msg.payload.startIndex] == NDA.AF_BRIDGE:
            try addFdb(msg); return false
        case NL.RTM_DELNEIGH where msg.payload[msg.payload.startIndex] == NDA.AF_BRIDGE:
            try delFdb(msg); return false
        default:
            throw NetlinkError(EOPNOTSUPP)
        }
    }

    // MARK: links

    /// rtnl_newlink / rtnl_setlink: creates a device (NLM_F_CREATE with a kind: dummy, bridge)
    /// or changes one, whole or not at all, through the same apply step as `link set`.
    /// A request naming no existing device and not creating one is ENODEV — also what ip's
    /// startup probe gets, so that it never falls back to ioctls on the kernel.
    func newLink(_ msg: NetlinkMessage) throws(NetlinkError) {
        let (index, rest) = try ifinfo(msg)
        let p = msg.payload
        let ifiFlags = p.le32(at: 8), ifiChange = p.le32(at: 12)
        let a = try NLAttributes.parse(rest, base: NL.hdrLen + 16, policy: IFLA.policy, strict: false)
        let name = a.string(IFLA.IFNAME) ?? a.string(IFLA.ALT_IFNAME)
        var kind: String? = nil
        var data: NLAttributes? = nil
        var portChange: (BridgePortChange, flush: Bool)? = nil
        if let li = a[IFLA.LINKINFO] {
            let liBase = a.offsets[IFLA.LINKINFO]! + NL.attrHdrLen
            let info = try NLAttributes.parse(li, base: liBase, policy: IFLA.linkinfoPolicy, strict: false)
            kind = info.string(IFLA.INFO_KIND)
            if let sd = info[IFLA.INFO_SLAVE_DATA] {
                // rtnl_changelink → the master's slave_changelink (br_port_slave_changelink): the
                // master's kind decides (iproute2 names "bridge_slave" as IFLA_INFO_KIND).
                let pa = try NLAttributes.parse(sd, base: info.offsets[IFLA.INFO_SLAVE_DATA]! + NL.attrHdrLen, policy: BRPORT.policy, strict: false)
                portChange = try BRPORT.change(pa)
            }
            if let d = info[IFLA.INFO_DATA] {
                let policy: NLAPolicy
                switch kind {
                case "vlan": policy = IFLA.vlanPolicy
                case "macvlan": policy = NLAPolicy(maxType: 16, [IFLA.MACVLAN_MODE: .u32, IFLA.MACVLAN_FLAGS: .u16, 7: .u32])
                case "bridge": policy = IFLA.bridgePolicy
                case "vrf": policy = NLAPolicy(maxType: 1, [1: .u32])
                case "afpacket", "afxdp", "pcap", "vif": policy = IFLA.Port.policy
                default: policy = NLAPolicy(maxType: 64, [:])
                }
                data = try NLAttributes.parse(d, base: info.offsets[IFLA.INFO_DATA]! + NL.attrHdrLen, policy: policy, strict: false)
            }
        }
        var dev = index > 0 ? dp.device(index) : name.flatMap { dp.device(named: $0) }
        let existed = dev != nil
        var renameTo: String? = nil
        let flags = msg.header.flags
        let vlanOpts = kind == "vlan" ? try Self.vlanOptions(data) : nil
        if dev == nil {
            guard msg.header.type == NL.RTM_NEWLINK, index == 0, flags & NL.F_CREATE != 0 else { throw NetlinkError(ENODEV) }
            guard let name else { throw NetlinkError(EINVAL, "A device name is required") }
            // A device being made has no inet6_dev yet: inet6_set_link_af answers EAFNOSUPPORT.
            if a.has(IFLA.AF_SPEC) { throw NetlinkError(EAFNOSUPPORT) }
            // veth_validate (before rtnl_create_link): an MTU outside 68…65535 is EINVAL,
            // without a message.
            if kind == "veth", let m = a.u32(IFLA.MTU), !(68...65535).contains(m) { throw NetlinkError(EINVAL) }
            // The kinds' validate: an address must be a valid unicast one (vlan names itself).
            if let m = a[IFLA.ADDRESS], m.count == 6, case let mac = MACAddress(Array(m)), mac.isMulticast || mac.isZero {
                if kind == "vlan" { throw NetlinkError(EADDRNOTAVAIL, "8021q: Invalid link address", offset: a.offsets[IFLA.ADDRESS]) }
                throw NetlinkError(EADDRNOTAVAIL)
            }
            // rtnl_create_link: dev_validate_mtu against the new kind's bounds.
            if let m = a.u32(IFLA.MTU).map({ Int($0) }), let k = kind {
                let b = NetDevice.mtuBounds(kind: k)
                if m < b.min { throw NetlinkError(EINVAL, "mtu less than device minimum", offset: a.offsets[IFLA.MTU]) }
                if b.max > 0 && m > b.max { throw NetlinkError(EINVAL, "mtu greater than device maximum", offset: a.offsets[IFLA.MTU]) }
            }
            // rtnl_create_link: the queue counts asked for, else the kind's (checked before the
            // kind's own newlink runs).
            func queueCounts(_ attrs: NLAttributes) throws(NetlinkError) -> (tx: Int?, rx: Int?) {
                let tx = attrs.u32(IFLA.NUM_TX_QUEUES).map { Int($0) }, rx = attrs.u32(IFLA.NUM_RX_QUEUES).map { Int($0) }
                if let tx, !(1...4096).contains(tx) { throw NetlinkError(EINVAL, "Invalid number of transmit queues", offset: attrs.offsets[IFLA.NUM_TX_QUEUES]) }
                if let rx, !(1...4096).contains(rx) { throw NetlinkError(EINVAL, "Invalid number of receive queues", offset: attrs.offsets[IFLA.NUM_RX_QUEUES]) }
                return (tx, rx)
            }
            let queues = try queueCounts(a)
            do {
                switch kind {
                case "dummy": dev = try dp.addDummy(name: name)
                case "ifb": dev = try dp.addIFB(name: name)
                case "tap":
                    // A kernel TAP with virtio headers, as `link add NAME type tap` in a
                    // configuration file (Sluice's own kind: the kernel makes TAPs by ioctl).
                    let mac = a[IFLA.ADDRESS].flatMap { $0.count == 6 ? MACAddress(Array($0)) : nil }
                    dev = try dp.addTap(name: name, mac: mac, mtu: a.u32(IFLA.MTU).map { Int($0) } ?? 1500)
                case "vif":
                    // A virtual NIC's backend, waiting for its frontend (Sluice's own kind).
                    let mac = a[IFLA.ADDRESS].flatMap { $0.count == 6 ? MACAddress(Array($0)) : nil }
                    let made = try dp.addVif(name: name, mac: mac, mtu: a.u32(IFLA.MTU).map { Int($0) } ?? 1500)
                    dev = made
                    if let v = made.driver as? VifDriver {
                        do {
                            if let credit = try IFLA.Port.vifCredit(data, v), credit.bytes != 0 {
                                v.setRate(bytes: credit.bytes, window: credit.window, now: dp.clock.now)
                            }
                        } catch { try? dp.deleteDevice(made); throw error }
                    }
                case "bridge": dev = try dp.addBridge(name: name).device
                case "vrf":
                    // vrf_validate, then vrf_newlink.
                    if let m = a[IFLA.ADDRESS], m.count != 6 { throw NetlinkError(EINVAL, "Invalid hardware address") }
                    guard let table = data?.u32(1) else { throw NetlinkError(EINVAL, "VRF table id is missing") }
                    guard table != 0 else { throw NetlinkError(EINVAL, "Invalid VRF table id", offset: data?.offsets[1]) }
                    let mac = a[IFLA.ADDRESS].flatMap { $0.count == 6 ? MACAddress(Array($0)) : nil }
                    dev = try dp.addVRF(name: name, table: table, mac: mac, mtu: a.u32(IFLA.MTU).map { Int($0) })
                case "afpacket":
                    // A kernel interface through AF_PACKET (Sluice's own kind, its options in
                    // IFLA_INFO_DATA as IFLA.Port).
                    guard let kdev = data?.string(IFLA.Port.DEV) else { throw NetlinkError(EINVAL, "type afpacket needs dev KERNEL_IFNAME") }
                    let rx = data?.string(IFLA.Port.RX_MODE) ?? "mmsg"
                    guard let mode = PacketSocketDriver.RxMode(rawValue: rx) else { throw NetlinkError(EINVAL, "rx must be ring or mmsg, not \"\(rx)\"") }
                    dev = try dp.addPacketSocket(name: name, kernelInterface: kdev, vnet: (data?.u8(IFLA.Port.VNET_HDR) ?? 1) != 0, rxMode: mode)
                case "afxdp":
                    guard let kdev = data?.string(IFLA.Port.DEV) else { throw NetlinkError(EINVAL, "type afxdp needs dev KERNEL_IFNAME") }
                    let m = data?.string(IFLA.Port.MODE) ?? "auto"
                    guard let mode = XDPDriver.Mode(rawValue: m) else { throw NetlinkError(EINVAL, "mode must be auto, copy or zerocopy, not \"\(m)\"") }
                    let ring = data?.u32(IFLA.Port.RX_RING) ?? XDPDriver.defaultRxRing
                    guard (64...2048).contains(ring), ring & (ring - 1) == 0 else { throw NetlinkError(EINVAL, "rx_ring must be a power of two from 64 to 2048") }
                    dev = try dp.addXDP(name: name, kernelInterface: kdev, queue: data?.u32(IFLA.Port.QUEUE) ?? 0, mode: mode, rxRing: ring,
                                        multiBuffer: (data?.u8(IFLA.Port.MULTIBUFFER) ?? 1) != 0)
                case "pcap":
                    let input = data?.string(IFLA.Port.PCAP_IN), output = data?.string(IFLA.Port.PCAP_OUT)
                    guard input != nil || output != nil else { throw NetlinkError(EINVAL, "type pcap needs in FILE and/or out FILE") }
                    dev = try dp.addPcap(name: name, input: input, output: output)
                case "veth":
                    // VETH_INFO_PEER: an ifinfomsg and the peer's own attributes (veth_newlink).
                    var peerName: String? = nil, peerMAC: MACAddress? = nil, peerMTU: Int? = nil, peerQlen: Int? = nil
                    var peerQueues = queues
                    if let peer = data?[1], peer.count >= 16 {
                        let pa = try NLAttributes.parse(peer.dropFirst(16), base: (data?.offsets[1] ?? 0) + NL.attrHdrLen + 16,
                                                        policy: IFLA.policy, strict: false)
                        peerName = pa.string(IFLA.IFNAME)
                        peerQueues = try queueCounts(pa)
                        // The peer's own address, MTU and queue length (rtnl_create_link with tbp).
                        // veth_validate on the peer's attributes.
                        if let m = pa[IFLA.ADDRESS] {
                            guard m.count == 6 else { throw NetlinkError(EINVAL) }
                            peerMAC = MACAddress(Array(m))
                            if peerMAC!.isMulticast || peerMAC!.isZero { throw NetlinkError(EADDRNOTAVAIL) }
                        }
                        if let m = pa.u32(IFLA.MTU) {
                            guard (68...65535).contains(m) else { throw NetlinkError(EINVAL) }
                            peerMTU = Int(m)
                        }
                        peerQlen = pa.u32(IFLA.TXQLEN).map { Int($0) }
                    }
                    // Without VETH_INFO_PEER the peer is made from the device's own attributes.
                    if data?[1] == nil { peerMTU = a.u32(IFLA.MTU).map { Int($0) } }
                    if peerName == nil {
                        var n = 0
                        while dp.device(named: "veth\(n)") != nil || "veth\(n)" == name { n += 1 }
                        peerName = "veth\(n)"
                    }
                    let pair = try dp.addVethPair(name: name, peer: peerName!, peerMTU: peerMTU, queues: queues, peerQueues: peerQueues)
                    if let peerMAC { pair.1.mac = peerMAC }
                    if let peerQlen { pair.1.txQueueLen = peerQlen }
                    dev = pair.0
                case "vlan":
                    // vlan_newlink's checks, in its order.
                    guard let v = vlanOpts, let id = v.id else { throw NetlinkError(EINVAL, "8021q: VLAN id not specified") }
                    guard let link = a.u32(IFLA.LINK) else { throw NetlinkError(EINVAL, "8021q: link not specified") }
                    guard let parent = dp.device(Int32(bitPattern: link)) else { throw NetlinkError(ENODEV, "8021q: link does not exist") }
                    if let mac = a[IFLA.ADDRESS], mac.count != 6 { throw NetlinkError(EINVAL, "8021q: Invalid link address", offset: a.offsets[IFLA.ADDRESS]) }
                    let created = try dp.addVLAN(name: name, parent: parent, id: id, proto: v.proto ?? EtherType.vlan,
                                                 mtu: a.u32(IFLA.MTU).map { Int($0) })
                    runner.applyVLANOptions(created, v)
                    dev = created
                case "macvlan":
                    guard let link = a.u32(IFLA.LINK) else { throw NetlinkError(EINVAL, "macvlan: link not specified") }
                    guard let lower = dp.device(Int32(bitPattern: link)) else { throw NetlinkError(ENODEV, "macvlan: link does not exist") }
                    let raw = data?.u32(IFLA.MACVLAN_MODE) ?? MacvlanMode.vepa.rawValue
                    guard let mode = MacvlanMode(rawValue: raw) else {
                        throw NetlinkError(EOPNOTSUPP, "macvlan mode \(raw) (passthru, source) is not implemented in Sluice")
                    }
                    var mac: MACAddress? = nil
                    if let m = a[IFLA.ADDRESS], m.count == 6 { mac = MACAddress(Array(m)) }
                    dev = try dp.addMacvlan(name: name, lower: lower, mode: mode, mac: mac, mtu: a.u32(IFLA.MTU).map { Int($0) })
                case "vxlan":
                    // vxlan_nl2conf for what Sluice's VXLAN carries: a unicast IPv4 remote.
                    let external = data?.u8(25).map { $0 != 0 } ?? false
                    guard let vni = data?.u32(1) ?? (external ? 0 : nil) else { throw NetlinkError(EINVAL, "Missing VXLAN network identifier") }
                    if data?.has(16) == true || data?.has(17) == true { throw NetlinkError(EOPNOTSUPP, "vxlan: IPv6 underlays are not implemented in Sluice") }
                    if data?.has(23) == true || data?.has(27) == true { throw NetlinkError(EOPNOTSUPP, "vxlan: GBP and GPE are not implemented in Sluice") }
                    func be32(_ t: UInt16) -> UInt32 { data?[t].flatMap { $0.count == 4 ? $0.reduce(UInt32(0)) { $0 << 8 | UInt32($1) } : nil } ?? 0 }
                    var under: NetDevice? = nil
                    if let l = data?.u32(3), l != 0 {
                        guard let d = dp.device(Int32(bitPattern: l)) else { throw NetlinkError(ENODEV, "vxlan: link does not exist") }
                        under = d
                    }
                    var port = data?[15].flatMap { $0.count == 2 ? UInt16($0[$0.startIndex]) << 8 | UInt16($0[$0.startIndex + 1]) : nil } ?? 0
                    if port == 0 { port = 8472 }                                  // vxlan_port, the module's default
                    var range: (UInt16, UInt16)? = nil
                    if let r = data?[10], r.count == 4 {
                        let lo = UInt16(r[r.startIndex]) << 8 | UInt16(r[r.startIndex + 1]), hi = UInt16(r[r.startIndex + 2]) << 8 | UInt16(r[r.startIndex + 3])
                        if lo != 0 || hi != 0 {
                            guard lo < hi else { throw NetlinkError(EINVAL, "Invalid source port range") }
                            range = (lo, hi)
                        }
                    }
                    var mac: MACAddress? = nil
                    if let m = a[IFLA.ADDRESS], m.count == 6 { mac = MACAddress(Array(m)) }
                    dev = try dp.addVXLAN(name: name, vni: vni, remote: be32(2), local: be32(4), port: port, ttl: data?.u8(5) ?? 0, tos: data?.u8(6) ?? 0,
                                          udpCsum: (data?.u8(18) ?? 1) != 0, srcPorts: range, link: under, mac: mac, mtu: a.u32(IFLA.MTU).map { Int($0) },
                                          external: external, learning: (data?.u8(7) ?? 1) != 0, ageing: data?.u32(8) ?? 300,
                                          maxAddresses: Int(data?.u32(9) ?? 0))
                case "gre", "gretap":
                    let g = try greConfig(kind ?? "gre", data)
                    var mac: MACAddress? = nil
                    if kind == "gretap", let m = a[IFLA.ADDRESS] {
                        guard m.count == 6 else { throw NetlinkError(EINVAL) }
                        mac = MACAddress(Array(m))
                        if mac!.isMulticast || mac!.raw == 0 { throw NetlinkError(EADDRNOTAVAIL) }
                    }
                    dev = try dp.addGRE(name: name, config: g, mac: mac, mtu: a.u32(IFLA.MTU).map { Int($0) })
                default: throw NetlinkError(EOPNOTSUPP, "Unknown device type")
                }
            } catch let e as NetlinkError { throw e } catch { throw Self.netlinkError(error as! SluiceError) }
            if kind != "veth", let d = dev { dp.setQueueCounts(d, tx: queues.tx, rx: queues.rx) }
        } else {
            if msg.header.type == NL.RTM_NEWLINK && flags & NL.F_EXCL != 0 { throw NetlinkError(EEXIST) }
            // dev_change_name: with an index, IFLA_IFNAME is the new name.
            if index > 0, let name, name != dev!.name {
                // dev_change_name: EEXIST or EINVAL, with no message.
                if dp.device(named: name) != nil { throw NetlinkError(EEXIST) }
                if name.utf8.count > 15 || name == "." || name == ".." || name.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace }) {
                    throw NetlinkError(EINVAL)
                }
                renameTo = name
            }
            if data != nil && kind != dev!.kind { throw NetlinkError(EOPNOTSUPP) }
            // vrf_link_ops has no changelink: a VRF's table is fixed at creation.
            if data != nil && kind == "vrf" { throw NetlinkError(EOPNOTSUPP) }
        }
        guard let dev else { throw NetlinkError(ENODEV) }
        // rtnl_newlink_create: a device this request made goes again when the rest of the
        // request fails (br_changelink's refusals, a bad option), so it applies entirely or not.
        var applied = existed
        defer { if !applied { try? dp.deleteDevice(dev) } }
        var c = CommandRunner.Common()
        if existed, data != nil, let kind, kind == "gre" || kind == "gretap" {
            let g = try greConfig(kind, data)
            do throws(SluiceError) { try dp.checkGREChange(dev, g) } catch { throw Self.netlinkError(error) }
            c.gre = g
        }
        if let (ch, flush) = portChange {
            guard dev.master != 0, dp.bridges[dev.master] != nil else { throw NetlinkError(EOPNOTSUPP, "\(dev.name) is not a bridge port") }
            c.port = ch; c.portFlush = flush; c.portViaLink = true
        }
        if let v = a.u32(IFLA.MTU) { c.mtu = Int(v) }
        c.creating = !existed
        c.rename = renameTo
        if let v = a.u32(IFLA.TXQLEN) { c.txqlen = Int(v) }
        if kind == "macvlan", dev.driver is MacvlanDriver, let raw = data?.u32(IFLA.MACVLAN_MODE) {
            guard let m = MacvlanMode(rawValue: raw) else {
                throw NetlinkError(raw == 8 ? EINVAL : EOPNOTSUPP, "macvlan mode \(raw) (passthru, source) is not implemented in Sluice", offset: data?.offsets[IFLA.MACVLAN_MODE])
            }
            c.macvlanMode = m
        }
        if kind == "macvlan", dev.driver is MacvlanDriver, let n = data?.u32(7) { c.macvlanBcQueueLen = n }   // IFLA_MACVLAN_BC_QUEUE_LEN
        if kind == "vif", existed, let v = dev.driver as? VifDriver { c.vifCredit = try IFLA.Port.vifCredit(data, v) }
        if let v = a.u32(IFLA.GRO_MAX_SIZE) {
            guard v <= 65536 else { throw NetlinkError(EINVAL, "too big gro_max_size", offset: a.offsets[IFLA.GRO_MAX_SIZE]) }
            c.groMaxSize = Int(v)
        }
        // do_setlink: no larger than what the device can offload (tso_max_size / tso_max_segs).
        if let v = a.u32(IFLA.GSO_MAX_SIZE) {
            guard v <= 65536 else { throw NetlinkError(EINVAL, "too big gso_max_size", offset: a.offsets[IFLA.GSO_MAX_SIZE]) }
            c.gsoMaxSize = Int(v)
        }
        if let v = a.u32(IFLA.GSO_MAX_SEGS) {
            guard v <= 65535 else { throw NetlinkError(EINVAL, "too big gso_max_segs", offset: a.offsets[IFLA.GSO_MAX_SEGS]) }
            c.gsoMaxSegs = Int(v)
        }
        if let v = a[IFLA.ADDRESS] {
            guard v.count == 6 else { throw NetlinkError(EINVAL, "Invalid address length", offset: a.offsets[IFLA.ADDRESS]) }
            // is_valid_ether_addr, as eth_mac_addr and the kinds' validate (veth, dummy, ifb,
            // bridge, macvlan) check it: no multicast, no zero address.
            let mac = MACAddress(Array(v))
            if mac.isMulticast || mac.isZero { throw NetlinkError(EADDRNOTAVAIL) }
            c.mac = mac
        }
        if let m = a.u32(IFLA.MASTER) {
            if m == 0 { c.master = .some(nil) } else {
                guard let md = dp.device(Int32(bitPattern: m)) else { throw NetlinkError(EINVAL, "Invalid master device", offset: a.offsets[IFLA.MASTER]) }
                c.master = .some(md.name)
            }
        }
        if ifiChange & InterfaceFlags.up.rawValue != 0 { c.up = ifiFlags & InterfaceFlags.up.rawValue != 0 }
        if ifiChange & InterfaceFlags.promisc.rawValue != 0 { c.promisc = ifiFlags & InterfaceFlags.promisc.rawValue != 0 }
        if ifiChange & InterfaceFlags.allMulti.rawValue != 0 { c.allmulti = ifiFlags & InterfaceFlags.allMulti.rawValue != 0 }
        // dev_change_flags: NOARP, MULTICAST, DYNAMIC, DEBUG, NOTRAILERS, PORTSEL and AUTOMEDIA as
        // asked; any other bit is ignored, as the kernel ignores it.
        for f in [InterfaceFlags.debug, .noTrailers, .noARP, .dynamic, .multicast, .portSel, .autoMedia] where ifiChange & f.rawValue != 0 {
            c.flag(f, ifiFlags & f.rawValue != 0)
        }
        if let v = a.string(IFLA.IFALIAS) { c.alias = .some(v.isEmpty ? nil : v) }
        if let spec = a[IFLA.AF_SPEC] {
            c.addrGenMode = try linkAFSpec(spec, base: a.offsets[IFLA.AF_SPEC]! + NL.attrHdrLen)
        }
        if let v = a.u32(IFLA.GROUP) { c.group = v }
        for t in [IFLA.NET_NS_PID, IFLA.NET_NS_FD] where a.has(t) {
            throw NetlinkError(EOPNOTSUPP, "Sluice's devices cannot move to another network namespace", offset: a.offsets[t])
        }
        if a.has(IFLA.XDP) { throw NetlinkError(EOPNOTSUPP, "XDP programs cannot be attached to Sluice's devices", offset: a.offsets[IFLA.XDP]) }
        if let v = a.u8(IFLA.PROTO_DOWN), v != 0 { throw NetlinkError(EOPNOTSUPP, "protodown is not supported by Sluice", offset: a.offsets[IFLA.PROTO_DOWN]) }
        if let d = data, kind == "bridge" {
            if let v = d.u32(IFLA.BR_AGEING_TIME) { c.ageing = Int(v) }       // centiseconds
            if let v = d.u16(IFLA.BR_GROUP_FWD_MASK) { c.groupFwdMask = v }
            if let v = d.u8(IFLA.BR_VLAN_FILTERING) { c.bridgeVLAN.filtering = v != 0 }
            if let v = d.u16(IFLA.BR_VLAN_PROTOCOL) { c.bridgeVLAN.proto = v.byteSwapped }   // __be16
            if let v = d.u16(IFLA.BR_VLAN_DEFAULT_PVID) { c.bridgeVLAN.defaultPVID = v }
            if let v = d.u32(IFLA.BR_FORWARD_DELAY) { c.bridge.forwardDelay = v }
            if let v = d.u32(IFLA.BR_HELLO_TIME) { c.bridge.helloTime = v }
            if let v = d.u32(IFLA.BR_MAX_AGE) { c.bridge.maxAge = v }
            if let v = d.u16(IFLA.BR_PRIORITY) { c.bridge.priority = v }
            if let v = d.u32(IFLA.BR_STP_STATE) { c.bridge.stpState = v }
            if let v = d.u8(IFLA.BR_MCAST_SNOOPING) { c.bridge.mcastSnooping = v != 0 }
            if let v = d.u8(25) { c.bridge.mcastQuerier = v != 0 }                     // IFLA_BR_MCAST_QUERIER
            if let v = d.u8(22) { c.bridge.mcastRouter = v }                            // IFLA_BR_MCAST_ROUTER
            // IFLA_BR_MCAST_*: counts, times (clock_t), the querier's source, the table's size;
            // versions and statistics only as Sluice's querier has them; elasticity ignored.
            c.bridge.mcast.queryUseIfaddr = d.u8(24).map { $0 != 0 }
            c.bridge.mcast.hashMax = d.u32(27)
            c.bridge.mcast.lastMemberCount = d.u32(28)
            c.bridge.mcast.startupQueryCount = d.u32(29)
            c.bridge.mcast.lastMemberInterval = d.u64(30)
            c.bridge.mcast.membershipInterval = d.u64(31)
            c.bridge.mcast.querierInterval = d.u64(32)
            c.bridge.mcast.queryInterval = d.u64(33)
            c.bridge.mcast.queryResponseInterval = d.u64(34)
            c.bridge.mcast.startupQueryInterval = d.u64(35)
            do {
                try CommandRunner.MulticastChange.checkVersions(igmp: d.u8(43).map(Int.init), mld: d.u8(44).map(Int.init), stats: d.u8(42).map(Int.init))
            } catch {
                var e = Self.netlinkError(error)
                e.offset = d.offsets[d.has(43) ? 43 : d.has(44) ? 44 : 42]
                throw e
            }
            c.bridge.fdbFlush = d.has(IFLA.BR_FDB_FLUSH)
            if let b = d[46] {
                // IFLA_BR_MULTI_BOOLOPT (struct br_boolopt_multi): bit 0 no_linklocal_learn;
                // mcast_vlan_snooping and mst_enable only off (Sluice has neither).
                guard b.count >= 8 else { throw NetlinkError(ERANGE, "Attribute failed policy validation", offset: d.offsets[46]) }
                let val = b.le32(at: 0), mask = b.le32(at: 4)
                if mask & ~UInt32(7) != 0 { throw NetlinkError(EINVAL, "invalid boolean option", offset: d.offsets[46]) }
                if mask & 6 & val != 0 {
                    throw NetlinkError(EOPNOTSUPP, "\(val & 2 != 0 ? "mcast_vlan_snooping" : "mst_enable") is not implemented in Sluice", offset: d.offsets[46])
                }
                if mask & 1 != 0 { c.bridge.noLinkLocalLearn = val & 1 != 0 }
            }
            // What the bridge does not have is refused, not ignored; the read-only attributes
            // (ids, timers, the querier's state) are ignored, as br_changelink ignores them.
            let handled = Set<UInt16>([IFLA.BR_AGEING_TIME, IFLA.BR_GROUP_FWD_MASK, IFLA.BR_VLAN_FILTERING, IFLA.BR_VLAN_PROTOCOL,
                                        IFLA.BR_VLAN_DEFAULT_PVID, IFLA.BR_FORWARD_DELAY, IFLA.BR_HELLO_TIME, IFLA.BR_MAX_AGE,
                                        IFLA.BR_PRIORITY, IFLA.BR_FDB_FLUSH, IFLA.BR_STP_STATE, IFLA.BR_MCAST_SNOOPING, 22, 25, 40, 46, 47])
                                        .union(Set<UInt16>(24...35)).union([42, 43, 44])
            for t in d.values.keys.sorted() where !handled.contains(t) && !(10...19).contains(t) {
                let name = Int(t) < IFLA.bridgeAttrNames.count ? IFLA.bridgeAttrNames[Int(t)] : "\(t)"
                let off = d.offsets[t]
                switch t {
                case IFLA.BR_NF_CALL_IPTABLES, IFLA.BR_NF_CALL_IP6TABLES, IFLA.BR_NF_CALL_ARPTABLES:
                    let v = Int(d.u8(t) ?? 0)
                    do { try CommandRunner.refuseBridgeFeature(name, v) } catch {
                        var e = Self.netlinkError(error)
                        e.offset = off
                        throw e
                    }
                default:
                    throw NetlinkError(EOPNOTSUPP, "Sluice's bridge does not support \(name)", offset: off)
                }
            }
        }
        if var v = vlanOpts, dev.kind == "vlan" {
            // On a device just made, id and protocol were used already.
            if msg.header.type == NL.RTM_NEWLINK && flags & NL.F_CREATE != 0 { v.id = nil; v.proto = nil }
            c.vlan = v
        }
        var vxlanConfig: VXLANDriver.Config? = nil
        if existed, kind == "vxlan", let d = data, let v = dev.driver as? VXLANDriver {
            vxlanConfig = try Self.vxlanChangelink(d, v.config, dp)
        }
        do { try runner.applyLinkSet(dev, c) } catch { throw Self.netlinkError(error) }
        applied = true
        if let nc = vxlanConfig, let v = dev.driver as? VXLANDriver { v.change(to: nc, now: dp.clock.now) }
        dp.kickTransmit(dev)
    }

    /// vxlan_nl2conf with changelink: what may change (remote, local, underlay, TTL, TOS,
    /// learning, ageing) and the kernel's refusal, by name, of what may not.
    static func vxlanChangelink(_ d: NLAttributes, _ old: VXLANDriver.Config, _ dp: Datapath) throws(NetlinkError) -> VXLANDriver.Config {
        var c = old
        func be32(_ t: UInt16) -> UInt32? { d[t].flatMap { $0.count == 4 ? $0.reduce(UInt32(0)) { $0 << 8 | UInt32($1) } : nil } }
        if let vni = d.u32(1), vni != c.vni { throw NetlinkError(EOPNOTSUPP, "Cannot change VNI", offset: d.offsets[1]) }
        if d.has(16) { throw NetlinkError(EOPNOTSUPP, "New group address family does not match old group", offset: d.offsets[16]) }
        if d.has(17) { throw NetlinkError(EOPNOTSUPP, "New local address family does not match old", offset: d.offsets[17]) }
        let flags: [(UInt16, String)] = [(28, "TTL_INHERIT"), (11, "PROXY"), (12, "RSC"), (13, "L2MISS"), (14, "L3MISS"), (25, "COLLECT_METADATA"),
                                         (19, "UDP_ZERO_CSUM6_TX"), (20, "UDP_ZERO_CSUM6_RX"), (21, "REMCSUM_TX"), (22, "REMCSUM_RX"),
                                         (23, "GBP"), (24, "REMCSUM_NOPARTIAL"), (27, "GPE"), (30, "VNIFILTER")]
        for (t, name) in flags where d.has(t) { throw NetlinkError(EOPNOTSUPP, "vxlan: cannot change \(name) flag", offset: d.offsets[t]) }
        if d.has(9) { throw NetlinkError(EOPNOTSUPP, "Cannot change limit", offset: d.offsets[9]) }
        if d.has(10) { throw NetlinkError(EOPNOTSUPP, "Cannot change port range", offset: d.offsets[10]) }
        if d.has(15) { throw NetlinkError(EOPNOTSUPP, "Cannot change destination port", offset: d.offsets[15]) }
        if d.has(18) { throw NetlinkError(EOPNOTSUPP, "Cannot change UDP_CSUM flag", offset: d.offsets[18]) }
        if let g = be32(2) {
            if g >> 28 == 0xE { throw NetlinkError(EOPNOTSUPP, "vxlan: multicast groups are not implemented in Sluice", offset: d.offsets[2]) }
            c.remote = g
        }
        if let l = be32(4) { c.local = l }
        if let l = d.u32(3) {
            guard l == 0 || dp.device(Int32(bitPattern: l)) != nil else { throw NetlinkError(ENODEV, "Invalid local interface, device not found", offset: d.offsets[3]) }
            c.link = Int32(bitPattern: l)
        }
        if let v = d.u8(5) { c.ttl = v }
        if let v = d.u8(6) { c.tos = v }
        if let v = d.u8(29), v != 0 { throw NetlinkError(EOPNOTSUPP, "vxlan: df is not implemented in Sluice", offset: d.offsets[29]) }
        if let v = d.u32(26), v != 0 { throw NetlinkError(EOPNOTSUPP, "vxlan: flow labels are for IPv6 underlays, which Sluice does not have", offset: d.offsets[26]) }
        if let v = d.u8(7) { c.learning = v != 0 }
        if let v = d.u32(8) { c.ageing = v }
        return c
    }

    /// rtnl_dellink.
    /// ipgre_netlink_parms: IFLA_GRE_* (LINK 1, IFLAGS 2, OFLAGS 3, IKEY 4, OKEY 5, LOCAL 6,
    /// REMOTE 7, TTL 8, TOS 9, PMTUDISC 10, COLLECT_METADATA 18, IGNORE_DF 19); what is not
    /// given is 0 (DF on), for a new tunnel and a changed one alike.
    func greConfig(_ kind: String, _ data: NLAttributes?) throws(NetlinkError) -> GREDriver.Config {
        func be(_ t: UInt16, _ n: Int) -> UInt32? { data?[t].flatMap { $0.count == n ? $0.reduce(UInt32(0)) { $0 << 8 | UInt32($1) } : nil } }
        var g = GREDriver.Config(tap: kind == "gretap")
        g.link = Int32(bitPattern: data?.u32(1) ?? 0)
        g.iflags = UInt16(be(2, 2) ?? 0); g.oflags = UInt16(be(3, 2) ?? 0)
        g.ikey = be(4, 4) ?? 0; g.okey = be(5, 4) ?? 0
        g.local = be(6, 4) ?? 0; g.remote = be(7, 4) ?? 0
        g.ttl = data?.u8(8) ?? 0; g.tos = data?.u8(9) ?? 0
        g.pmtudisc = (data?.u8(10) ?? 1) != 0
        if data?.has(18) == true { throw NetlinkError(EOPNOTSUPP, "gre: collect_metadata (external) is not implemented in Sluice", offset: data?.offsets[18]) }
        if let i = data?.u8(19), i != 0, g.pmtudisc { throw NetlinkError(EINVAL) }
        if let t = data?.u16(14), t != 0 { throw NetlinkError(EOPNOTSUPP, "gre: FOU/GUE encapsulation is not implemented in Sluice", offset: data?.offsets[14]) }
        if kind == "gretap", data?.has(7) == true, g.remote == 0 { throw NetlinkError(EINVAL) }
        if g.link != 0, dp.device(g.link) == nil { throw NetlinkError(ENODEV) }
        return g
    }

    func delLink(_ msg: NetlinkMessage) throws(NetlinkError) {
        let (index, rest) = try ifinfo(msg)
        let a = try NLAttributes.parse(rest, base: NL.hdrLen + 16, policy: IFLA.policy, strict: false)
        let dev = index > 0 ? dp.device(index) : (a.string(IFLA.IFNAME) ?? a.string(IFLA.ALT_IFNAME)).flatMap { dp.device(named: $0) }
        guard let dev else { throw NetlinkError(ENODEV) }
        // rtnl_dellink: a device without link ops (lo) cannot be deleted.
        if dev.driver is LoopbackDriver || dev.driver is TeqlDriver { throw NetlinkError(EOPNOTSUPP) }
        // ip_tunnel_dellink leaves a fallback tunnel (gre0, gretap0) in place, without an error.
        if (dev.driver as? GREDriver)?.fallback == true { return }
        do { try dp.deleteDevice(dev) } catch { throw Self.netlinkError(error) }
    }

    /// rtnl_linkprop: alternative names added or removed (`ip link property add|del dev X
    /// altname NAME`). Every name is checked before any changes (the kernel stops at the first
    /// that fails, keeping the ones before it).
    func linkProperty(_ msg: NetlinkMessage) throws(NetlinkError) {
        let (index, rest) = try ifinfo(msg)
        let a = try NLAttributes.parse(rest, base: NL.hdrLen + 16, policy: IFLA.policy, strict: false)
        let dev = try namedLink(index, a, noName: NetlinkError(EINVAL))
        guard let list = a[IFLA.PROP_LIST] else { return }
        let add = msg.header.type == IFLA.RTM_NEWLINKPROP
        var names = dev.altNames
        for e in try NLAttributes.list(list, base: (a.offsets[IFLA.PROP_LIST] ?? 0) + NL.attrHdrLen) where e.type == IFLA.ALT_IFNAME {
            try NLAttributes.validate(e.value, .string(maxLength: 127), nested: false, at: e.offset, strict: false)
            let name = String(decoding: e.value.prefix { $0 != 0 }, as: UTF8.self)
            if add {
                // rtnl_prop_list_size: the list must stay below 64 KiB.
                if 4 + (names.count + 1) * 132 >= 65535 { throw NetlinkError(EINVAL, "effective property list too long", offset: e.offset) }
                // netdev_name_node_alt_create: a name in use (any device's name or altname).
                if dp.device(named: name) != nil || names.contains(name) { throw NetlinkError(EEXIST) }
                names.append(name)
            } else {
                // netdev_name_node_alt_destroy: an unknown name, or a primary or another's.
                guard let i = names.firstIndex(of: name) else {
                    throw NetlinkError(dp.device(named: name) == nil ? ENOENT : EINVAL)
                }
                names.remove(at: i)
            }
        }
        dp.setAltNames(dev, names)
    }

    /// The device a link request names by index, else by IFLA_IFNAME or IFLA_ALT_IFNAME
    /// (rtnl_dev_get); `noName` when it names none, ENODEV when there is no such device.
    func namedLink(_ index: Int32, _ a: NLAttributes, noName: NetlinkError) throws(NetlinkError) -> NetDevice {
        let dev: NetDevice?
        if index > 0 { dev = dp.device(index) } else if let n = a.string(IFLA.IFNAME) ?? a.string(IFLA.ALT_IFNAME) {
            dev = dp.device(named: n)
        } else {
            throw noName
        }
        guard let dev else { throw NetlinkError(ENODEV) }
        return dev
    }

    /// The ifinfomsg at the start of a link request, checked for length.
    func ifinfo(_ msg: NetlinkMessage) throws(NetlinkError) -> (index: Int32, attrs: ArraySlice<UInt8>) {
        let p = msg.payload
        guard p.count >= 16 else { throw NetlinkError(EINVAL, "Invalid header for link request") }
        return (Int32(bitPattern: p.le32(at: 4)), p.dropFirst(16))
    }

    /// rtnl_getlink: one link by index, name or alternate name; ENODEV when there is none.
    func getLink(_ msg: NetlinkMessage) throws(NetlinkError) -> [UInt8] {
        let (index, rest) = try ifinfo(msg)
        let a = try NLAttributes.parse(rest, base: NL.hdrLen + 16, policy: IFLA.policy, strict: strictCheck)
        let dev = try namedLink(index, a, noName: NetlinkError(EINVAL, "need ifindex or ifname"))
        var w = NetlinkWriter()
        encodeLink(dev, &w, type: NL.RTM_NEWLINK, flags: 0, seq: msg.header.seq)
        return w.bytes
    }

    /// rtnl_dump_ifinfo: every link, in parts no larger than the reader's buffer, then DONE.
    /// With strict checking the request header and attributes are validated as the kernel does.
    func dumpLinks(_ msg: NetlinkMessage, _ replies: inout [[UInt8]]) throws(NetlinkError) {
        var master: Int32 = 0
        var kind: String? = nil
        if strictCheck {
            let p = msg.payload
            guard p.count >= 16 else { throw NetlinkError(EINVAL, "Invalid header for link dump") }
            guard p[p.startIndex + 1] == 0, p.le16(at: 2) == 0, p.le32(at: 8) == 0, p.le32(at: 12) == 0 else {
                throw NetlinkError(EINVAL, "Invalid values in header for link dump request")
            }
            guard p.le32(at: 4) == 0 else { throw NetlinkError(EINVAL, "Filter by device index not supported for link dumps") }
            let a = try NLAttributes.parse(p.dropFirst(16), base: NL.hdrLen + 16, policy: IFLA.policy, strict: true)
            for t in a.values.keys where ![IFLA.TARGET_NETNSID, IFLA.EXT_MASK, IFLA.MASTER, IFLA.LINKINFO].contains(t) {
                throw NetlinkError(EINVAL, "Unsupported attribute in link dump request", offset: a.offsets[t])
            }
            master = Int32(bitPattern: a.u32(IFLA.MASTER) ?? 0)
            if let li = a[IFLA.LINKINFO] {
                let inner = try NLAttributes.parse(li, base: a.offsets[IFLA.LINKINFO]! + NL.attrHdrLen, policy: IFLA.linkinfoPolicy, strict: true)
                kind = inner.string(IFLA.INFO_KIND)
            }
        }
        var parts = DumpParts(limit: bufferSize)
        for d in dp.allDevices {
            if master != 0 && d.master != master { continue }
            if let kind, d.kind != kind { continue }
            parts.add { w in encodeLink(d, &w, type: NL.RTM_NEWLINK, flags: NL.F_MULTI, seq: msg.header.seq) }
        }
        parts.finish(seq: msg.header.seq, pid: pid, flags: NL.F_MULTI | (master != 0 || kind != nil ? NL.F_DUMP_FILTERED : 0), into: &replies)
    }

    /// struct rtnl_link_stats64's counters in order, up to rx_nohandler (dev_get_stats).
    func linkStats64(_ d: NetDevice) -> [UInt64] {
        let s = d.stats
        return [s.rxPackets, s.txPackets, s.rxBytes, s.txBytes, s.rxErrors, s.txErrors, s.rxDropped, s.txDropped,
                s.multicast, s.collisions, s.rxLengthErrors, s.rxOverErrors, s.rxCrcErrors, s.rxFrameErrors,
                s.rxFifoErrors, s.rxMissedErrors, s.txAbortedErrors, s.txCarrierErrors, s.txFifoErrors,
                s.txHeartbeatErrors, s.txWindowErrors, s.rxCompressed, s.txCompressed, s.rxNohandler]
    }

    /// do_setlink's IFLA_AF_SPEC (rtnl_af_lookup, validate_link_af, set_link_af): IPv6's
    /// address generation mode, or nil when not given. Any other family is EAFNOSUPPORT (no
    /// af_ops), IPv4's devconf EOPNOTSUPP.
    func linkAFSpec(_ spec: ArraySlice<UInt8>, base: Int) throws(NetlinkError) -> NetDevice.AddrGenMode? {
        let families = try NLAttributes.parse(spec, base: base, policy: NLAPolicy(maxType: 64, [:]), strict: false)
        var mode: NetDevice.AddrGenMode? = nil
        for (family, inner) in families.values {
            let off = families.offsets[family] ?? base
            switch family {
            case UInt16(Self.AF_INET6):
                let policy = NLAPolicy(maxType: 10, [1: .u32, 7: .minLength(16), 8: .u8])
                let a = try NLAttributes.parse(inner, base: off + NL.attrHdrLen, policy: policy, strict: false)
                if a.has(7) { throw NetlinkError(EOPNOTSUPP, "IPv6 tokens are not supported by Sluice", offset: a.offsets[7]) }
                if let m = a.u8(8) {
                    // check_addr_gen_mode, check_stable_privacy: stable_privacy needs a secret,
                    // which Sluice does not keep.
                    guard let g = NetDevice.AddrGenMode(rawValue: m) else { throw NetlinkError(EINVAL) }
                    mode = g
                }
            case UInt16(Self.AF_INET):
                throw NetlinkError(EOPNOTSUPP, "IPv4 device configuration over IFLA_AF_SPEC is not supported by Sluice", offset: off)
            default:
                throw NetlinkError(EAFNOSUPPORT, offset: off)
            }
        }
        return mode
    }

    /// rtnl_fill_ifinfo for the attributes Sluice's devices have.
    func encodeLink(_ d: NetDevice, _ w: inout NetlinkWriter, type: UInt16, flags: UInt16, seq: UInt32) {
        let start = w.begin(type: type, flags: flags, seq: seq, pid: pid)
        let loopback = d.driver is LoopbackDriver
        let void = d.driver is TeqlDriver                 // teql's master: ARPHRD_VOID, no address, no link ops
        let gre = (d.driver as? GREDriver).flatMap { $0.config.tap ? nil : $0.config }   // ARPHRD_IPGRE: IPv4 endpoints as addresses
        w.put8(0); w.put8(0); w.put16(loopback ? 772 : void ? 0xFFFF : gre != nil ? 778 : 1)  // AF_UNSPEC, pad, ARPHRD_LOOPBACK, _VOID, _IPGRE or _ETHER
        w.put32(UInt32(bitPattern: d.ifindex))
        w.put32(d.displayFlags.rawValue)
        w.put32(0)
        w.attr(IFLA.IFNAME, string: d.name)
        w.attr(IFLA.TXQLEN, u32: UInt32(d.txQueueLen))
        w.attr(IFLA.OPERSTATE, u8: dp.operState(d).rawValue)
        w.attr(IFLA.LINKMODE, u8: 0)
        w.attr(IFLA.MTU, u32: UInt32(d.mtu))
        w.attr(IFLA.MIN_MTU, u32: UInt32(d.mtuBounds.min))
        w.attr(IFLA.MAX_MTU, u32: UInt32(d.mtuBounds.max))
        w.attr(IFLA.GROUP, u32: d.group)
        if let al = d.alias { w.attr(IFLA.IFALIAS, string: al) }
        if !d.altNames.isEmpty {                          // rtnl_fill_prop_list
            let n = w.beginNest(IFLA.PROP_LIST)
            for name in d.altNames { w.attr(IFLA.ALT_IFNAME, string: name) }
            w.endNest(n)
        }
        w.attr(IFLA.PROMISCUITY, u32: UInt32(d.promiscuity))
        w.attr(IFLA.ALLMULTI, u32: UInt32(d.allmulti))
        w.attr(IFLA.NUM_TX_QUEUES, u32: UInt32(d.numTxQueues))
        w.attr(IFLA.GSO_MAX_SEGS, u32: UInt32(d.gsoMaxSegs))
        w.attr(IFLA.GSO_MAX_SIZE, u32: UInt32(d.gsoMaxSize))
        w.attr(IFLA.GRO_MAX_SIZE, u32: UInt32(d.groMaxSize))
        w.attr(IFLA.TSO_MAX_SIZE, u32: UInt32(d.tsoMaxSize))
        w.attr(IFLA.TSO_MAX_SEGS, u32: 65535)
        w.attr(IFLA.NUM_RX_QUEUES, u32: UInt32(d.numRxQueues))
        w.attr(IFLA.CARRIER, u8: d.carrier ? 1 : 0)
        w.attr(35, u32: d.carrierUpCount &+ d.carrierDownCount)   // IFLA_CARRIER_CHANGES
        w.attr(47, u32: d.carrierUpCount)                          // IFLA_CARRIER_UP_COUNT
        w.attr(48, u32: d.carrierDownCount)                        // IFLA_CARRIER_DOWN_COUNT
        if let q = d.qdisc { w.attr(IFLA.QDISC, string: q.kind) }
        if d.master != 0 { w.attr(IFLA.MASTER, u32: UInt32(bitPattern: d.master)) }
        if let peer = dp.vethPeer(d) { w.attr(IFLA.LINK, u32: UInt32(bitPattern: peer.ifindex)) }   // dev_get_iflink
        if let v = dp.vlanDriver(d) { w.attr(IFLA.LINK, u32: UInt32(bitPattern: v.parent)) }
        if let m = d.driver as? MacvlanDriver { w.attr(IFLA.LINK, u32: UInt32(bitPattern: m.lower)) }
        if let g = d.driver as? GREDriver { w.attr(IFLA.LINK, u32: UInt32(bitPattern: g.config.link)) }   // ip_tunnel_get_iflink
        if let g = gre {
            func be32(_ x: UInt32) -> [UInt8] { [UInt8(x >> 24), UInt8((x >> 16) & 255), UInt8((x >> 8) & 255), UInt8(x & 255)] }
            w.attr(IFLA.ADDRESS, be32(g.local))
            w.attr(IFLA.BROADCAST, be32(g.remote))
        } else if !void {
            w.attr(IFLA.ADDRESS, d.mac.octets)
            w.attr(IFLA.BROADCAST, [UInt8](repeating: loopback ? 0 : 0xFF, count: 6))
        }
        var sb = NetlinkWriter()
        for v in linkStats64(d) { sb.put64(v) }
        w.attr(IFLA.STATS64, sb.bytes)
        // rtnl_fill_link_af: IPv6's part (inet6_fill_link_af): its flags (IF_READY once the
        // device is up with carrier) and the address generation mode.
        // None without an inet6_dev (-ENODATA).
        let af = w.beginNest(IFLA.AF_SPEC, flagged: false)
        if !d.inet6Absent {
            let in6 = w.beginNest(UInt16(Self.AF_INET6), flagged: false)
            w.attr(1, u32: d.isOperational ? 0x8000_0000 : 0)   // IFLA_INET6_FLAGS
            w.attr(8, u8: d.addrGenMode.rawValue)               // IFLA_INET6_ADDR_GEN_MODE
            w.endNest(in6)
        }
        w.endNest(af)
        if !loopback && !void {
            let li = w.beginNest(IFLA.LINKINFO, flagged: false)
            w.attr(IFLA.INFO_KIND, string: d.kind)
            encodeInfoData(d, &w)
            if d.master != 0, let br = dp.bridges[d.master] {
                // rtnl_link_slave_info_fill: the port's side, as the bridge keeps it.
                w.attr(IFLA.INFO_SLAVE_KIND, string: "bridge")
                let sd = w.beginNest(IFLA.INFO_SLAVE_DATA, flagged: false)
                encodePortAttributes(d, br, &w)
                w.endNest(sd)
            } else if d.master != 0, let t = dp.device(d.master).flatMap(dp.vrfTable) {
                // vrf_fill_slave_info: IFLA_VRF_PORT_TABLE.
                w.attr(IFLA.INFO_SLAVE_KIND, string: "vrf")
                let sd = w.beginNest(IFLA.INFO_SLAVE_DATA, flagged: false)
                w.attr(1, u32: t)
                w.endNest(sd)
            }
            w.endNest(li)
        }
        w.end(start)
    }
}
