/// Stable Linux ABI values used by the drivers (uapi headers; they never change).
enum LinuxABI {
    // linux/if_tun.h
    static let IFF_TAP: Int16 = 0x0002
    static let IFF_NO_PI: Int16 = 0x1000
    static let IFF_MULTI_QUEUE: Int16 = 0x0100
    static let IFF_VNET_HDR: Int16 = 0x4000
    static let TUN_F_CSUM: UInt = 0x01, TUN_F_TSO4: UInt = 0x02, TUN_F_TSO6: UInt = 0x04
    static let TUN_F_TSO_ECN: UInt = 0x08, TUN_F_USO4: UInt = 0x20, TUN_F_USO6: UInt = 0x40
    // linux/if_packet.h
    static let SOL_PACKET: Int32 = 263
    static let PACKET_ADD_MEMBERSHIP: Int32 = 1
    static let PACKET_RX_RING: Int32 = 5
    static let PACKET_VERSION: Int32 = 10
    static let PACKET_VNET_HDR: Int32 = 15
    static let PACKET_QDISC_BYPASS: Int32 = 20
    static let PACKET_IGNORE_OUTGOING: Int32 = 23
    static let PACKET_AUXDATA: Int32 = 8
    static let TPACKET_V3: Int32 = 2
    static let PACKET_MR_PROMISC: Int32 = 1
    static let PACKET_OUTGOING: UInt8 = 4
    static let TP_STATUS_USER: UInt32 = 1
    static let TP_STATUS_VLAN_VALID: UInt32 = 0x10
    static let TP_STATUS_VLAN_TPID_VALID: UInt32 = 0x40
    static let ETH_P_ALL: UInt16 = 0x0003
}
