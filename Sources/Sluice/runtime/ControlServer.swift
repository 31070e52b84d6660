import CSluiceLinux
import CSluiceVIF
import SluiceVIF
#if canImport(Glibc)
import Glibc
#endif

/// Principles
/// ----------
/// The daemon's control socket: an AF_UNIX SOCK_SEQPACKET socket whose datagrams are rtnetlink
/// messages, so that Sluice's own CLI and Debian's `ip`/`tc`/`bridge` (through the preload shim
/// of `sluice exec`) talk to it as to the kernel.
///
/// Threads: a control thread accepts clients and moves datagrams; the datapath worker answers
/// them. Requests wait in a queue that the worker drains between batches (woken through the
/// datapath's eventfd), so the worker never waits for the control plane and never sees a request
/// half-applied; replies go back through a second queue the control thread writes out. The
/// queues are the only shared state, under one mutex taken once per drain, never per packet.
///
/// Per client: SO_PEERCRED decides whether it may change state (uid 0, or the configured group);
/// it gets a port id (its process id for its first socket, as the kernel's autobind), announced
/// in an NLMSG_NOOP greeting that the shim reads; its socket options (NETLINK_EXT_ACK,
/// NETLINK_CAP_ACK, NETLINK_GET_STRICT_CHK) arrive as a private control message (type 15).
public final class ControlServer: @unchecked Sendable {
    public let path: String
    let datapath: Datapath
    let runner: CommandRunner
    let adminGroup: gid_t?
    let listenFD: Int32
    let outWake: Int32
    var thread: pthread_t?
    var stopping = false

    /// A datagram from a client, with what the worker needs to answer it.
    struct Request { let fd: Int32; let bytes: [UInt8]; let pid: UInt32; let mayChange: Bool; let options: Options; let closed: Bool
        /// Not a datagram: the reader took a dump's last part; the next one is wanted.
        var more = false
        /// File descriptors that came with the datagram (a virtual NIC's handshake).
        var fds: [Int32] = [] }
    struct Options { var extAck = false, capAck = false, strict = false }
    struct Client { var pid: UInt32; var mayChange: Bool; var options = Options(); var groups: Set<UInt32> = [] }

    var lock = pthread_mutex_t()
    var inbound: [Request] = []
    /// Replies by client fd; a notification for multicast group G is queued under fd -G.
    /// `more`: a dump's part after which the worker builds the next.
    var outbound: [(fd: Int32, bytes: [UInt8], more: Bool)] = []
    /// The groups some client has joined (written by the control thread, read by the worker).
    var joinedGroups: Set<UInt32> = []
    /// Control thread only.
    var clients: [Int32: Client] = [:]
    var usedPids: Set<UInt32> = []
    /// Worker thread only: one processor per client socket.
    var processors: [Int32: RtnlProcessor] = [:]

    /// Set when an FPM server feeds this queue: its requests carry kernel interface indexes.
    var fpmTranslate = false
    /// FPM messages that are not routes (ignored), and routes refused.
    public var fpmIgnored: UInt64 = 0
    public private(set) var fpmRefused: UInt64 = 0
    /// Where FPM's refusals are reported (the daemon's stderr).
    public var log: (String) -> Void = { _ in }

    /// The private message by which the shim passes a socket option: payload u32 level,
    /// u32 name, u32 value.
    public static let sockoptType: UInt16 = 15

    /// Binds `path` (mode 0660, its directory made if missing) and starts serving.
    public init(path: String, runner: CommandRunner, adminGroup: gid_t? = nil) throws(SluiceError) {
        self.path = path
        self.runner = runner
        self.datapath = runner.dp
        self.adminGroup = adminGroup
        pthread_mutex_init(&lock, nil)
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            let dir = String(path[..<slash])
            mkdir(dir, 0o755)
        }
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SluiceError("control socket: \(errnoString())") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { Glibc.close(fd); throw SluiceError("control socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard ok == 0, listen(fd, 64) == 0 else {
            let e = errnoString(); Glibc.close(fd); throw SluiceError("control socket \(path): \(e)")
        }
        chmod(path, 0o660)
        listenFD = fd
        outWake = csl_eventfd()
        datapath.controlHook = { [unowned self] in self.drain() }
    }

    deinit {
        Glibc.close(listenFD); Glibc.close(outWake)
        unlink(path)
        pthread_mutex_destroy(&lock)
    }

    public func start() throws(SluiceError) {
        let box = Unmanaged.passRetained(self)
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { arg in
            let s = Unmanaged<ControlServer>.fromOpaque(arg!).takeRetainedValue()
            s.serve()
            return nil
        }, box.toOpaque())
        guard rc == 0 else { box.release(); throw SluiceError("cannot start the control thread: \(errnoString(rc))") }
        thread = t
    }

    /// Stops the control thread and closes every client.
    public func stop() {
        stopping = true
        var one: UInt64 = 1
        _ = write(outWake, &one, 8)
        if let t = thread { pthread_join(t, nil); thread = nil }
        for fd in clients.keys { Glibc.close(fd) }
        clients = [:]
        datapath.controlHook = nil
    }

    // MARK: control thread

    func serve() {
        var buf = [UInt8](repeating: 0, count: 1 << 17)
        while !stopping {
            var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0), pollfd(fd: outWake, events: Int16(POLLIN), revents: 0)]
            let order = Array(clients.keys)
            for fd in order { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            let n = poll(&fds, nfds_t(fds.count), 1000)
            if n <= 0 { continue }
            if fds[1].revents != 0 {
                var v: UInt64 = 0
                _ = read(outWake, &v, 8)
                flushOutbound()
            }
            if fds[0].revents & Int16(POLLIN) != 0 { accept() }
            for (i, fd) in order.enumerated() where fds[i + 2].revents != 0 {
                var fds = [Int32](repeating: -1, count: 4)
                var nfds: Int32 = 0
                let r = buf.withUnsafeMutableBytes { csv_recv_fds(fd, $0.baseAddress, $0.count, &fds, 4, &nfds, Int32(MSG_DONTWAIT)) }
                if r <= 0 {
                    for f in fds.prefix(Int(nfds)) { Glibc.close(f) }
                    if r < 0 && (errno == EAGAIN || errno == EINTR) { continue }
                    closeClient(fd)
                    continue
                }
                receive(fd, Array(buf[0..<r]), fds: Array(fds.prefix(Int(nfds))))
            }
        }
    }

    func accept() {
        let fd = csl_accept_cloexec(listenFD)
        guard fd >= 0 else { return }
        var peerPid: Int32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
        guard csl_peercred(fd, &peerPid, &uid, &gid) == 0 else { Glibc.close(fd); return }
        // The kernel's autobind: the process id for a process's first socket, then others.
        var pid = UInt32(bitPattern: peerPid)
        if usedPids.contains(pid) || pid == 0 {
            pid = 0x8000_0000 | UInt32(truncatingIfNeeded: fd)
            while usedPids.contains(pid) { pid &+= 0x1_0000 }
        }
        usedPids.insert(pid)
        let admin = uid == 0 || (adminGroup.map { gid == $0 } ?? false)
        clients[fd] = Client(pid: pid, mayChange: admin)
        var w = NetlinkWriter()
        let s = w.begin(type: NL.NOOP, flags: 0, seq: 0, pid: pid)
        w.end(s)
        _ = w.bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    func receive(_ fd: Int32, _ bytes: [UInt8], fds: [Int32] = []) {
        guard var c = clients[fd] else { for f in fds { Glibc.close(f) }; return }
        // A virtual NIC's handshake carries its shared memory and eventfds; nothing else may.
        if bytes.count >= 16, bytes.le16(4) == VIF.connectMessageType {
            enqueue(Request(fd: fd, bytes: bytes, pid: c.pid, mayChange: c.mayChange, options: c.options, closed: false, fds: fds))
            return
        }
        for f in fds { Glibc.close(f) }
        // The shim's socket options.
        if bytes.count >= 28, bytes.le16(4) == Self.sockoptType {
            let level = Int32(bitPattern: bytes.le32(16)), name = Int32(bitPattern: bytes.le32(20)), on = bytes.le32(24) != 0
            if level == NL.SOL_NETLINK {
                switch name {
                case NL.EXT_ACK: c.options.extAck = on
                case NL.CAP_ACK: c.options.capAck = on
                case NL.GET_STRICT_CHK: c.options.strict = on
                case NL.ADD_MEMBERSHIP: c.groups.insert(bytes.le32(24))
                case NL.DROP_MEMBERSHIP: c.groups.remove(bytes.le32(24))
                default: break
                }
                clients[fd] = c
                updateGroups()
            }
            return
        }
        enqueue(Request(fd: fd, bytes: bytes, pid: c.pid, mayChange: c.mayChange, options: c.options, closed: false))
    }

    func updateGroups() {
        let all = clients.values.reduce(into: Set<UInt32>()) { $0.formUnion($1.groups) }
        pthread_mutex_lock(&lock)
        joinedGroups = all
        pthread_mutex_unlock(&lock)
    }

    func closeClient(_ fd: Int32) {
        if let c = clients.removeValue(forKey: fd) { usedPids.remove(c.pid) }
        updateGroups()
        Glibc.close(fd)
        enqueue(Request(fd: fd, bytes: [], pid: 0, mayChange: false, options: Options(), closed: true))
    }

    func enqueue(_ r: Request) {
        pthread_mutex_lock(&lock)
        inbound.append(r)
        pthread_mutex_unlock(&lock)
        datapath.wake()
    }

    func flushOutbound() {
        pthread_mutex_lock(&lock)
        let out = outbound
        outbound.removeAll()
        pthread_mutex_unlock(&lock)
        for (fd, bytes, more) in out {
            if fd < 0 {
                // A notification: to every member of the group, never waiting (a reader that
                // does not keep up loses events, as a netlink socket overruns).
                let group = UInt32(-fd)
                for (cfd, c) in clients where c.groups.contains(group) {
                    _ = bytes.withUnsafeBytes { send(cfd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
                }
                continue
            }
            guard clients[fd] != nil else { continue }
            // A blocking send: a slow reader holds up only the control thread, never the worker.
            let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            // The reader has room again: the dump's next part is built (netlink_recvmsg → netlink_dump).
            if more && sent >= 0 {
                enqueue(Request(fd: fd, bytes: [], pid: 0, mayChange: false, options: Options(), closed: false, more: true))
            }
        }
    }

    // MARK: worker thread

    /// Encodes the FDB's own changes (learnt, moved, aged) while someone listens to RTNLGRP_NEIGH.
    var eventProcessor: RtnlProcessor?
    /// The processor that encodes notifications from the kernel itself (port 0), made once.
    func processor() -> RtnlProcessor {
        if let p = eventProcessor { return p }
        let p = RtnlProcessor(runner: runner, pid: 0)
        eventProcessor = p
        return p
    }
    /// Each device's operational state (up and carrier) as last announced to RTNLGRP_LINK.
    var announcedOperational: [Int32: Bool] = [:]

    func announceRouteJournal<A: InetAddressValue>(_ fib: FIBOf<A>, group: UInt32, _ groups: Set<UInt32>,
                                                   _ replies: inout [(fd: Int32, bytes: [UInt8], more: Bool)]) {
        let j = fib.journal
        j.on = groups.contains(group)
        guard !j.entries.isEmpty else { return }
        let changes = j.entries
        j.entries.removeAll()
        guard j.on else { return }
        let p = processor()
        for c in changes {
            var w = NetlinkWriter()
            p.encodeRoute(table: c.table, c.prefix, c.length, c.route, seq: 0, &w)
            replies.append((-Int32(group), RtnlProcessor.notification(w.bytes, type: c.deleted ? NL.RTM_DELROUTE : NL.RTM_NEWROUTE, seq: 0, pid: 0), false))
        }
    }

    func datapathEvents(_ groups: Set<UInt32>, _ replies: inout [(fd: Int32, bytes: [UInt8], more: Bool)]) {
        // linkwatch: a device whose carrier or operational state changed since the last look
        // (a driver that failed, a veth whose peer went down, a request that brought it up) is
        // announced with RTM_NEWLINK, as the kernel's linkwatch_do_dev → rtmsg_ifinfo does.
        if groups.contains(RTNLGRP.LINK) {
            for case let d? in datapath.devices {
                let now = d.isOperational
                if let was = announcedOperational[d.ifindex], was != now {
                    let p = processor()
                    var w = NetlinkWriter()
                    p.encodeLink(d, &w, type: NL.RTM_NEWLINK, flags: 0, seq: 0)
                    replies.append((-Int32(RTNLGRP.LINK), w.bytes, false))
                }
                announcedOperational[d.ifindex] = now
            }
        } else if !announcedOperational.isEmpty {
            announcedOperational.removeAll()
        }
        // Bridge ports whose state the spanning tree (or a port coming and going) changed:
        // br_ifinfo_notify's AF_BRIDGE RTM_NEWLINK.
        if !datapath.portStateEvents.isEmpty {
            let changed = datapath.portStateEvents
            datapath.portStateEvents.removeAll()
            if groups.contains(RTNLGRP.LINK) {
                let p = processor()
                for i in changed {
                    guard let d = datapath.device(i), let br = datapath.bridges[d.master] else { continue }
                    var w = NetlinkWriter()
                    p.encodeBridgeLink(d, br, port: true, vlans: false, compressed: false, &w, seq: 0, flags: 0)
                    replies.append((-Int32(RTNLGRP.LINK), w.bytes, false))
                }
            }
        }
        // Addresses whose lifetimes ran out (check_lifetime's rtmsg_ifa).
        if !datapath.ipv4.addressEvents.isEmpty {
            let changes = datapath.ipv4.addressEvents
            datapath.ipv4.addressEvents.removeAll()
            if groups.contains(RTNLGRP.IPV4_IFADDR) {
                let p = processor()
                for c in changes {
                    guard let d = datapath.device(c.dev) else { continue }
                    var w = NetlinkWriter()
                    p.encodeAddr(d, c.address, type: c.deleted ? NL.RTM_DELADDR : NL.RTM_NEWADDR, flags: 0, seq: 0, now: datapath.clock.now, &w)
                    replies.append((-Int32(RTNLGRP.IPV4_IFADDR), w.bytes, false))
                }
            }
        }
        // IPv6 addresses addrconf added on NETDEV_UP or took on NETDEV_DOWN. An optimistic
        // address whose DAD began is announced after its local route (addrconf_dad_begin).
        if datapath.ipv6.routesBeforeAddresses {
            datapath.ipv6.routesBeforeAddresses = false
            announceRouteJournal(datapath.ipv6.fib, group: RTNLGRP.IPV6_ROUTE, groups, &replies)
        }
        if !datapath.ipv6.addressEvents.isEmpty {
            let changes = datapath.ipv6.addressEvents
            datapath.ipv6.addressEvents.removeAll()
            if groups.contains(RTNLGRP.IPV6_IFADDR) {
                let p = processor()
                for c in changes {
                    guard let d = datapath.device(c.dev) else { continue }
                    var w = NetlinkWriter()
                    p.encodeAddr6(d, c.address, type: c.deleted ? NL.RTM_DELADDR : NL.RTM_NEWADDR, flags: 0, seq: 0, &w)
                    replies.append((-Int32(RTNLGRP.IPV6_IFADDR), w.bytes, false))
                }
            }
        }
        // An inet6_dev destroyed (an MTU below 1280): RTM_DELNETCONF after its addresses went,
        // as addrconf_ifdown's last step (addrconf_sysctl_unregister).
        if !datapath.ipv6.netconfNotes.isEmpty {
            let notes = datapath.ipv6.netconfNotes
            datapath.ipv6.netconfNotes.removeAll()
            if groups.contains(NETCONFA.GROUP_IPV6) {
                let p = processor()
                for (i, attr) in notes {
                    var w = NetlinkWriter()
                    if attr == NETCONFA.deleted {
                        p.encodeNetconfDeletion(family: RtnlProcessor.AF_INET6, ifindex: i, &w)
                    } else {
                        p.encodeNetconf(family: RtnlProcessor.AF_INET6, ifindex: i, flags: 0, seq: 0, type: attr, notification: true, &w)
                    }
                    replies.append((-Int32(NETCONFA.GROUP_IPV6), w.bytes, false))
                }
            }
        }
        // Routes that came or went without a request (DAD done, expiry, a link becoming ready),
        // after the addresses that brought them, as __ipv6_ifa_notify sends them.
        announceRouteJournal(datapath.ipv4.fib, group: RTNLGRP.IPV4_ROUTE, groups, &replies)
        announceRouteJournal(datapath.ipv6.fib, group: RTNLGRP.IPV6_ROUTE, groups, &replies)
        let mdbListening = groups.contains(RTNLGRP.MDB)
        for br in datapath.bridges.values {
            if br.mdb.recordChanges != mdbListening { br.mdb.recordChanges = mdbListening }
            guard mdbListening else { continue }
            let changes = br.mdb.takeChanges()
            guard !changes.isEmpty else { continue }
            let p = processor()
            for c in changes { replies.append((-Int32(RTNLGRP.MDB), p.mdbNotification(c, br), false)) }
        }
        let listening = groups.contains(RTNLGRP.NEIGH)
        for br in datapath.bridges.values {
            if br.fdb.recordChanges != listening { br.fdb.recordChanges = listening; _ = br.fdb.takeChanges() }
            guard listening else { continue }
            let changes = br.fdb.takeChanges()
            guard !changes.isEmpty else { continue }
            let p = processor()
            for m in p.fdbNotifications(changes, br) { replies.append((-Int32(RTNLGRP.NEIGH), m, false)) }
        }
    }

    /// A virtual NIC's handshake: connects the vif it names, answers with an acknowledgement
    /// (an error with its reason as the extack message).
    func vifConnect(_ r: Request) -> [UInt8] {
        var err: NetlinkError?
        if !r.mayChange {
            for f in r.fds { Glibc.close(f) }
            err = NetlinkError(EPERM, "connecting a virtual NIC needs uid 0 or the admin group")
        } else {
            do { try datapath.connectVif(payload: Array(r.bytes[16...]), fds: r.fds, owner: r.fd) }
            catch { err = NetlinkError(EINVAL, error.message) }
        }
        var w = NetlinkWriter()
        let msg = Array(NetlinkMessages(r.bytes)).first!
        w.ack(msg, error: err, pid: r.pid, extAck: true, capAck: true)
        return w.bytes
    }

    /// The extack message of an NLMSG_ERROR (NLMSGERR_ATTR_MSG), if any.
    static func extack(_ a: [UInt8]) -> String {
        var o = 16 + 4 + 16
        while o + 4 <= a.count {
            let len = Int(a.le16(o)), t = a.le16(o + 2)
            guard len >= 4, o + len <= a.count else { break }
            if t == 1 { return String(decoding: a[(o + 4)..<(o + len)].prefix { $0 != 0 }, as: UTF8.self) }
            o += (len + 3) & ~3
        }
        return ""
    }

    /// Answers what the control thread queued (called by the worker between batches).
    func drain() {
        pthread_mutex_lock(&lock)
        let work = inbound
        inbound.removeAll()
        let groups = joinedGroups
        pthread_mutex_unlock(&lock)
        var replies: [(fd: Int32, bytes: [UInt8], more: Bool)] = []
        datapathEvents(groups, &replies)
        if work.isEmpty && replies.isEmpty { return }
        // A request may have changed what groups the stack has joined (MLD.swift).
        if !work.isEmpty { datapath.ipv6.mldDirty = true }
        for r in work {
            if r.closed { processors[r.fd] = nil; datapath.disconnectVifs(owner: r.fd); continue }
            if r.bytes.count >= 16, r.bytes.le16(4) == VIF.connectMessageType {
                replies.append((r.fd, vifConnect(r), false))
                continue
            }
            if r.more {
                if let p = processors[r.fd], let part = p.nextDumpPart() { replies.append((r.fd, part, p.dumpPending)) }
                continue
            }
            let p = processors[r.fd] ?? RtnlProcessor(runner: runner, pid: r.pid)
            processors[r.fd] = p
            if r.fd == FPMServer.clientFD {
                p.ifindexTranslator = { [datapath] k in FPMServer.sluiceIfindex(k, datapath) }
                let answer = p.handle(r.bytes)
                p.events.removeAll()
                for a in answer where a.count >= 20 && a.le16(4) == NL.ERROR {
                    let err = Int32(bitPattern: a.le32(16))
                    if err != 0 {
                        fpmRefused &+= 1
                        log("fpm: route refused: \(String(cString: strerror(-err)))" + (a.count > 36 ? " (\(Self.extack(a)))" : ""))
                    }
                }
                continue
            }
            p.pid = r.pid; p.mayChange = r.mayChange
            p.extAck = r.options.extAck; p.capAck = r.options.capAck; p.strictCheck = r.options.strict
            p.eventGroups = groups
            let answer = p.handle(r.bytes)
            // Notifications go out before the requester's acknowledgement, as the kernel's.
            for (g, m) in p.events { replies.append((-Int32(g), m, false)) }
            p.events.removeAll()
            for (i, reply) in answer.enumerated() { replies.append((r.fd, reply, i == answer.count - 1 && p.dumpPending)) }
        }
        guard !replies.isEmpty else { return }
        pthread_mutex_lock(&lock)
        outbound.append(contentsOf: replies)
        pthread_mutex_unlock(&lock)
        var one: UInt64 = 1
        _ = write(outWake, &one, 8)
    }
}
