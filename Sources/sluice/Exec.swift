import ArgumentParser
import Sluice
#if canImport(Glibc)
import Glibc
#endif

enum ControlSocket {
    static let defaultPath = "/run/sluice/sluice.sock"
    /// --socket, else SLUICE_SOCKET, else the default.
    static func path(_ option: String?) -> String {
        option ?? (getenv("SLUICE_SOCKET").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? defaultPath)
    }
}

/// `sluice exec ip|tc|bridge|sysctl ARGS…`: runs Debian's unmodified iproute2 (or procps's
/// sysctl) against the daemon. A preload library (libSluicePreload.so, beside this binary) maps
/// the program's AF_NETLINK/NETLINK_ROUTE sockets onto the daemon's control socket, answers
/// if_nametoindex/if_indextoname from the daemon and serves /proc/sys/net's files from the
/// daemon's sysctl; any other netlink family is refused, so the program never reaches the
/// kernel's own tables by accident.
struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run ip, tc, bridge or sysctl (or cat and tee on the daemon's /proc and /sys files) against the daemon instead of the kernel.")

    @Option(name: .long, help: "The daemon's control socket (default: SLUICE_SOCKET, else \(ControlSocket.defaultPath)).")
    var socket: String?

    @Argument(parsing: .captureForPassthrough, help: "ip|tc|bridge|sysctl|cat|tee and its arguments.")
    var command: [String] = []

    /// A file the preload library takes to the daemon (its sysctl, multicast lists, NAPI settings).
    static func daemonFile(_ path: String) -> Bool {
        if path.hasPrefix("/proc/sys/net/") || ["/proc/net/dev_mcast", "/proc/net/igmp", "/proc/net/igmp6"].contains(path) { return true }
        return RtnlProcessor.sysfsNAPIFile(path) != nil
    }

    func run() throws {
        guard let tool = command.first else { throw ValidationError("exec needs a program: ip, tc, bridge, sysctl, cat or tee") }
        guard ["ip", "tc", "bridge", "sysctl", "cat", "tee"].contains(tool) else { throw ValidationError("exec runs ip, tc, bridge, sysctl, cat or tee, not \"\(tool)\"") }
        let args = Array(command.dropFirst())
        // cat and tee read and write the files the daemon serves (`echo 2 | sluice exec tee
        // /sys/class/net/eth0/napi_defer_hard_irqs`); any other file would be this machine's.
        if tool == "cat" || tool == "tee" {
            for a in args where !a.hasPrefix("-") && !Exec.daemonFile(a) {
                throw ValidationError("exec \(tool) reads and writes only the daemon's files (/proc/sys/net/…, /proc/net/dev_mcast, igmp, igmp6, /sys/class/net/DEV/napi_defer_hard_irqs and gro_flush_timeout), not \"\(a)\"")
            }
        }
        // What bypasses rtnetlink would act on the kernel: refused. ip resolves an object as
        // its first command the word abbreviates (ip.c's cmds[] in order), so "m" is maddress.
        if tool == "ip", let obj = Exec.ipObject(args),
           let resolved = Exec.ipObjects.first(where: { $0.hasPrefix(obj) }) {
            // `ip vrf show` is a link dump of kind vrf; the rest of `ip vrf` is cgroups.
            let vrfShow = resolved == "vrf" && (args.firstIndex(of: obj).map { i in
                i + 1 >= args.count || ["show", "list", "ls"].contains { $0.hasPrefix(args[i + 1]) } } ?? false)
            if let why = Exec.ipBypasses[resolved], !vrfShow {
                throw ValidationError("\"ip \(obj)\" \(why), so it would act on the kernel, not the daemon; not run")
            }
            // `ip maddr show` reads the membership files the daemon answers; add and del
            // are SIOCADDMULTI/SIOCDELMULTI on the kernel's device.
            if resolved == "maddress", let i = args.firstIndex(of: obj), i + 1 < args.count,
               let verb = args[(i + 1)...].first, ["add", "delete"].contains(where: { $0.hasPrefix(verb) }) {
                throw ValidationError("\"ip \(obj) \(verb)\" uses the kernel's multicast ioctls, so it would act on the kernel, not the daemon; not run")
            }
        }
        let dir = URLPath.directory(of: CommandLine.arguments[0])
        let lib = dir + "/libSluicePreload.so"
        guard access(lib, R_OK) == 0 else {
            throw ValidationError("\(lib) is missing: build it with `swift build --product SluicePreload`")
        }
        setenv("LD_PRELOAD", lib, 1)
        setenv("SLUICE_SOCKET", ControlSocket.path(socket), 1)
        var argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        if let binary = Exec.binary(tool) { execv(binary, &argv) } else { execvp(tool, &argv) }
        throw ValidationError("cannot run \(tool): \(String(cString: strerror(errno)))")
    }
}

extension Exec {
    /// iproute2's ip.c objects, in the order `matches()` tries them.
    static let ipObjects = ["address", "addrlabel", "maddress", "route", "rule", "neighbor", "neighbour",
                            "ntable", "ntbl", "link", "l2tp", "fou", "ila", "macsec", "tunnel", "tunl",
                            "tuntap", "tap", "token", "tcpmetrics", "tcp_metrics", "monitor", "xfrm",
                            "mroute", "mrule", "netns", "netconf", "vrf", "sr", "nexthop", "mptcp",
                            "ioam", "stats", "help"]
    /// The object word of an ip command line: the first word that is not an option or an
    /// option's argument (-family, -loops, -rcvbuf, -netns and -batch take one).
    static func ipObject(_ args: [String]) -> String? {
        var i = 0
        while i < args.count {
            let a = args[i]
            guard a.hasPrefix("-"), a.count > 1 else { return a }
            let takesValue = ["-family", "-loops", "-rcvbuf", "-netns", "-batch"].contains { $0.hasPrefix(a) && a.count >= 2 }
                && a != "-b" && a != "-r"
            i += takesValue ? 2 : 1
        }
        return nil
    }
    /// The program itself: the first `tool` in PATH that is an ELF executable. A script of that
    /// name ahead of it in PATH — a shim that runs `sluice exec TOOL`, as one writes to point a
    /// test suite's `ip` and `tc` at the daemon — is passed over, or it would run itself for ever.
    static func binary(_ tool: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for dir in path.split(separator: ":", omittingEmptySubsequences: true) {
            let candidate = "\(dir)/\(tool)"
            guard access(candidate, X_OK) == 0 else { continue }
            let fd = open(candidate, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            var magic: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
            let n = withUnsafeMutableBytes(of: &magic) { read(fd, $0.baseAddress, 4) }
            close(fd)
            if n == 4 && magic == (0x7f, 0x45, 0x4c, 0x46) { return candidate }
        }
        return nil
    }
    /// The objects that reach the kernel without rtnetlink, and how.
    static let ipBypasses = [
        "tuntap": "opens /dev/net/tun", "tap": "opens /dev/net/tun",
        "netns": "works on the kernel's network namespaces",
        "vrf": "exec, identify and pids work on the kernel's cgroups (only `ip vrf show` reaches the daemon)",
    ]
}

enum URLPath {
    /// The directory of an executable path, resolved through /proc/self/exe when it is bare.
    static func directory(of arg0: String) -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        let path = n > 0 ? String(cString: buf) : arg0
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }
}
