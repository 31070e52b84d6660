import Foundation
import Sluice
#if canImport(Glibc)
import Glibc
#endif

/// `sluice [OPTIONS] link|fdb|qdisc|class|filter|chain|action|monitor ARGS…` and
/// `sluice [OPTIONS] -batch FILE [-force]`: the control client. It speaks rtnetlink to the
/// daemon's socket (--socket PATH, else SLUICE_SOCKET, else the default) by running Debian's
/// iproute2 through the same preload shim as `sluice exec` — so the grammar, the text and JSON
/// output (-s, -d, -j, -p) and the exit codes are iproute2's own, byte for byte:
///   link → ip link, addr|route|neigh → ip …, fdb → bridge fdb, vlan → bridge vlan,
///   qdisc|class|filter|chain → tc …, action → tc actions,
///   monitor [link|neigh|tc|all] → ip monitor link | bridge monitor fdb | tc monitor | ip monitor all.
/// Device kinds only Sluice has with options Debian's ip cannot send (afpacket, afxdp, pcap)
/// are created by the client itself (`PortLink`), over the same socket.
enum Client {
    static let objects: [String: (tool: String, words: [String])] = [
        "link": ("ip", ["link"]), "fdb": ("bridge", ["fdb"]), "qdisc": ("tc", ["qdisc"]),
        "class": ("tc", ["class"]), "filter": ("tc", ["filter"]), "chain": ("tc", ["chain"]), "action": ("tc", ["actions"]),
        "actions": ("tc", ["actions"]), "vlan": ("bridge", ["vlan"]),
        "addr": ("ip", ["addr"]), "address": ("ip", ["addr"]), "route": ("ip", ["route"]), "rule": ("ip", ["rule"]), "nexthop": ("ip", ["nexthop"]), "neigh": ("ip", ["neigh"]),
        "addrlabel": ("ip", ["addrlabel"]), "monitor": ("", []),
    ]
    static let flagOptions: Set<String> = ["-s", "-stats", "-statistics", "-d", "-details", "-j", "-json", "-p", "-pretty"]

    /// Runs the client if `argv` asks for it; returns nil when it is another subcommand.
    static func runIfClient(_ argv: [String]) -> Int32? {
        var i = 1
        var options: [String] = []
        var socket: String?
        var batch: String?
        var force = false
        while i < argv.count {
            let a = argv[i]
            if flagOptions.contains(a) { options.append(a); i += 1; continue }
            if a == "-force" { force = true; i += 1; continue }
            if a == "--socket" || a == "-batch" || a == "-b" {
                guard i + 1 < argv.count else { return usage("\(a) needs a value") }
                if a == "--socket" { socket = argv[i + 1] } else { batch = argv[i + 1] }
                i += 2; continue
            }
            break
        }
        if let batch { return runBatch(batch, options: options, socket: socket, force: force) }
        guard i < argv.count, objects[argv[i]] != nil else {
            // Not a client command: leave it to the other subcommands (options alone are an error).
            return options.isEmpty && socket == nil && !force ? nil : usage("expected link, addr, route, neigh, fdb, vlan, qdisc, class, filter, chain, action or monitor")
        }
        if argv[i] == "link", let status = PortLink.runIfPortLink(Array(argv[(i + 1)...]), socket: socket) { return status }
        guard let (tool, words) = resolve(argv[i], Array(argv[(i + 1)...])) else {
            return usage("monitor takes link, neigh, tc or all, not \"\(argv[i + 1])\"")
        }
        guard let lib = preload() else { return 1 }
        setenv("LD_PRELOAD", lib, 1)
        setenv("SLUICE_SOCKET", ControlSocket.path(socket), 1)
        let full = [tool] + options + words
        var cargs: [UnsafeMutablePointer<CChar>?] = full.map { strdup($0) } + [nil]
        execvp(tool, &cargs)
        writeErr("sluice: cannot run \(tool): \(String(cString: strerror(errno))) (Debian: apt-get install -y iproute2)")
        return 1
    }

    /// The iproute2 program and its words for `object args…`.
    static func resolve(_ object: String, _ args: [String]) -> (String, [String])? {
        if object == "monitor" {
            switch args.first ?? "all" {
            case "link": return ("ip", ["monitor", "link"] + args.dropFirst())
            case "neigh", "fdb": return ("bridge", ["monitor", "fdb"] + args.dropFirst())
            case "tc": return ("tc", ["monitor"] + args.dropFirst())
            case "all": return ("ip", ["monitor", "all"] + args.dropFirst())
            default: return nil
            }
        }
        let o = objects[object]!
        return (o.tool, o.words + args)
    }

    static func preload() -> String? {
        let lib = URLPath.directory(of: CommandLine.arguments[0]) + "/libSluicePreload.so"
        guard access(lib, R_OK) == 0 else {
            writeErr("sluice: \(lib) is missing: build it with `swift build --product SluicePreload`")
            return nil
        }
        return lib
    }

    /// One command per line ("qdisc add dev p1 root …"); the first failure stops the batch
    /// (tc -batch), or with -force every line runs; either way a failed line is named.
    static func runBatch(_ path: String, options: [String], socket: String?, force: Bool) -> Int32 {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            writeErr("sluice: cannot read \(path)")
            return 1
        }
        guard let lib = preload() else { return 1 }
        var env = ProcessInfo.processInfo.environment
        env["LD_PRELOAD"] = lib
        env["SLUICE_SOCKET"] = ControlSocket.path(socket)
        var failed = false
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let object = words.first else { continue }
            guard objects[object] != nil, let (tool, rest) = resolve(object, Array(words.dropFirst())), object != "monitor" else {
                writeErr("sluice: \(path):\(n + 1): \"\(object)\" is not link, addr, route, neigh, fdb, vlan, qdisc, class, filter, chain or action")
                failed = true
                if force { continue } else { return 1 }
            }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = [tool] + options + rest
            p.environment = env
            do { try p.run() } catch {
                writeErr("sluice: \(path):\(n + 1): cannot run \(tool): \(error)")
                return 1
            }
            p.waitUntilExit()
            if p.terminationStatus != 0 {
                writeErr("sluice: \(path):\(n + 1): failed: \(words.joined(separator: " "))")
                failed = true
                if !force { return 1 }
            }
        }
        return failed ? 1 : 0
    }

    static func usage(_ why: String) -> Int32 {
        writeErr("sluice: \(why)")
        return 1
    }
}
