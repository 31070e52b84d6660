/// The driver side of a device (`struct net_device_ops` plus the NAPI poll function).
///
/// Dispatch is by class (one vtable call per batch), never per packet. A driver that has a
/// file descriptor the datapath can wait on reports it in `pollFD`; one without (a pcap file,
/// an in-memory source) reports -1 and `hasPendingRx` instead, and stays scheduled while true.
public class NetDriver {
    /// What the driver can do; the device's active features are a subset.
    var supportedFeatures: DeviceFeatures { [] }
    /// Whether received multicast frames count in the device's `multicast` counter: a NIC's
    /// driver counts them; the kernel's veth, tun and vxlan leave it at 0.
    var countsRxMulticast: Bool { true }
    /// IFF_UNICAST_FLT: the device filters secondary unicast addresses itself (macvlan and
    /// VLAN devices pass theirs on); without it, addresses put on its list by the devices
    /// above make it promiscuous (__dev_set_rx_mode), as with the kernel's bridge, veth and tun.
    var unicastFiltering: Bool { false }
    /// Whether GRO starts enabled (drivers fed by a wire or a kernel stack: tap, afpacket).
    var groByDefault: Bool { false }
    /// The fd to wait on for receive readiness, or -1.
    var pollFD: Int32 { -1 }
    /// For drivers without an fd: whether a poll would find packets.
    var hasPendingRx: Bool { false }
    /// When the driver must be polled again whatever its fd says (a vif waiting for tx
    /// credit); 0: never.
    var rxResumeAt: UInt64 { 0 }

    /// Called once the device is registered (ifindex known).
    func attach(_ dev: NetDevice, _ dp: Datapath) throws(SluiceError) {}

    /// Receives up to `budget` packets into `batch`; returns how many were appended.
    /// Bad frames are counted on `dev` and freed here.
    func poll(_ dp: Datapath, _ dev: NetDevice, into batch: inout PacketBatch, budget: Int) -> Int { 0 }

    /// Transmits the packets in `batch`; each is sent or dropped and counted. A driver that is
    /// busy (its queue full) leaves the packets it could not send yet in `batch`, in order; the
    /// caller requeues them (qdisc_run) or drops and counts them (a device without a queue).
    func transmit(_ dp: Datapath, _ dev: NetDevice, _ batch: inout PacketBatch) {
        dev.stats.txDropped &+= UInt64(batch.count)
        dev.drop(.txError, UInt64(batch.count))
        batch.freeAll(dp.pool)
    }

    /// Whether the driver can take another packet now (netif_xmit_stopped is false).
    func txReady(_ now: UInt64) -> Bool { true }
    /// A packet of `bytes` was dequeued for this driver (a line-rate driver occupies its line).
    func txAdmit(_ bytes: Int, _ now: UInt64) {}
    /// When a driver that is not ready will be (0: it will say through its fd, or it is ready).
    func txReadyAt(_ now: UInt64) -> UInt64 { 0 }

    /// The device's promiscuity count crossed zero.
    func setPromiscuous(_ on: Bool, _ dev: NetDevice) throws(SluiceError) {}
    /// The device's active offload features changed (e.g. its bridge's intersection).
    func applyOffloads(_ features: DeviceFeatures, _ dev: NetDevice) {}
    /// Administrative up/down.
    func setAdminUp(_ up: Bool, _ dev: NetDevice) throws(SluiceError) {}
    /// The driver hit a fatal error (its kernel interface vanished): the datapath has
    /// unregistered its fd and cleared the carrier. Returns a description for the log.
    func failureReason() -> String? { nil }
    /// The kernel interface the driver passes frames through (AF_PACKET, AF_XDP), or 0. The
    /// device's carrier follows that interface's operational state (RTM_NEWLINK), as a NIC's
    /// follows its link; the interface deleted (RTM_DELLINK) ends the port.
    var kernelLinkIndex: Int32 { 0 }
    /// The kernel interface was deleted: from now on `failureReason` says so.
    func kernelLinkGone() {}
    /// The kernel interface runs again: forget the error its going down left on the socket.
    func kernelLinkResumed() {}
    /// Releases the driver's resources; deletes kernel interfaces it created.
    func close() {}
    /// Frees packets the driver itself holds (a veth's backlog).
    func purge(_ pool: PacketPool) {}
    /// One line describing the driver for `link show -d`.
    var details: String { "" }
}

extension NetDevice {
    /// Frames a driver refused on receive: a virtio header that lies (frame errors) or a frame
    /// too short or cut short (length errors, dropped for `lengthReason`), counted per poll.
    func countRxErrors(badHeader: UInt64, length: UInt64, lengthReason: DropReason) {
        guard badHeader + length > 0 else { return }
        stats.rxErrors &+= badHeader + length
        stats.rxFrameErrors &+= badHeader
        stats.rxLengthErrors &+= length
        drop(.badVirtioHeader, badHeader)
        drop(lengthReason, length)
    }
}

/// An error for the operator: one clear line.
public struct SluiceError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
