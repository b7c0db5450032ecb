import FakeMassive
import Foundation
import Logging
import MarketCalendar
import MassiveClient
import PluginAPI
import PluginKit
import ReplayEngine
import ServiceLifecycle
import Synchronization

/// A key distinctive enough that a scan for it cannot match anything by accident.
let testKey = "mh-secret-canary-7f3a9c51e2d84b06"

/// Everything a provider pushed into its sink.
final class CollectingSink: ReplaySink {
    struct Received {
        var quotes: [Quote] = []
        var trades: [Trade] = []
        var bars: [Bar] = []
        var states: [StreamStateEvent] = []
        var subscriptionErrors: [(symbol: String, channels: Channels, status: mh_status, message: String)] = []
    }

    let received = Mutex(Received())

    func quotes(_ quotes: [Quote]) { received.withLock { $0.quotes.append(contentsOf: quotes) } }
    func trades(_ trades: [Trade]) { received.withLock { $0.trades.append(contentsOf: trades) } }
    func bars(_ bars: [Bar]) { received.withLock { $0.bars.append(contentsOf: bars) } }
    func state(_ state: StreamStateEvent) { received.withLock { $0.states.append(state) } }
    func subscriptionError(symbol: String, channels: Channels, status: mh_status, message: String) {
        received.withLock { $0.subscriptionErrors.append((symbol, channels, status, message)) }
    }

    var snapshot: Received { received.withLock { $0 } }
}

/// Every log line, for assertions and for the key scan.
final class LogLines: Sendable {
    let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }

    func logger(_ label: String = "test") -> Logger {
        var logger = Logger(label: label) { _ in LineHandler(sink: self) }
        logger.logLevel = .trace
        return logger
    }
}

struct LineHandler: LogHandler {
    let sink: LogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let fields = metadata.merging(event.metadata ?? [:]) { $1 }.map { "\($0.key)=\($0.value)" }.sorted()
        sink.lines.withLock { $0.append("\(event.level) \(event.message) \(fields.joined(separator: " "))") }
    }
}

/// REST and stream observations (what the plugin turns into metrics).
final class CollectingObserver: RESTObserver, StreamObserver {
    let labels = Mutex<[String]>([])
    func exchange(endpoint: String, outcome: String, seconds: Double) {
        labels.withLock { $0.append("rest endpoint=\(endpoint) outcome=\(outcome)") }
    }
    func reconnect(feed: String) { labels.withLock { $0.append("reconnect feed=\(feed)") } }
    func malformedFrame(feed: String) { labels.withLock { $0.append("malformed feed=\(feed)") } }
    var all: [String] { labels.withLock { $0 } }
}

/// A running fake vendor and a way to stop it.
struct RunningFake {
    let server: FakeMassiveServer
    let group: ServiceGroup
    let task: Task<Void, any Error>
    let port: Int

    var restURL: String { "http://127.0.0.1:\(port)" }
    var wsURL: String { "ws://127.0.0.1:\(port)" }

    static let defaultData: FakeMarketData = {
        // One synthetic session shared by every test (generating it is the slow part).
        do {
            return try FakeMarketData.synthetic(
                underlyings: ["SPY"], date: CivilDate(year: 2025, month: 12, day: 8)!, seed: 11,
                startMinute: 9 * 60 + 30, endMinute: 9 * 60 + 40)
        } catch {
            fatalError("synthetic data: \(error)")
        }
    }()

    static func start(
        data: FakeMarketData = defaultData, behaviour: FakeMassiveServer.Behaviour = .init(), port: Int = 0
    ) async throws -> RunningFake {
        var logger = Logger(label: "fake-massive")
        logger.logLevel = .warning
        let server = FakeMassiveServer(
            data: data, apiKeys: [testKey], port: port, behaviour: behaviour, logger: logger)
        let group = ServiceGroup(services: [server], logger: logger)
        let task = Task { try await group.run() }
        let port = await server.port()
        return RunningFake(server: server, group: group, task: task, port: port)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    func configuration(_ extra: (inout MassiveConfiguration) -> Void = { _ in }) -> MassiveConfiguration {
        var configuration = MassiveConfiguration(apiKey: testKey, restURL: restURL, wsURL: wsURL)
        configuration.requestTimeoutMilliseconds = 15_000
        configuration.initialBackoffMilliseconds = 50
        configuration.maxBackoffMilliseconds = 400
        configuration.subscribeBatchMilliseconds = 30
        extra(&configuration)
        return configuration
    }
}

/// Runs a blocking control call on its own thread (never on the cooperative pool).
func offPool(_ body: @escaping @Sendable () -> Void) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let thread = Thread {
            body()
            continuation.resume()
        }
        thread.start()
    }
}

struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Polls `condition` every 20 ms until it holds or `seconds` pass.
func eventually(
    _ what: String, seconds: Double = 10, _ condition: @Sendable () -> Bool
) async throws {
    let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1_000))
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TimedOut(what: what) }
        try await Task.sleep(for: .milliseconds(20))
    }
}

func makeCore(
    _ configuration: MassiveConfiguration, sink: CollectingSink = CollectingSink(), logs: LogLines = LogLines(),
    observer: CollectingObserver = CollectingObserver()
) -> MassiveProviderCore {
    MassiveProviderCore(
        configuration: configuration, sink: sink, clock: SystemStreamClock(), logger: logs.logger("massive"),
        restObserver: observer, streamObserver: observer)
}

extension MassiveProviderCore {
    /// A look-up as an async call.
    func lookup(_ request: LookupRequest) async -> OperationResult {
        await withCheckedContinuation { continuation in
            self.request(request) { continuation.resume(returning: $0) }
        }
    }

    /// Stops on a thread of its own (stop blocks).
    func stopAsync() async { await offPool { self.stop() } }
}

/// A bar entry in the vendor's aggregate shape.
func vendorBar(_ t: Int64, close: Double) -> JSONValue {
    .object([
        ("v", .integer(1_000)), ("vw", .number(close)), ("o", .number(close - 0.5)), ("c", .number(close)),
        ("h", .number(close + 1)), ("l", .number(close - 1)), ("t", .integer(t)), ("n", .integer(12)),
    ])
}
