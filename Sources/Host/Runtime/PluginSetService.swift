import Logging
import PluginKit
import ServiceLifecycle

/// Runs the plugins: starts cache, provider and transports in that order; on graceful shutdown (SIGINT or
/// SIGTERM through the ServiceGroup) stops transports first (draining clients), then the provider, then the
/// cache (flushing writes), and destroys them all. Plugin calls are blocking C calls, so they run off the
/// cooperative pool.
public struct PluginSetService: Service {
    let runtime: HostRuntime

    public func run() async throws {
        let logger = runtime.logger
        var started: [(slot: String, instance: any PluginInstance)] = []
        for entry in runtime.instances {
            let instance = entry.instance
            let result: Result<Void, PluginError> = await runBlocking {
                do throws(PluginError) {
                    try instance.start()
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            if case .failure(let error) = result {
                logger.critical(
                    "plugin failed to start; stopping",
                    metadata: ["plugin": "\(instance.descriptor.id)", "slot": "\(entry.slot)", "error": "\(error)"]
                )
                await Self.shutDown(started + [entry], logger: logger)
                throw PluginLoadError(
                    .startFailed, plugin: instance.descriptor.id,
                    "failed to start in '\(entry.slot)': \(error.message)",
                    fix:
                        "see the message; check the plugin's configuration and that its ports and servers are available"
                )
            }
            logger.info(
                "plugin started",
                metadata: [
                    "plugin": "\(instance.descriptor.id)", "version": "\(instance.descriptor.version)",
                    "slot": "\(entry.slot)",
                ]
            )
            started.append(entry)
        }
        logger.notice("markethub serving", metadata: ["plugins": "\(started.count)"])
        runtime.cluster?.pluginsStarted()
        try? await gracefulShutdown()
        logger.notice("shutting down: draining transports, stopping provider, flushing cache")
        await Self.shutDown(started, logger: logger)
    }

    static func shutDown(_ instances: [(slot: String, instance: any PluginInstance)], logger: Logger) async {
        for entry in instances.reversed() {
            let instance = entry.instance
            await runBlocking { instance.destroy() }
            logger.info("plugin stopped", metadata: ["plugin": "\(instance.descriptor.id)", "slot": "\(entry.slot)"])
        }
    }
}
