import Foundation
import Host
import Logging
import PluginKit

// Bulk upsert and range-read throughput of every cache plugin, side by side, through the host's cache
// wrapper (the C ABI, as the host uses it). Not a test: the figures depend on the machine and its load.
//
//   cache-bench --plugins DIR [--mongo-uri URI] [--bars N] [--batch N] [--reads N] [--window N]
//
// Each cache gets the same work: N minute bars of one series written in batches (insert), the same bars
// written again (update), then `reads` range reads of `window` bars at pseudo-random offsets.

struct Options {
    var pluginDirectory = ""
    var mongoURI: String?
    var bars = 10_000
    var batch = 1_000
    var reads = 200
    var window = 390

    init(_ arguments: [String]) throws {
        var rest = arguments[...]
        func value(_ name: String) throws -> String {
            guard let value = rest.popFirst() else { throw BenchmarkError("\(name) needs a value") }
            return value
        }
        func number(_ name: String) throws -> Int {
            let text = try value(name)
            guard let number = Int(text), number > 0 else { throw BenchmarkError("\(name) must be a positive integer") }
            return number
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--plugins": pluginDirectory = try value(argument)
            case "--mongo-uri": mongoURI = try value(argument)
            case "--bars": bars = try number(argument)
            case "--batch": batch = try number(argument)
            case "--reads": reads = try number(argument)
            case "--window": window = try number(argument)
            default: throw BenchmarkError("unknown argument \(argument)")
            }
        }
        guard !pluginDirectory.isEmpty else { throw BenchmarkError("--plugins DIR is required") }
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

struct Figures {
    var name: String
    var insertPerSecond: Double
    var updatePerSecond: Double
    var readsPerSecond: Double
    var barsReadPerSecond: Double
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func measure(name: String, plugin: String, config: JSONValue, options: Options) async throws -> Figures {
    let loaded = try PluginLoader.load(
        path: options.pluginDirectory + "/lib\(plugin).so", plugin: plugin, expectedKind: .cache)
    var logger = Logger(label: "cache-bench")
    logger.logLevel = .warning
    let cache = try CachePlugin(
        plugin: loaded, config: config, slot: "cache", clock: SystemClock(), logger: logger, metrics: MetricsRegistry()
    )
    try await cache.startAsync()
    let origin: Int64 = 1_741_359_600_000
    let symbol = "O:SPY250321C00570000"
    let bars = (0..<options.bars).map { index in
        Bar(
            symbol: symbol, timespan: .minute, multiplier: 1, startMilliseconds: origin + Int64(index) * 60_000,
            endMilliseconds: origin + Int64(index + 1) * 60_000, open: 1, high: 2, low: 0.5, close: 1.5,
            volume: Double(index), vwap: 1.2, transactions: 7, source: "bench")
    }
    let clock = ContinuousClock()
    func write() async throws -> Double {
        let started = clock.now
        for start in stride(from: 0, to: bars.count, by: options.batch) {
            let result = await cache.putBars(Array(bars[start..<min(start + options.batch, bars.count)]))
            guard result.isOK else { throw BenchmarkError("\(name) put_bars failed: \(result.message)") }
        }
        return Double(bars.count) / seconds(clock.now - started)
    }
    let insert = try await write()
    let update = try await write()
    var generator = SystemRandomNumberGenerator()
    let lastStart = max(0, options.bars - options.window)
    var barsRead = 0
    let started = clock.now
    for _ in 0..<options.reads {
        let offset = Int.random(in: 0...lastStart, using: &generator)
        let from = origin + Int64(offset) * 60_000
        let result = await cache.getBars(
            BarQuery(
                ticker: symbol, timespan: .minute, multiplier: 1, fromMilliseconds: from,
                toMilliseconds: from + Int64(options.window - 1) * 60_000))
        guard result.isOK else { throw BenchmarkError("\(name) get_bars failed: \(result.message)") }
        barsRead += result.bars.count
    }
    let elapsed = seconds(clock.now - started)
    await cache.destroyAsync()
    return Figures(
        name: name, insertPerSecond: insert, updatePerSecond: update, readsPerSecond: Double(options.reads) / elapsed,
        barsReadPerSecond: Double(barsRead) / elapsed)
}

func column(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
}

func format(_ value: Double) -> String { String(format: "%.0f", value) }

do {
    let options = try Options(Array(CommandLine.arguments.dropFirst()))
    let directory = NSTemporaryDirectory() + "cache-bench-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var runs: [(String, String, JSONValue)] = [
        ("MemoryCache", "MemoryCache", .object([])),
        ("EmbeddedCache (SQLite)", "EmbeddedCache", .object([("path", .string(directory + "/bench.sqlite"))])),
    ]
    if let uri = options.mongoURI {
        runs.append(("MongoCache", "MongoCache", .object([("uri", .string(uri))])))
    } else {
        print("(no --mongo-uri: MongoCache skipped)")
    }
    print(
        "bars=\(options.bars) batch=\(options.batch) reads=\(options.reads) window=\(options.window) "
            + "(one series of minute bars; rates per second)")
    print(
        [
            column("cache", 24), column("insert bars/s", 14), column("update bars/s", 14), column("reads/s", 10),
            column("bars read/s", 13),
        ].joined(separator: " "))
    for (name, plugin, config) in runs {
        let figures = try await measure(name: name, plugin: plugin, config: config, options: options)
        print(
            [
                column(figures.name, 24), column(format(figures.insertPerSecond), 14),
                column(format(figures.updatePerSecond), 14), column(format(figures.readsPerSecond), 10),
                column(format(figures.barsReadPerSecond), 13),
            ].joined(separator: " "))
    }
} catch {
    FileHandle.standardError.write(Data("cache-bench: \(error)\n".utf8))
    exit(1)
}
