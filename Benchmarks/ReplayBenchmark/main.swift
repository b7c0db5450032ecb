import Foundation
import Logging
import MarketCalendar
import MarketSynth
import MassiveWire
import PluginKit
import Recording
import ReplayEngine
import Synchronization

// Measures as-fast-as-possible replay: vendor frame decoding plus dispatch to a sink, on one core.
//
//   swift run -c release ReplayBenchmark [--underlyings SPY,QQQ,AAPL] [--date 2025-12-08] [--window 09:30-16:00]
//                                        [--records] [--file recording.jsonl] [--subscribe SPY,QQQ] [--sample]
//                                        [--rounds N]
//
// Times are the benchmark thread's CPU time (one core), so other work on the machine distorts them less (a VM's
// stolen time still shows).
// --records also converts every delivered batch into borrowed C records (what the plugin's sink bridge does).

/// Runs timers inline, in order, with a clock that only moves when told (here: never; speed 0 needs no time).
final class InlineScheduler: ReplayScheduler {
    let queue = Mutex<[@Sendable () -> Void]>([])
    var wallNanoseconds: Int64 { 0 }
    var monotonicNanoseconds: Int64 { 0 }

    func schedule(afterNanoseconds delay: Int64, _ action: @escaping @Sendable () -> Void) -> Bool {
        queue.withLock { $0.append(action) }
        return true
    }

    func drain() {
        while let next = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { next() }
    }
}

/// Counts what arrives; optionally builds the C records the plugin would hand to the host.
final class CountingSink: ReplaySink {
    let counts = Mutex<(quotes: Int, trades: Int, bars: Int, states: Int)>((0, 0, 0, 0))
    let records: Bool

    init(records: Bool) { self.records = records }

    func quotes(_ quotes: [Quote]) {
        if records { Records.withQuotes(quotes) { _, count in precondition(count == quotes.count) } }
        counts.withLock { $0.quotes += quotes.count }
    }

    func trades(_ trades: [Trade]) {
        if records { Records.withTrades(trades) { _, count in precondition(count == trades.count) } }
        counts.withLock { $0.trades += trades.count }
    }

    func bars(_ bars: [Bar]) {
        if records { Records.withBars(bars) { _, count in precondition(count == bars.count) } }
        counts.withLock { $0.bars += bars.count }
    }

    func state(_ state: StreamStateEvent) { counts.withLock { $0.states += 1 } }
    func subscriptionError(symbol: String, channels: Channels, status: Int32, message: String) {}
}

func option(_ name: String) -> String? {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

/// CPU time of the calling thread: the machine is shared, so wall time would measure the neighbours too.
func threadCPUSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = threadCPUSeconds()
    try body()
    return threadCPUSeconds() - start
}

let underlyings = (option("--underlyings") ?? "SPY,QQQ,AAPL").split(separator: ",").map(String.init)
let date = CivilDate(option("--date") ?? "2025-12-08") ?? CivilDate(daysSinceEpoch: 20_430)
let window = (option("--window") ?? "04:00-20:00").split(separator: "-").map { part -> Int in
    let pieces = part.split(separator: ":").compactMap { Int($0) }
    return pieces.count == 2 ? pieces[0] * 60 + pieces[1] : 0
}
let withRecords = CommandLine.arguments.contains("--records")

var loaded: Recording?
if let path = option("--file") {
    let elapsed = try seconds { loaded = try RecordingReader.read(path: path) }
    print("read \(path) in \(String(format: "%.2f", elapsed)) s")
} else {
    var session: SynthSession?
    let elapsed = try seconds {
        session = try MarketSynth.generate(
            SynthConfiguration(
                underlyings: underlyings, date: date, seed: 1, startMinute: window.first ?? 240,
                endMinute: window.last ?? 1_200))
    }
    guard let session else { fatalError("generation produced nothing") }
    loaded = session.recording
    print(
        "generated \(underlyings.joined(separator: ",")) \(date) in \(String(format: "%.2f", elapsed)) s: "
            + "\(session.frames.count) frames, \(session.contracts.values.reduce(0) { $0 + $1.count }) contracts")
}

guard let recording = loaded else { fatalError("no recording") }

if CommandLine.arguments.contains("--sample") {
    // A few decoded quotes around 10:00 New York and a slice of the SPY chain, for eyeballing realism.
    let decoder = FrameDecoder()
    let ten = EasternTime.utcMilliseconds(date: date, hour: 10)
    var shown: [String: Int] = [:]
    for entry in recording.entries {
        guard case .frame(let at, _, let bytes) = entry, at >= ten else { continue }
        for event in decoder.decode(bytes).events {
            guard case .quote(let quote) = event else { continue }
            let key = quote.symbol.hasPrefix("O:") ? "option" : quote.symbol
            guard shown[key, default: 0] < (key == "option" ? 6 : 1) else { continue }
            shown[key, default: 0] += 1
            print(
                "quote \(quote.symbol) \(quote.bidPrice) x \(quote.askPrice)  sizes \(Int(quote.bidSize))/\(Int(quote.askSize))"
            )
        }
        if shown.values.reduce(0, +) >= underlyings.count + 6 { break }
    }
    for entry in recording.entries {
        guard case .rest(let exchange) = entry, exchange.path == "/v3/snapshot/options/\(underlyings[0])",
            let chain = try? MassiveREST.chainSnapshot(exchange.body, underlying: underlyings[0])
        else { continue }
        let price = chain.document.underlyingPrice ?? 0
        let expiry = chain.document.contracts.map(\.expiration).min() ?? ""
        print("chain \(underlyings[0]) @ \(price), expiration \(expiry) (strike type bid ask iv delta):")
        let near = chain.document.contracts.filter {
            $0.expiration == expiry && abs($0.strike - price) <= price * 0.012
        }
        for contract in near.sorted(by: { ($0.strike, $0.right.rawValue) < ($1.strike, $1.right.rawValue) }) {
            let iv = contract.impliedVolatility.map { String(format: "%.3f", $0) } ?? "-"
            let delta = contract.delta.map { String(format: "%+.3f", $0) } ?? "-"
            print(
                "  \(contract.strike) \(contract.right.rawValue) \(contract.bid ?? .nan) \(contract.ask ?? .nan) \(iv) \(delta)"
            )
        }
    }
    exit(0)
}
let frames: [[UInt8]] = recording.entries.compactMap { entry in
    if case .frame(_, _, let bytes) = entry { bytes } else { nil }
}
let fast = FrameDecoder()
let general = FrameDecoder(usesFastPath: false)

/// Decodes every frame once; returns the CPU seconds and the number of events.
func decodeAll(_ decoder: FrameDecoder) -> (seconds: Double, events: Int) {
    var symbols = SymbolTable()
    var events = 0
    let elapsed = seconds {
        for frame in frames {
            _ = frame.withUnsafeBufferPointer { decoder.decode($0, symbols: &symbols) { _, _ in events += 1 } }
        }
    }
    return (elapsed, events)
}

let configuration = {
    var configuration = ReplayConfiguration()
    configuration.speed = 0
    return configuration
}()
// Default: every symbol on every channel (the most dispatch work); --subscribe SPY,QQQ narrows it.
let subscribed = option("--subscribe").map { $0.split(separator: ",").map(String.init) } ?? recording.header.symbols

/// Replays the whole recording as fast as possible; returns the CPU seconds and the events delivered.
func replayAll() throws -> (seconds: Double, delivered: Int) {
    let scheduler = InlineScheduler()
    let sink = CountingSink(records: withRecords)
    let engine = ReplayEngine(
        recording: recording, configuration: configuration, scheduler: scheduler, sink: sink,
        logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
    try engine.subscribe(subscribed, channels: .all)
    let elapsed = seconds {
        engine.start()
        scheduler.drain()
    }
    let counts = sink.counts.withLock { $0 }
    return (elapsed, counts.quotes + counts.trades + counts.bars)
}

// The three measurements alternate within each round, so a slow spell on this shared machine hits all of them
// alike; the best round is the figure least disturbed by neighbours, the median shows the spread.
let rounds = max(1, Int(option("--rounds") ?? "7") ?? 7)
var generalTimes: [Double] = []
var decodeTimes: [Double] = []
var replayTimes: [Double] = []
var events = 0
var delivered = 0
for _ in 0..<rounds {
    generalTimes.append(decodeAll(general).seconds)
    let decoded = decodeAll(fast)
    decodeTimes.append(decoded.seconds)
    events = decoded.events
    let replayed = try replayAll()
    replayTimes.append(replayed.seconds)
    delivered = replayed.delivered
}

func report(_ label: String, _ times: [Double], count: Int, unit: String) {
    let sorted = times.sorted()
    let best = sorted[0]
    let median = sorted[sorted.count / 2]
    print(
        "\(label): \(frames.count) frames, \(count) \(unit) -> best \(Int(Double(frames.count) / best)) frames/s "
            + "(\(Int(Double(count) / best)) \(unit)/s), median \(Int(Double(frames.count) / median)) frames/s "
            + "over \(times.count) rounds")
}
report("decode only, general reader", generalTimes, count: events, unit: "events")
report("decode only (fast reader on)", decodeTimes, count: events, unit: "events")
report(
    "replay, \(subscribed.count) symbols subscribed (decode + filter + stream state + dispatch"
        + "\(withRecords ? " + C records" : ""))", replayTimes, count: delivered, unit: "events delivered")
print(
    "ratios (best): fast/general decode \(String(format: "%.2f", generalTimes.min()! / decodeTimes.min()!))x, "
        + "replay/decode \(String(format: "%.2f", decodeTimes.min()! / replayTimes.min()!))")
