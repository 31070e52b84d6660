/// Principles
/// ----------
/// A packet is a `~Copyable` handle: the index of a buffer in a preallocated `PacketPool`.
/// The compiler refuses to hand one packet on twice; the pool's debug counters prove in tests
/// that every buffer taken is returned exactly once. Metadata (the kernel's skb fields that
/// Sluice needs) lives beside the buffer in the pool, so a handle is 4 bytes and moves in
/// registers. Batches carry raw indices (`PacketBatch`), the one place a handle is rebuilt.

/// A packet: an owned reference to one pool buffer. Return it with `PacketPool.free(_:)`.
public struct Packet: ~Copyable {
    public let index: UInt32
    init(index: UInt32) { self.index = index }
}

/// Checksum state, as the kernel's `skb->ip_summed`.
public enum ChecksumState: UInt8, Sendable {
    case none = 0          // CHECKSUM_NONE: nothing known, the stack verifies
    case unnecessary = 1   // CHECKSUM_UNNECESSARY: verified (virtio DATA_VALID)
    case partial = 3       // CHECKSUM_PARTIAL: to be completed at csumStart+csumOffset
}

/// GSO type, as `SKB_GSO_*` restricted to what virtio can carry.
public struct GSOType: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let tcpv4 = GSOType(rawValue: 1 << 0)
    public static let tcpv6 = GSOType(rawValue: 1 << 1)
    public static let udpL4 = GSOType(rawValue: 1 << 2)
    public static let tcpECN = GSOType(rawValue: 1 << 3)
    /// SKB_GSO_TCP_FIXEDID: every segment carries the first one's IPv4 ID (DF set).
    public static let fixedID = GSOType(rawValue: 1 << 4)
}

/// Per-packet metadata (the fields of `struct sk_buff` the datapath uses). 64 bytes.
public struct PacketMeta: Sendable {
    /// Offset of the first byte of the frame (the Ethernet header) in the buffer.
    public var dataOffset: UInt32 = 0
    /// Frame length in bytes, from the Ethernet header on.
    public var length: UInt32 = 0
    /// The device the packet arrived on (skb->skb_iif) or 0.
    public var ifindex: Int32 = 0
    public var mark: UInt32 = 0
    public var priority: UInt32 = 0
    /// skb->tc_index: the class minor a filter at the ingress or egress hook (clsact)
    /// returned, or what IFE decoded; gred picks its virtual queue by it.
    public var tcIndex: UInt16 = 0
    /// tc's skb bits: tc_at_ingress, redirected (mirred redirect), from_ingress (where the
    /// redirect ran), tc_skip_classify (set by ifb on what it gives back).
    public var tcFlags: UInt8 = 0
    public static let atIngress: UInt8 = 1, redirected: UInt8 = 2, fromIngress: UInt8 = 4, skipClassify: UInt8 = 8
    /// The packet carries tunnel metadata (PacketPool.tunnels).
    public static let hasTunnel: UInt8 = 16
    /// The packet was routed (it has a dst): `routeClassid` holds the route's realms.
    public static let routed: UInt8 = 32
    /// The packet carries the next hop it was routed to (PacketPool.nexthops): set when it is
    /// sent to a device that resolves neighbours per slave (teql's master), as skb_dst keeps it.
    public static let hasNexthop: UInt8 = 64
    public var flowHash: UInt32 = 0
    /// Out-of-band VLAN tag (skb->vlan_tci), valid when `vlanPresent`.
    public var vlanTCI: UInt16 = 0
    public var vlanProto: UInt16 = 0
    public var vlanPresent: Bool = false
    public var csum: ChecksumState = .none
    public var gsoType = GSOType(rawValue: 0)   // not []: the literal builds an array, a release per packet
    /// skb->pkt_type when something set it (skbedit `ptype`): 0x80 | PACKET_HOST … OTHERHOST;
    /// 0 while the destination MAC decides.
    public var pktType: UInt8 = 0
    /// Whether receive should treat the frame as not for this host: the packet type set on it,
    /// else `byMAC`.
    @inlinable public func otherHost(byMAC: Bool) -> Bool { pktType & 0x80 != 0 ? pktType & 0x7F == 3 : byMAC }
    /// skb->queue_mapping (set by skbedit; one tx queue per device for now).
    public var queueMapping: UInt16 = 0
    public var csumStart: UInt16 = 0
    public var csumOffset: UInt16 = 0
    public var gsoSize: UInt16 = 0
    public var hdrLen: UInt16 = 0
    /// Enqueue or receive timestamp, nanoseconds of the datapath clock.
    public var timestamp: UInt64 = 0
    /// Bytes the packet counts for in qdiscs (qdisc_pkt_len: all segments' headers for GSO).
    public var pktLen: UInt32 = 0
    /// skb->skb_iif as mirred leaves it: the device the action ran on (ifb gives the packet
    /// back there); on the egress path, the device transmitting.
    public var redirIif: Int32 = 0
    /// Scratch for the qdisc holding the packet (netem's time to send, fq_codel's flow).
    public var schedCookie: UInt64 = 0
    /// dst->tclassid of a routed packet: source realm (upper 16 bits), destination realm.
    public var routeClassid: UInt32 = 0
    /// skb->_nfct: the packet's connection (a Conntrack reference, 0: none) and its ctinfo
    /// (Conntrack.established … ), with tc's post-ct state (tc_skb_cb: post_ct, the zone, and
    /// whether act_ct translated its source or destination) in `ctFlags`.
    public var ctRef: UInt32 = 0
    public var ctZone: UInt16 = 0
    public var ctInfo: UInt8 = 0
    public var ctFlags: UInt8 = 0
    public static let postCT: UInt8 = 1, postSNAT: UInt8 = 2, postDNAT: UInt8 = 4
    public init() {}
}

/// IPv4 tunnel metadata (struct ip_tunnel_key as tunnel_key sets it and a collect_metadata
/// device reads and fills it): endpoints (host order), key id, destination port, TOS, TTL,
/// and flags.
public struct TunnelInfo: Sendable, Equatable {
    public var src: UInt32 = 0, dst: UInt32 = 0
    public var id: UInt32 = 0
    public var port: UInt16 = 0
    public var tos: UInt8 = 0, ttl: UInt8 = 0
    public var flags: UInt8 = 0
    public static let key: UInt8 = 1, csum: UInt8 = 2, dontFragment: UInt8 = 4
    public init() {}
}
