import ArgumentParser
import Foundation
import Host
import Logging

struct CheckConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration: parse it, load every plugin's descriptor, let each plugin check its "
            + "own section. Starts nothing."
    )

    @Argument(help: "The YAML configuration file.")
    var file = "config.yaml"

    func run() async throws {
        let configuration = try CommandSupport.loadConfiguration(file)
        CommandSupport.bootstrapLogging(level: .warning)
        let logger = Logger(label: "markethub.check-config")
        do {
            // Creating the instances lets each plugin validate its configuration; destroying them again
            // releases whatever they allocated. Nothing is started: no ports are bound, no upstream contacted.
            let runtime = try HostRuntime(configuration: configuration, logger: logger)
            for entry in runtime.instances {
                let descriptor = entry.instance.descriptor
                print(
                    "\(entry.slot): \(descriptor.id) \(descriptor.version) (\(descriptor.kind), ABI \(descriptor.abi), "
                        + "\(descriptor.toolchain)) \(descriptor.path)"
                )
            }
            for entry in runtime.instances.reversed() { entry.instance.destroy() }
        } catch {
            throw CommandSupport.fail(error)
        }
        print("\(file): configuration OK")
    }
}
