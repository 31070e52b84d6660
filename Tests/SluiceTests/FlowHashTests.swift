import XCTest
@testable import Sluice

/// The kernel's multipath hash primitive against its published reference values: SipHash-2-4
/// (Aumasson and Bernstein's test vectors: key 00…0f, message 00…n−1). That the whole hash is
/// the kernel's is shown side by side in RoutingLiveTests.testMultipathHashSeedPicksTheKernelsNextHops.
final class FlowHashTests: XCTestCase {
    func testSipHashMatchesTheReferenceVectors() {
        let k0: UInt64 = 0x0706_0504_0302_0100, k1: UInt64 = 0x0F0E_0D0C_0B0A_0908
        var h = SipHash24(k0: k0, k1: k1)
        XCTAssertEqual(h.finish(length: 0), 0x726F_DB47_DD0E_0E31)
        h = SipHash24(k0: k0, k1: k1)
        h.compress(0x0706_0504_0302_0100)
        XCTAssertEqual(h.finish(length: 8), 0x93F5_F579_9A93_2462)
        h = SipHash24(k0: k0, k1: k1)
        h.compress(0x0706_0504_0302_0100); h.compress(0x0F0E_0D0C_0B0A_0908)
        XCTAssertEqual(h.finish(length: 16), 0x3F2A_CC7F_57C2_9BDB)
    }

    /// __flow_hash_consistentify: the keys are put in order first, so a flow and its reply
    /// hash alike; a zero hash becomes 1.
    func testFlowKeysHashTheSameBothWays() {
        let a = KernelFlowHash.v4(seed: 7, src: 0xC612_1F0A, dst: 0xC612_2014, proto: 17, ports: 40000 << 16 | 5000)
        let b = KernelFlowHash.v4(seed: 7, src: 0xC612_2014, dst: 0xC612_1F0A, proto: 17, ports: 5000 << 16 | 40000)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, KernelFlowHash.v4(seed: 8, src: 0xC612_1F0A, dst: 0xC612_2014, proto: 17, ports: 40000 << 16 | 5000))
        let s6: UInt128 = 0x2001_0DB8_0031 << 80 | 0x10, d6: UInt128 = 0x2001_0DB8_0040 << 80 | 1
        XCTAssertEqual(KernelFlowHash.v6(seed: 7, src: s6, dst: d6, label: 5, proto: 6, ports: 1 << 16 | 2),
                       KernelFlowHash.v6(seed: 7, src: d6, dst: s6, label: 5, proto: 6, ports: 2 << 16 | 1))
    }
}
