import Foundation
import Host
import Logging
import PluginKit
import Synchronization

// Quote-router throughput: quotes routed to rooms per second on one core. The router gets provider-sized batches
// on one thread (as the provider's sink delivers them); each accepted quote is checked, stored, encoded once and
// published to its room on a transport stand-in that only counts (the transport's own fan-out cost is measured
// by socketio-fanout-bench).
//
//   swift run -c release RouterBenchmark [--symbols 1000] [--clients 2] [--batch 100] [--quotes 2000000]

struct Options {
    var symbols = 1_000
    var clients = 2
    var batch = 100
    var quotes = 2_000_000

    init(_ arguments: [String]) {
        var index = 0
        while index + 1 < arguments.count {
            let value = Int(arguments[index + 1]) ?? 0
            switch arguments[index] {
            case "--symbols": symbols = max(1, value)
            case "--clients": clients = max(1, value)
            case "--batch": batch = max(1, value)
            case "--quotes": quotes = max(1, value)
            default: break
            }
            index += 2
        }
    }
}

final class NoUpstream: UpstreamSubscriptions {
    func subscribe(_ symbols: [String], channels: Channels) throws(PluginError) {}
    func unsubscribe(_ symbols: [String], channels: Channels) throws(PluginError) {}
}

/// Counts what the router publishes; does no I/O.
final class CountingOutput: LiveOutput {
    let published = Atomic<Int>(0)
    let bytes = Atomic<Int>(0)

    func publish(room: String, event: String, payload: [UInt8], conflationKey: String) -> PluginError? {
        published.add(1, ordering: .relaxed)
        bytes.add(payload.count, ordering: .relaxed)
        return nil
    }

    func send(clientID: UInt64, event: String, payload: [UInt8]) -> PluginError? { nil }
    func join(clientID: UInt64, room: String) -> PluginError? { nil }
    func leave(clientID: UInt64, room: String) -> PluginError? { nil }
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
var limits = QuoteRouter.Limits()
limits.maximumSubscriptionsPerClient = options.symbols
limits.maximumOptionQuoteSubscriptions = options.symbols
let router = QuoteRouter(
    upstream: NoUpstream(), clock: SystemClock(), logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() },
    metrics: MetricsRegistry(), limits: limits)
let output = CountingOutput()
// Option contracts around SPY's money, as a chain screen subscribes them.
let symbols = (0..<options.symbols).map { index -> String in
    let strike = 500_000 + (index / 2) * 1_000
    let digits = String(strike)
    return "O:SPY251219" + (index % 2 == 0 ? "C" : "P") + String(repeating: "0", count: 8 - digits.count) + digits
}
for client in 0..<options.clients {
    for symbol in symbols {
        _ = await router.subscribe(output: output, clientID: UInt64(client + 1), arguments: .array([.string(symbol)]))
    }
}
// Batches built up front so only routing is timed; warm-up quotes come first in sequence, so the timed ones are
// all newer and none is dropped as out of order.
/// `count` quotes cycling over `symbols`, with sequences after `first`.
func makeBatches(_ count: Int, symbols: [String], batchSize: Int, firstSequence first: Int64) -> [[Quote]] {
    var batches: [[Quote]] = []
    var produced = 0
    var sequence = first
    while produced < count {
        var batch: [Quote] = []
        batch.reserveCapacity(batchSize)
        for _ in 0..<min(batchSize, count - produced) {
            sequence += 1
            let bid = 10 + Double(sequence % 500) / 100
            batch.append(
                Quote(
                    symbol: symbols[produced % symbols.count],
                    timestampNanoseconds: 1_765_000_000_000_000_000 + sequence, bidPrice: bid, askPrice: bid + 0.05,
                    bidSize: 12, askSize: 30, bidExchange: 301, askExchange: 302, sequence: sequence))
            produced += 1
        }
        batches.append(batch)
    }
    return batches
}
let warmUp = min(options.quotes, 20_000)
for batch in makeBatches(warmUp, symbols: symbols, batchSize: options.batch, firstSequence: 0) {
    router.receive(quotes: batch)
}
output.published.store(0, ordering: .relaxed)
output.bytes.store(0, ordering: .relaxed)
let batches = makeBatches(
    options.quotes, symbols: symbols, batchSize: options.batch, firstSequence: Int64(warmUp))
let started = ContinuousClock.now
for batch in batches { router.receive(quotes: batch) }
let elapsed = ContinuousClock.now - started
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
let published = output.published.load(ordering: .relaxed)
print("quote router: \(options.symbols) symbols x \(options.clients) clients, batches of \(options.batch)")
print(String(format: "  quotes routed:   %d in %.3f s", options.quotes, seconds))
print(
    String(
        format: "  throughput:      %.0f quotes/s (%.0f ns/quote) on one core", Double(options.quotes) / seconds,
        seconds * 1e9 / Double(options.quotes)))
print(
    String(
        format: "  room publishes:  %d (%.1f MB of payload encoded)", published,
        Double(output.bytes.load(ordering: .relaxed)) / 1e6))
