/// Principles (sch_etf.c)
/// ----------
/// Earliest TxTime First: packets carry the time they must leave (skb->tstamp, set by a
/// sending socket with SO_TXTIME) and wait in time order until `delta` before it. A packet is
/// valid only if its socket asked for launch times on the qdisc's clock (or `skip_sock_check`
/// is set) and its time is neither past nor before the last one sent; anything else is
/// dropped (and the socket told). Packets Sluice carries come from ports, not local sockets,
/// and arrive without a launch time — the kernel clears a forwarded packet's timestamp — so
/// every one of them is invalid and dropped and counted, as the kernel drops them; the
/// configuration (TAI clock only, delta ≥ 0, deadline mode, skip_sock_check) is checked, kept
/// and shown as sch_etf's. `offload` is refused: Sluice's devices have no launch-time
/// hardware ("Specified device does not support ETF offload").
final class ETFQdisc: Qdisc {
    struct Params: Equatable { var delta: Int32; var clockid: Int32; var offload: Bool; var deadlineMode: Bool; var skipSockCheck: Bool }
    var params = Params(delta: 0, clockid: 11, offload: false, deadlineMode: false, skipSockCheck: false)
    var configured = false

    init(handle: TcHandle, parent: TcHandle, env: QdiscEnv) {
        super.init(kind: "etf", handle: handle, parent: parent, env: env)
    }

    /// etf_init's checks (validate_input_params, the offload), then kept.
    func configure(_ p: Params) throws(SluiceError) {
        guard p.clockid >= 0 else { throw SluiceError("Error: Dynamic clockids are not supported (Operation not supported).") }
        guard p.clockid == 11 else { throw SluiceError("Error: Invalid clockid. CLOCK_TAI must be used") }
        guard p.delta >= 0 else { throw SluiceError("Error: Delta must be positive") }
        guard !p.offload else { throw SluiceError("Error: Specified device does not support ETF offload (Operation not supported).") }
        params = p
        configured = true
    }

    /// etf_enqueue_timesortedlist: is_packet_valid fails for a packet without a launch time.
    override func enqueue(_ p: consuming Packet) -> EnqueueVerdict { drop(p) }
    override func dequeue() -> Packet? { nil }

}
