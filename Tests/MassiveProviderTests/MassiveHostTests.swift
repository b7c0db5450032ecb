import FakeMassive
import Foundation
import Host
import Logging
import MassiveClient
import PluginAPI
import PluginKit
import Recording
import Synchronization
import Testing

/// A live output that keeps what the host published.
final class CollectingOutput: LiveOutput {
    let events = Mutex<[(room: String, event: String, payload: String)]>([])

    func publish(room: String, event: String, payload: [UInt8], conflationKey: String) -> PluginError? {
        events.withLock { $0.append((room, event, String(decoding: payload, as: UTF8.self))) }
        return nil
    }
    func send(clientID: UInt64, event: String, payload: [UInt8]) -> PluginError? {
        events.withLock { $0.append(("client", event, String(decoding: payload, as: UTF8.self))) }
        return nil
    }
    func join(clientID: UInt64, room: String) -> PluginError? { nil }
    func leave(clientID: UInt64, room: String) -> PluginError? { nil }
}

/// The product with MassiveProvider against the fake vendor: the host loads the real plugin library (dlopen),
/// and the switch from RecordedProvider is a YAML edit.
@Suite("Massive in the host", .serialized)
struct MassiveHostTests {
    /// Monday 2025-12-08 15:00 UTC = 10:00 New York, inside the fake's synthetic session.
    static let mondayMorning: Int64 = 1_765_206_000_000

    static var buildDirectory: String {
        PluginLocator.executableDirectory ?? FileManager.default.currentDirectoryPath + "/.build/debug"
    }

    static func yaml(_ fake: RunningFake) -> String {
        """
        provider:
          plugin: MassiveProvider
          config:
            restURL: \(fake.restURL)
            wsURL: \(fake.wsURL)
            subscribeBatchMs: 0
        cache:
          plugin: MemoryCache
        transports: []
        """
    }

    @Test("the plugin exports only its entry point")
    func exports() throws {
        let path = Self.buildDirectory + "/libMassiveProvider.so"
        #expect(FileManager.default.fileExists(atPath: path), "run swift build first")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nm")
        process.arguments = ["-D", "--defined-only", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let exported = output.split(separator: "\n").compactMap { line -> String? in
            let parts = line.split(separator: " ")
            guard parts.count == 3, parts[1].first?.isUppercase == true else { return nil }
            return String(parts[2])
        }
        #expect(exported == ["markethub_plugin_entry_v1"], "\(exported)")
    }

    @Test("YAML switch to MassiveProvider: /api/market/aggs and live quotes work, and the key leaks nowhere")
    func endToEnd() async throws {
        let fake = try await RunningFake.start()
        let loader = ConfigurationLoader(environment: ["MASSIVE_API_KEY": testKey])
        let configuration = try loader.parse(Self.yaml(fake), sourcePath: Self.buildDirectory + "/e2e.yaml")
        let logs = LogLines()
        let clock = ManualClock(wallNanoseconds: Self.mondayMorning * 1_000_000)
        let runtime = try HostRuntime(configuration: configuration, clock: clock, logger: logs.logger("host"))
        for entry in runtime.instances { try await entry.instance.startAsync() }

        let aggs = await runtime.core.handle(HTTPRequest(method: "GET", path: "/api/market/aggs", query: "ticker=SPY"))
        let body = try JSONValue.parse(aggs.body)
        #expect(aggs.status == 200, "\(body.text.prefix(400))")
        let bars = try #require(body["bars"]?.array)
        #expect(bars.count > 200, "a year of daily bars from the fake: \(bars.count)")
        #expect(body["source"] == .string("provider"))
        let again = await runtime.core.handle(HTTPRequest(method: "GET", path: "/api/market/aggs", query: "ticker=SPY"))
        #expect(try JSONValue.parse(again.body)["source"] == .string("cache"))
        let aggsCalls = fake.server.requests.filter { $0.path.hasPrefix("/v2/aggs/") }
        #expect(!aggsCalls.isEmpty && aggsCalls.allSatisfy { $0.authorization == "bearer" })

        let output = CollectingOutput()
        let ack = await runtime.quoteRouter.subscribe(output: output, clientID: 1, arguments: .array([.string("SPY")]))
        #expect(ack[0]?["ok"] == .bool(true), "\(ack.text)")
        try await eventually("upstream subscription") { fake.server.subscriptions("stocks") == [["Q.SPY", "T.SPY"]] }
        fake.server.publish(
            feed: "stocks",
            events: [MassiveStreamTests.quote("SPY", t: Self.mondayMorning, bid: 601.5, q: 10)])
        try await eventually("a live quote reaches the room") {
            output.events.withLock { $0.contains { $0.room == "live:SPY" && $0.payload.contains("601.5") } }
        }
        #expect(runtime.quoteRouter.lastQuote("SPY")?.quote.bidPrice == 601.5)

        // A failed upstream call, to have an error text in the logs too.
        let missing = await runtime.provider.request(
            ProviderRequest(kind: .lastTrade, ticker: "NOPE"))
        #expect(missing.status == mh_status(MH_NOT_FOUND))

        let metrics = runtime.metrics.render()
        #expect(metrics.contains("markethub_massive_rest_requests_total"))
        for entry in runtime.instances.reversed() { await entry.instance.destroyAsync() }
        #expect(logs.all.contains { $0.contains("massive provider ready") }, "plugin logs are part of the scan")
        #expect(!logs.all.contains { $0.contains(testKey) }, "no log line carries the key")
        #expect(!metrics.contains(testKey))
        #expect(!missing.message.contains(testKey))
        #expect(!output.events.withLock { $0.contains { $0.payload.contains(testKey) } })
        await fake.stop()
    }
}

/// `markethub record` against the fake vendor, then the recording read back.
@Suite("markethub record", .serialized)
struct RecordCommandTests {
    @Test("records stream frames and REST answers without the key")
    func record() async throws {
        let executable = MassiveHostTests.buildDirectory + "/markethub"
        #expect(FileManager.default.fileExists(atPath: executable), "run swift build first")
        let fake = try await RunningFake.start()
        let directory = NSTemporaryDirectory() + "massive-record-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = directory + "/config.yaml"
        try MassiveHostTests.yaml(fake).write(toFile: config, atomically: true, encoding: .utf8)
        let out = directory + "/recorded.jsonl"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "record", "--config", config, "--out", out, "--duration", "3s", "--symbols", "SPY", "--aggregates",
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["MASSIVE_API_KEY"] = testKey
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        try await eventually("the recorder subscribed", seconds: 20) {
            fake.server.subscriptions("stocks").first?.contains("Q.SPY") == true
        }
        for index in 0..<5 {
            fake.server.publish(
                feed: "stocks",
                events: [MassiveStreamTests.quote("SPY", t: 1_765_206_000_000 + Int64(index), q: Int64(index))])
        }
        let output = await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            Thread {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }.start()
        }
        #expect(process.terminationStatus == 0, "\(output)")
        #expect(!output.contains(testKey))
        let text = try String(contentsOfFile: out, encoding: .utf8)
        #expect(!text.contains(testKey))
        let recording = try RecordingReader.read(path: out)
        let quotes = recording.entries.filter {
            if case .frame(_, let feed, let bytes) = $0 {
                feed == "stocks" && String(decoding: bytes, as: UTF8.self).contains("\"Q\"")
            } else {
                false
            }
        }
        #expect(quotes.count == 5)
        #expect(
            recording.entries.contains {
                if case .rest(let exchange) = $0 { exchange.path.contains("/range/1/day/") } else { false }
            })
        #expect(recording.header.symbols == ["SPY"])
        await fake.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
