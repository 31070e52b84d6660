import ArgumentParser
import Sluice
#if canImport(Glibc)
import Glibc
#endif

struct SluiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A user-space network datapath modelled on the Linux kernel's networking.",
        subcommands: [Daemon.self, Up.self, ReplayCommand.self, Exec.self]
    )
}

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
