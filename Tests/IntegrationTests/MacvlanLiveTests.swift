import Foundation
import XCTest

/// macvlan devices with a real peer, Sluice's and this kernel's side by side: a host namespace
/// on one end of a veth; on the other end two macvlans in bridge mode, each with an address.
/// The host must reach both addresses, at the macvlans' own MACs, through Sluice as through
/// the kernel — and a third address on the lower device itself is reached at the lower's MAC.
final class MacvlanLiveTests: XCTestCase {
    var net: TestNet!

    override func setUpWithError() throws { net = try TestNet() }
    override func tearDown() { net?.cleanup() }

    func testMacvlansAnswerAtTheirOwnMACsAsTheKernels() throws {
        var seen: [String: [String]] = [:]
        for kind in ["kernel", "sluice"] {
            let id = kind == "kernel" ? "k" : "s"
            let sw = try net.netns("sw\(id)"), h = try net.netns("h\(id)")
            for ns in [sw, h] { _ = try? sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]) }
            let low = "\(net.tag)\(id)l"
            try net.veth(low, hostNS: sw, peerNS: h, addr: "198.18.80.10/24")
            var macs: [String] = []
            if kind == "kernel" {
                try sh(["ip", "-n", sw, "link", "set", low, "up"])
                for (n, a) in [("mv1", "198.18.80.1/24"), ("mv2", "198.18.80.2/24")] {
                    try sh(["ip", "-n", sw, "link", "add", "link", low, "name", n, "type", "macvlan", "mode", "bridge"])
                    try sh(["ip", "-n", sw, "addr", "add", a, "dev", n])
                    try sh(["ip", "-n", sw, "link", "set", n, "up"])
                    macs.append(try sh(["ip", "netns", "exec", sw, "cat", "/sys/class/net/\(n)/address"]).trimmingCharacters(in: .whitespacesAndNewlines))
                }
                // One namespace, two interfaces on a subnet: answer ARP only on the interface
                // that owns the address (arp_ignore 1), so each address keeps its own MAC.
                try sh(["ip", "netns", "exec", sw, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"])
            } else {
                let sock = net.dir + "/mv.sock"
                let d = try DaemonProcess(net: net, ns: sw, config: [
                    "link add low type afpacket dev \(low)", "link set low up",
                    "link add link low name mv1 type macvlan mode bridge", "link add link low name mv2 type macvlan mode bridge",
                    "link set mv1 up", "link set mv2 up",
                    "addr add 198.18.80.1/24 dev mv1", "addr add 198.18.80.2/24 dev mv2",
                    "sysctl net.ipv4.conf.all.arp_ignore=1",
                ], extraArgs: ["--socket", sock])
                try d.waitReady()
                for n in ["mv1", "mv2"] {
                    let shown = try sh([try sluiceBinary(), "exec", "--socket", sock, "ip", "link", "show", "dev", n])
                    macs.append(shown.components(separatedBy: "link/ether ")[1].split(separator: " ")[0].description)
                }
                net.onCleanup { _ = d.stop() }
            }
            XCTAssertNotEqual(macs[0], macs[1])
            var lines: [String] = []
            for (i, addr) in ["198.18.80.1", "198.18.80.2"].enumerated() {
                let out = try net.ping(from: h, addr, count: 2)
                XCTAssertTrue(out.contains(" 0% packet loss"), "\(kind) \(addr): \(out)")
                let neigh = try sh(["ip", "-n", h, "neigh", "show", addr])
                lines.append(neigh.contains(macs[i]) ? "\(addr) at its macvlan's MAC" : "\(addr) at another MAC: \(neigh)")
            }
            seen[kind] = lines
        }
        XCTAssertEqual(seen["kernel"], ["198.18.80.1 at its macvlan's MAC", "198.18.80.2 at its macvlan's MAC"])
        XCTAssertEqual(seen["sluice"], seen["kernel"])
    }
    /// A macvlan on a bridge, reached from a host behind one of the bridge's ports, Sluice's
    /// and the kernel's side by side: the macvlan's address on the bridge's unicast list makes
    /// the bridge promiscuous, so the unicast it floods for that address also goes up to the
    /// macvlan (br_handle_frame_finish, local_rcv). Before: Sluice answered the ARP request
    /// (a broadcast goes up anyway) but never the pings to the macvlan's MAC.
    func testAMacvlanOnABridgeIsReachedThroughItsPortsAsTheKernels() throws {
        var results: [String: [String]] = [:]
        for kind in ["kernel", "sluice"] {
            let id = kind == "kernel" ? "k" : "s"
            let sw = try net.netns("bw\(id)"), h = try net.netns("bh\(id)")
            for ns in [sw, h] { _ = try? sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]) }
            let port = "\(net.tag)\(id)p"
            try net.veth(port, hostNS: sw, peerNS: h, addr: "198.18.81.10/24")
            var promiscuity = "?"
            if kind == "kernel" {
                for c in [["link", "add", "br0", "type", "bridge"], ["link", "set", port, "master", "br0", "up"], ["link", "set", "br0", "up"],
                          ["link", "add", "link", "br0", "name", "mv", "type", "macvlan", "mode", "bridge"],
                          ["addr", "add", "198.18.81.1/24", "dev", "mv"], ["link", "set", "mv", "up"]] {
                    try sh(["ip", "-n", sw] + c)
                }
                promiscuity = try sh(["ip", "-n", sw, "-d", "link", "show", "br0"]).components(separatedBy: "promiscuity ").dropFirst().first?.split(separator: " ").first.map(String.init) ?? "?"
            } else {
                let sock = net.dir + "/mvb.sock"
                let d = try DaemonProcess(net: net, ns: sw, config: [
                    "link add br0 type bridge", "link add p type afpacket dev \(port)", "link set p master br0 up", "link set br0 up",
                    "link add link br0 name mv type macvlan mode bridge", "addr add 198.18.81.1/24 dev mv", "link set mv up",
                ], extraArgs: ["--socket", sock])
                try d.waitReady()
                net.onCleanup { _ = d.stop() }
                promiscuity = try sh([try sluiceBinary(), "exec", "--socket", sock, "ip", "-d", "link", "show", "br0"])
                    .components(separatedBy: "promiscuity ").dropFirst().first?.split(separator: " ").first.map(String.init) ?? "?"
            }
            usleep(1_000_000)     // the bridge port forwards (no STP: at once) and the host is ready
            let out = try net.ping(from: h, "198.18.81.1", count: 3)
            let received = out.components(separatedBy: " received").first?.split(separator: " ").last.map(String.init) ?? "?"
            results[kind] = ["bridge promiscuity \(promiscuity)", "\(received) of 3 pings answered"]
        }
        print("macvlan on a bridge: kernel \(results["kernel"]!), Sluice \(results["sluice"]!)")
        XCTAssertEqual(results["kernel"], ["bridge promiscuity 1", "3 of 3 pings answered"])
        XCTAssertEqual(results["sluice"], results["kernel"])
    }
}
