import ArgumentParser
import Sluice
#if canImport(Glibc)
import Glibc
#endif

struct SluiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A user-space network datapath modelled on the Linux kernel's networking.",
        subcommands: [Daemon.self, Up.self, ReplayCommand.self]
    )
}

SluiceCommand.main()
