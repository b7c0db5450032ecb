import ArgumentParser
import Foundation
import Host
import Logging
import PluginKit

/// `markethub record`: runs the configured provider (MassiveProvider) with `recordTo` set, subscribes the
/// given symbols, and writes what the vendor sends (stream frames and REST answers, never the key) into the
/// recording format for the recorded provider to replay.
struct RecordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Record a live provider session (stream frames and REST answers) into a recording file.",
        discussion: """
            The provider in --config must accept the `recordTo` key (MassiveProvider does). The key comes from
            MASSIVE_API_KEY as for `serve`; it is never written to the recording. Only the provider plugin is
            loaded: the cache and transports of the configuration are not used.
            """
    )

    @Option(name: .shortAndLong, help: "The YAML configuration file.")
    var config = "config.yaml"

    @Option(help: "Output recording (JSON lines; gzip when it ends in .gz).")
    var out: String

    @Option(help: "How long to record: seconds, or with a unit (90s, 15m, 2h).")
    var duration: String = "60s"

    @Option(help: "Comma-separated symbols to stream (stocks, I:indices, O:options).")
    var symbols: String = "SPY"

    @Flag(help: "Also record a year of daily bars and today's minute bars for each stock symbol.")
    var aggregates = false

    static func seconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3_600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            return Double(text.dropLast(suffix.count)).map { $0 * scale }
        }
        return Double(text)
    }

    func run() async throws {
        guard let seconds = Self.seconds(duration), seconds > 0, seconds <= 86_400 else {
            throw ValidationError("--duration must be a positive time up to 24h (e.g. 90s, 15m)")
        }
        let list = symbols.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard !list.isEmpty else { throw ValidationError("--symbols needs at least one symbol") }
        var configuration = try CommandSupport.loadConfiguration(config)
        configuration.provider.config = configuration.provider.config.setting(
            "recordTo", to: .string((out as NSString).standardizingPath))
        configuration.cache = .init(plugin: "MemoryCache", keyPath: "cache")
        configuration.transports = []
        CommandSupport.bootstrapLogging(level: configuration.host.logLevel)
        let logger = Logger(label: "markethub.record")
        let runtime: HostRuntime
        do {
            runtime = try HostRuntime(configuration: configuration, logger: logger)
            for entry in runtime.instances { try await entry.instance.startAsync() }
        } catch {
            throw CommandSupport.fail(error)
        }
        var failure: String?
        do throws(PluginError) {
            try runtime.provider.subscribe(list, channels: .all)
        } catch {
            failure = "subscribe: \(error)"
        }
        if failure == nil, aggregates {
            let now = Int64(Date().timeIntervalSince1970 * 1_000)
            for symbol in list where !symbol.contains(":") {
                for (timespan, span) in [(Timespan.day, Int64(366 * 86_400_000)), (.minute, Int64(86_400_000))] {
                    let result = await runtime.provider.request(
                        ProviderRequest(
                            kind: .aggregates, ticker: symbol, multiplier: 1, timespan: timespan,
                            fromMilliseconds: now - span, toMilliseconds: now))
                    if !result.isOK { logger.warning("aggregates \(symbol) \(timespan.name): \(result.message)") }
                }
            }
        }
        if failure == nil {
            logger.notice("recording \(list.joined(separator: ",")) for \(duration) into \(out)")
            try? await Task.sleep(for: .milliseconds(Int64(seconds * 1_000)))
        }
        for entry in runtime.instances.reversed() { await entry.instance.destroyAsync() }
        if let failure { throw CommandSupport.fail(failure) }
        let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
        print("wrote \(out): \(size) bytes; replay it with provider RecordedProvider, source: file, path: \(out)")
    }
}
