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

/// `sluice exec ip|tc|bridge ARGS…`: runs Debian's unmodified iproute2 against the daemon. A
/// preload library (libSluicePreload.so, beside this binary) maps the program's
/// AF_NETLINK/NETLINK_ROUTE sockets onto the daemon's control socket and answers
/// if_nametoindex/if_indextoname from the daemon; any other netlink family is refused, so the
/// program never reaches the kernel's own tables by accident.
struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run ip, tc or bridge against the daemon instead of the kernel.")

    @Option(name: .long, help: "The daemon's control socket (default: SLUICE_SOCKET, else \(ControlSocket.defaultPath)).")
    var socket: String?

    @Argument(parsing: .captureForPassthrough, help: "ip|tc|bridge and its arguments.")
    var command: [String] = []

    func run() throws {
        guard let tool = command.first else { throw ValidationError("exec needs a program: ip, tc or bridge") }
        guard ["ip", "tc", "bridge"].contains(tool) else { throw ValidationError("exec runs ip, tc or bridge, not \"\(tool)\"") }
        let args = Array(command.dropFirst())
        // What bypasses rtnetlink would act on the kernel: refused.
        if tool == "ip" {
            let obj = args.first { !$0.hasPrefix("-") } ?? ""
            for bypass in ["netns", "tuntap", "tunnel", "tap", "tun"] where !obj.isEmpty && bypass.hasPrefix(obj) && obj.count >= 2 || obj == bypass {
                throw ValidationError("\"ip \(obj)\" does not go through rtnetlink (it would act on the kernel); not run")
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
        execvp(tool, &argv)
        throw ValidationError("cannot run \(tool): \(String(cString: strerror(errno)))")
    }
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
