import CSluiceLinux
import Glibc

/// The state of the kernel interfaces that AF_PACKET and AF_XDP ports pass frames through.
///
/// A port on a kernel interface is that interface's link, as a NIC's port is its cable: when
/// the interface stops running (set down, or a veth whose peer went down) the port loses its
/// carrier — a bridge disables it and forgets what it learned there (br_stp_disable_port),
/// as after any device's carrier loss — and gets it back when the interface runs again. The datapath learns
/// it as the kernel's own listeners do: an RTMGRP_LINK socket, whose RTM_NEWLINK carries the
/// interface's flags (IFF_UP and IFF_LOWER_UP: up, with carrier) and whose RTM_DELLINK ends
/// the port. A
/// monitor that overran (ENOBUFS) reads every watched interface's flags again.
extension Datapath {
    /// Starts following `dev`'s kernel interface, when it has one: opens the monitor on the
    /// first, then takes the interface's state as it is now. An interface not yet up keeps the
    /// carrier on: the port brings it up when it comes up itself, and its events follow.
    func watchKernelLink(_ dev: NetDevice) {
        let k = dev.driver.kernelLinkIndex
        guard k > 0 else { return }
        if kernelLinkFD < 0 {
            kernelLinkFD = csl_rtnl_link_monitor()
            guard kernelLinkFD >= 0 else {
                log("\(dev.name): no RTMGRP_LINK socket (\(errnoString())): its carrier will not follow its kernel interface")
                return
            }
            _ = csl_epoll_add(epfd, kernelLinkFD, Self.kernelLinkToken)
        }
        let flags = csl_if_flags(k)
        if flags >= 0 && flags & Int32(IFF_UP) != 0 { dev.carrier = flags & Int32(IFF_RUNNING) != 0 }
    }

    /// Reads what the monitor has: each interface's latest state is applied to the ports on it.
    func readKernelLinks() {
        guard kernelLinkFD >= 0 else { return }
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(kernelLinkFD, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == ENOBUFS { resyncKernelLinks(); continue }   // events lost: ask again
                return                                                  // EAGAIN: all read
            }
            guard n > 0 else { return }
            for m in NetlinkMessages(Array(buf[0..<n])) {
                let t = m.header.type
                guard t == NL.RTM_NEWLINK || t == NL.RTM_DELLINK, m.payload.count >= 16 else { continue }
                let ifindex = Int32(bitPattern: m.payload.le32(at: 4))
                let flags = m.payload.le32(at: 8)
                kernelLinkChanged(ifindex, flags: flags, deleted: t == NL.RTM_DELLINK)
            }
        }
    }

    /// IFF_LOWER_UP (linux/if.h): the carrier itself (netif_carrier_ok), in RTM_NEWLINK's flags
    /// from the moment it changes. IFF_RUNNING follows later, once linkwatch has set the
    /// operational state, so an interface just brought up is announced first without it.
    static let IFF_LOWER_UP: UInt32 = 0x10000

    /// SIOCGIFFLAGS has only the low 16 flag bits: RUNNING stands for LOWER_UP there (the
    /// interface's state has long settled when these are read).
    func resyncKernelLinks() {
        for case let d? in devices where d.driver.kernelLinkIndex > 0 {
            let f = csl_if_flags(d.driver.kernelLinkIndex)
            let flags = f < 0 ? 0 : UInt32(f) | (UInt32(f) & UInt32(IFF_RUNNING) != 0 ? Self.IFF_LOWER_UP : 0)
            kernelLinkChanged(d.driver.kernelLinkIndex, flags: flags, deleted: f < 0)
        }
    }

    func kernelLinkChanged(_ ifindex: Int32, flags: UInt32, deleted: Bool) {
        for case let d? in devices where d.driver.kernelLinkIndex == ifindex && !d.driverFailed {
            if deleted {
                d.driver.kernelLinkGone()
                driverFailed(d)
                continue
            }
            let running = flags & UInt32(IFF_UP) != 0 && flags & Self.IFF_LOWER_UP != 0
            guard running != d.carrier else { continue }
            let fd = d.driver.pollFD
            d.carrier = running
            if running {
                d.driver.kernelLinkResumed()
                if fd >= 0 { _ = csl_epoll_add(epfd, fd, UInt64(d.ifindex)) }
                napiSchedule(d)          // what came in before it went down
            } else if fd >= 0 {
                _ = csl_epoll_del(epfd, fd)
            }
            parentStateChanged(d, adminChanged: false)
            flushTransmit()
        }
    }
}
