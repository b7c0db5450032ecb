import Foundation
import Host
import MarketCalendar
import PluginKit

// Candle folding throughput: per-second aggregates (with a per-minute bar closing each minute, 1% of seconds
// late by up to 5 s and 0.5% sent twice) folded into the chart hub's CandleSeries, on one core.
//
//   swift run -c release ChartBenchmark [--timeframe 5m] [--days 20] [--rounds 5] [--extended]
//
// Time is the benchmark thread's CPU time, so other work on the machine does not distort it. Events are
// generated before timing; the figure is events folded per CPU second (each event is one streamed bar).

func threadCPUSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

var timeframeLabel = "5m"
var days = 20
var rounds = 5
var extended = false
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--timeframe": timeframeLabel = arguments.next() ?? timeframeLabel
    case "--days": days = Int(arguments.next() ?? "") ?? days
    case "--rounds": rounds = Int(arguments.next() ?? "") ?? rounds
    case "--extended": extended = true
    default:
        FileHandle.standardError.write(Data("unknown argument \(argument)\n".utf8))
        exit(2)
    }
}
guard let timeframe = ChartTimeframe(timeframeLabel), timeframe.streams else {
    FileHandle.standardError.write(Data("--timeframe must be 1m, 5m, 15m or 30m\n".utf8))
    exit(2)
}

/// A deterministic session stream: prices walk by a small xorshift generator.
func makeEvents(days: Int) -> [Bar] {
    var events: [Bar] = []
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next() -> Double {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return Double(state % 10_000) / 10_000
    }
    var price = 600.0
    var day = CivilDate(year: 2025, month: 3, day: 3)!
    var generated = 0
    while generated < days {
        defer { day = day.adding(days: 1) }
        guard let session = MarketCalendar.nyse.tradingDay(day) else { continue }
        generated += 1
        var second = session.regularOpen
        var pendingLate: [Bar] = []
        var minute = Bar(
            symbol: "SPY", timespan: .minute, multiplier: 1, startMilliseconds: second, open: price, high: price,
            low: price, close: price, volume: 0)
        while second < session.regularClose {
            let move = (next() - 0.5) * 0.1
            let open = price
            price += move
            let bar = Bar(
                symbol: "SPY", timespan: .second, multiplier: 1, startMilliseconds: second, open: open,
                high: max(open, price) + 0.01, low: min(open, price) - 0.01, close: price, volume: 100 + next() * 900,
                vwap: (open + price) / 2, transactions: 3)
            let roll = next()
            if roll < 0.01 {
                pendingLate.append(bar)
            } else {
                events.append(bar)
                if roll > 0.995 { events.append(bar) }
            }
            if next() < 0.2, !pendingLate.isEmpty { events.append(pendingLate.removeFirst()) }
            minute.high = max(minute.high, bar.high)
            minute.low = min(minute.low, bar.low)
            minute.close = bar.close
            minute.volume += bar.volume
            second += 1_000
            if second % 60_000 == 0 {
                events.append(contentsOf: pendingLate)
                pendingLate.removeAll()
                events.append(minute)
                minute = Bar(
                    symbol: "SPY", timespan: .minute, multiplier: 1, startMilliseconds: second, open: price,
                    high: price, low: price, close: price, volume: 0)
            }
        }
    }
    return events
}

let events = makeEvents(days: days)
var best = 0.0
var total = 0.0
var candles = 0
for round in 1...rounds {
    var series = CandleSeries(ticker: "SPY", timeframe: timeframe, extended: extended, capacity: 100_000)
    var changedCandles = 0
    let started = threadCPUSeconds()
    for (index, event) in events.enumerated() {
        series.apply(event)
        // Like the hub: collect what changed once per stream batch (here every 50 events).
        if index % 50 == 49 { changedCandles += series.takeChanged().count }
    }
    let elapsed = threadCPUSeconds() - started
    let rate = Double(events.count) / elapsed
    best = max(best, rate)
    total += rate
    candles = series.candles.count
    print(
        "round \(round): \(events.count) events in \(String(format: "%.3f", elapsed)) s CPU = "
            + "\(String(format: "%.2f", rate / 1e6))M events/s (\(changedCandles) candle updates, "
            + "\(series.detailMinutes) minutes of detail kept)")
}
print(
    "candle folding \(timeframe) \(extended ? "extended" : "regular"): \(events.count) events, \(candles) candles; "
        + "best \(String(format: "%.2f", best / 1e6))M events/s, mean \(String(format: "%.2f", total / Double(rounds) / 1e6))M "
        + "events/s on one core (target >= 5M)")
