import ArgumentParser
import Host
import Logging
import ServiceLifecycle
import UnixSignals

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Load the plugins named in the configuration and serve until SIGINT or SIGTERM."
    )

    @Option(name: .shortAndLong, help: "The YAML configuration file.")
    var config = "config.yaml"

    func run() async throws {
        let configuration = try CommandSupport.loadConfiguration(config)
        CommandSupport.bootstrapLogging(level: configuration.host.logLevel)
        let logger = Logger(label: "markethub")
        let runtime: HostRuntime
        do {
            runtime = try HostRuntime(configuration: configuration, logger: logger)
        } catch {
            throw CommandSupport.fail(error)
        }
        let group = ServiceGroup(
            configuration: .init(
                services: runtime.services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            throw CommandSupport.fail(error)
        }
        logger.notice("markethub stopped")
    }
}
