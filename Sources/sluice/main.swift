import ArgumentParser
import Sluice
#if canImport(Glibc)
import Glibc
#endif

struct SluiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A user-space network datapath modelled on the Linux kernel's networking.",
        discussion: """
        Control a running daemon (rtnetlink over --socket PATH, else SLUICE_SOCKET, else \(ControlSocket.defaultPath)):
          sluice [-s] [-d] [-j] [-p] link|fdb|qdisc|class|filter|chain|action ARGS…   (iproute2's grammar and output)
          sluice monitor [link|neigh|tc|all]
          sluice [OPTIONS] -batch FILE [-force]
        """,
        subcommands: [Daemon.self, Up.self, ReplayCommand.self, Exec.self]
    )
}

// The control client (sluice link|fdb|qdisc|class|filter|chain|action|monitor …, sluice -batch FILE).
if let code = Client.runIfClient(CommandLine.arguments) { exit(code) }

// Bad arguments give one clear line and a non-zero exit (help and --version print as usual).
do {
    var command = try SluiceCommand.parseAsRoot()
    try command.run()
} catch {
    let code = SluiceCommand.exitCode(for: error)
    if code == .success || error is CleanExit { SluiceCommand.exit(withError: error) }
    if let e = error as? ExitCode { exit(e.rawValue) }
    let message = SluiceCommand.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
    writeErr("sluice: " + message)
    exit(code.rawValue == 0 ? 1 : code.rawValue)
}
