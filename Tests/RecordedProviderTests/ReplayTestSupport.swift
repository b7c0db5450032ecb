import Logging
import MarketCalendar
import MassiveWire
import PluginAPI
import PluginKit
import Recording
import ReplayEngine
import Synchronization

/// A clock and timer queue that only moves when the test says so. Timers due at the same instant run in the
/// order they were scheduled, so runs are reproducible.
final class ManualScheduler: ReplayScheduler {
    struct Timer {
        let due: Int64
        let order: UInt64
        let action: @Sendable () -> Void
    }

    struct State {
        var now: Int64 = 0
        var wall: Int64
        var timers: [Timer] = []
        var order: UInt64 = 0
        var refuse = false
    }

    let state: Mutex<State>

    init(wallMilliseconds: Int64) { state = Mutex(State(wall: wallMilliseconds * 1_000_000)) }

    var wallNanoseconds: Int64 { state.withLock { $0.wall + $0.now } }
    var monotonicNanoseconds: Int64 { state.withLock { $0.now } }

    func schedule(afterNanoseconds delay: Int64, _ action: @escaping @Sendable () -> Void) -> Bool {
        state.withLock { state in
            guard !state.refuse else { return false }
            state.order += 1
            state.timers.append(Timer(due: state.now + max(0, delay), order: state.order, action: action))
            return true
        }
    }

    var pendingTimers: Int { state.withLock { $0.timers.count } }

    /// Moves time forward by `nanoseconds`, running every timer that falls due on the way, in order.
    func advance(by nanoseconds: Int64) {
        let end = state.withLock { $0.now + nanoseconds }
        for _ in 0..<1_000_000 {
            let next = state.withLock { state -> Timer? in
                guard
                    let index = state.timers.indices.min(by: {
                        (state.timers[$0].due, state.timers[$0].order) < (state.timers[$1].due, state.timers[$1].order)
                    }), state.timers[index].due <= end
                else { return nil }
                let timer = state.timers.remove(at: index)
                state.now = max(state.now, timer.due)
                return timer
            }
            guard let next else { break }
            next.action()
        }
        state.withLock { $0.now = end }
    }

    /// Runs the earliest timer (moving time to it), if any.
    func runNextTimer() {
        let next = state.withLock { state -> Timer? in
            guard
                let index = state.timers.indices.min(by: {
                    (state.timers[$0].due, state.timers[$0].order) < (state.timers[$1].due, state.timers[$1].order)
                })
            else { return nil }
            let timer = state.timers.remove(at: index)
            state.now = max(state.now, timer.due)
            return timer
        }
        next?.action()
    }

    /// Runs timers until none is left (bounded so a bug cannot spin forever).
    func runUntilIdle(maximumSteps: Int = 1_000_000) {
        for _ in 0..<maximumSteps {
            let due = state.withLock { $0.timers.map(\.due).min() }
            guard let due else { return }
            advance(by: max(0, due - monotonicNanoseconds))
        }
    }
}

/// Records every sink call as one canonical text line, so runs can be compared and hashed.
final class CollectingSink: ReplaySink {
    let lines = Mutex<[String]>([])
    let quotes = Mutex<[Quote]>([])
    let trades = Mutex<[Trade]>([])
    let bars = Mutex<[Bar]>([])
    let states = Mutex<[StreamStateEvent]>([])
    let subscriptionErrors = Mutex<[(String, mh_status)]>([])

    func quotes(_ batch: [Quote]) {
        quotes.withLock { $0.append(contentsOf: batch) }
        lines.withLock {
            $0.append(
                "Q "
                    + batch.map {
                        "\($0.symbol)@\($0.timestampNanoseconds):\($0.bidPrice)/\($0.askPrice)x\($0.bidSize)/\($0.askSize)#\($0.sequence)"
                    }
                    .joined(separator: ","))
        }
    }

    func trades(_ batch: [Trade]) {
        trades.withLock { $0.append(contentsOf: batch) }
        lines.withLock {
            $0.append(
                "T "
                    + batch.map { "\($0.symbol)@\($0.timestampNanoseconds):\($0.price)x\($0.size)#\($0.sequence)" }
                    .joined(separator: ","))
        }
    }

    func bars(_ batch: [Bar]) {
        bars.withLock { $0.append(contentsOf: batch) }
        lines.withLock {
            $0.append(
                "B "
                    + batch.map {
                        "\($0.symbol)/\($0.timespan.name)@\($0.startMilliseconds):\($0.open),\($0.high),\($0.low),\($0.close),\($0.volume)"
                    }
                    .joined(separator: ","))
        }
    }

    func state(_ state: StreamStateEvent) {
        states.withLock { $0.append(state) }
        lines.withLock {
            $0.append(
                "S \(state.kind) \(state.feed) \(state.reason) \(state.gapFromMilliseconds)-\(state.gapToMilliseconds)")
        }
    }

    func subscriptionError(symbol: String, channels: Channels, status: mh_status, message: String) {
        subscriptionErrors.withLock { $0.append((symbol, status)) }
        lines.withLock { $0.append("E \(symbol) \(channels.rawValue) \(status) \(message)") }
    }

    /// FNV-1a over every line, in order.
    var digest: UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for line in lines.withLock({ $0 }) {
            for byte in line.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01B3
            }
            hash ^= 0x0A
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}

/// A silent logger for engines under test.
let quietLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

/// A small but complete recording: SPY and one SPY call, quotes/trades/aggregates over 10 seconds from
/// 2025-12-08 09:30 New York (a Monday), plus REST answers.
enum SampleRecording {
    static let date = CivilDate("2025-12-08")!
    static let open = EasternTime.utcMilliseconds(date: date, hour: 9, minute: 30)
    static let option = "O:SPY251219C00650000"

    static func text(extraLines: [String] = []) -> String {
        let header = RecordingHeader(
            createdAt: "2025-12-08T15:00:00Z", source: "test", symbols: ["SPY", option],
            startMilliseconds: open, endMilliseconds: open + 10_000, sessionDate: "2025-12-08")
        var text = RecordingLines.header(header)
        var sequence: Int64 = 0
        for second in 0..<10 {
            let t = open + Int64(second) * 1_000
            var encoder = FrameEncoder()
            sequence += 1
            let price = 600 + Double(second) * 0.1
            encoder.append(
                Quote(
                    symbol: "SPY", timestampNanoseconds: t * 1_000_000, bidPrice: price - 0.01, askPrice: price + 0.01,
                    bidSize: 300, askSize: 400, bidExchange: 11, askExchange: 19, sequence: sequence))
            encoder.append(
                Trade(
                    symbol: "SPY", timestampNanoseconds: (t + 500) * 1_000_000, price: price, size: 100, exchange: 4,
                    sequence: sequence))
            text += RecordingLines.frame(atMilliseconds: t + 1, feed: "stocks", frame: Array(encoder.take().utf8))
            encoder.append(
                Quote(
                    symbol: option, timestampNanoseconds: (t + 200) * 1_000_000, bidPrice: 10 + Double(second) * 0.05,
                    askPrice: 10.2 + Double(second) * 0.05, bidSize: 10, askSize: 12, bidExchange: 302,
                    askExchange: 313,
                    sequence: sequence))
            text += RecordingLines.frame(atMilliseconds: t + 201, feed: "options", frame: Array(encoder.take().utf8))
            encoder.append(
                Bar(
                    symbol: "SPY", timespan: .second, multiplier: 1, startMilliseconds: t, endMilliseconds: t + 1_000,
                    open: price, high: price, low: price, close: price, volume: 100, vwap: price),
                day: AggregateDayFields(
                    accumulatedVolume: Double(100 * (second + 1)), dayOpen: 600, dayVWAP: 600, averageSize: 100))
            text += RecordingLines.frame(atMilliseconds: t + 1_001, feed: "stocks", frame: Array(encoder.take().utf8))
        }
        // A year-ish of daily bars would be long; three sessions are enough to test mapping and folding.
        let daily =
            #"{"ticker":"SPY","queryCount":3,"resultsCount":3,"adjusted":true,"results":["#
            + [("2025-12-04", 598.0), ("2025-12-05", 599.0), ("2025-12-08", 601.0)].map { day, close in
                #"{"v":1000,"vw":\#(close),"o":\#(close - 1),"c":\#(close),"h":\#(close + 1),"l":\#(close - 2),"t":\#(EasternTime.midnight(of: CivilDate(day)!)),"n":10}"#
            }.joined(separator: ",") + #"],"status":"OK","request_id":"r1"}"#
        text += RecordingLines.rest(
            RESTExchange(
                atMilliseconds: open, path: "/v2/aggs/ticker/SPY/range/1/day/2025-12-04/2025-12-08",
                body: Array(daily.utf8)))
        let minutes =
            #"{"ticker":"SPY","results":["#
            + (0..<10).map { minute in
                #"{"v":100,"vw":600,"o":600,"c":60\#(minute % 10).5,"h":609,"l":599,"t":\#(open + Int64(minute) * 60_000),"n":5}"#
            }.joined(separator: ",") + #"],"status":"OK"}"#
        text += RecordingLines.rest(
            RESTExchange(
                atMilliseconds: open, path: "/v2/aggs/ticker/SPY/range/1/minute/2025-12-08/2025-12-08",
                body: Array(minutes.utf8)))
        let chain =
            #"{"status":"OK","results":[{"break_even_price":660,"implied_volatility":0.2,"open_interest":100,"day":{"close":10.1,"volume":5},"details":{"contract_type":"call","exercise_style":"american","expiration_date":"2025-12-19","shares_per_contract":100,"strike_price":650,"ticker":"O:SPY251219C00650000"},"greeks":{"delta":0.4,"gamma":0.01,"theta":-0.2,"vega":0.3},"underlying_asset":{"ticker":"SPY","price":600}},{"break_even_price":640,"open_interest":50,"day":{"close":3},"details":{"contract_type":"put","exercise_style":"american","expiration_date":"2025-12-19","shares_per_contract":100,"strike_price":590,"ticker":"O:SPY251219P00590000"},"underlying_asset":{"ticker":"SPY","price":600}}]}"#
        text += RecordingLines.rest(
            RESTExchange(atMilliseconds: open, path: "/v3/snapshot/options/SPY", body: Array(chain.utf8)))
        text += RecordingLines.rest(
            RESTExchange(
                atMilliseconds: open, path: "/v3/snapshot/options/QQQ", status: 403,
                body: Array(#"{"status":"NOT_AUTHORIZED","message":"You are not entitled to this data."}"#.utf8)))
        for line in extraLines { text += line + "\n" }
        return text
    }

    static func recording(extraLines: [String] = []) throws -> Recording {
        try RecordingReader.read(Array(text(extraLines: extraLines).utf8))
    }
}

/// Builds an engine over the sample recording with a manual clock at the recording's own wall time.
func makeEngine(
    _ recording: Recording, speed: Double = 1, loop: Bool = false, faults: FaultScript = FaultScript(),
    timeShift: ReplayConfiguration.Shift = .none, wallMilliseconds: Int64 = SampleRecording.open
) -> (ReplayEngine, ManualScheduler, CollectingSink) {
    var configuration = ReplayConfiguration()
    configuration.source = .file
    configuration.speed = speed
    configuration.loop = loop
    configuration.timeShift = timeShift
    let scheduler = ManualScheduler(wallMilliseconds: wallMilliseconds)
    let sink = CollectingSink()
    let engine = ReplayEngine(
        recording: recording, configuration: configuration, extraFaults: faults, scheduler: scheduler, sink: sink,
        logger: quietLogger)
    return (engine, scheduler, sink)
}

/// Runs a look-up and returns its result (the engine completes synchronously unless latency is scripted).
func lookup(_ engine: ReplayEngine, _ request: LookupRequest) throws -> OperationResult {
    let box = Mutex<OperationResult?>(nil)
    try engine.request(request) { result in box.withLock { $0 = result } }
    guard let result = box.withLock({ $0 }) else { throw PluginError.internalError("no synchronous completion") }
    return result
}
