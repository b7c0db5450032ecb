import Foundation
import MarketCalendar
import MassiveWire
import PluginKit
import Recording

/// Builds one-second/one-minute aggregates from trades, with the day fields the vendor's `A`/`AM` carry.
struct AggregateBuilder {
    let symbol: String
    let timespan: Timespan
    var current: Bar?
    var weighted = 0.0
    var count = 0
    var dayVolume = 0.0
    var dayWeighted = 0.0
    var dayOpen: Double?
    var finished: [(Bar, AggregateDayFields)] = []

    init(symbol: String, timespan: Timespan) {
        self.symbol = symbol
        self.timespan = timespan
    }

    mutating func add(price: Double, size: Double, atMilliseconds: Int64) {
        let width = timespan.fixedMilliseconds ?? 1_000
        let start = atMilliseconds - atMilliseconds % width
        if let bar = current, bar.startMilliseconds != start { close() }
        dayOpen = dayOpen ?? price
        dayVolume += size
        dayWeighted += price * size
        if var bar = current {
            bar.high = max(bar.high, price)
            bar.low = min(bar.low, price)
            bar.close = price
            bar.volume += size
            weighted += price * size
            count += 1
            current = bar
        } else {
            current = Bar(
                symbol: symbol, timespan: timespan, multiplier: 1, startMilliseconds: start,
                endMilliseconds: start + width,
                open: price, high: price, low: price, close: price, volume: size, source: "synthetic")
            weighted = price * size
            count = 1
        }
    }

    mutating func close() {
        guard var bar = current else { return }
        bar.vwap = ((weighted / bar.volume) * 10_000).rounded() / 10_000
        bar.transactions = Int64(count)
        let day = AggregateDayFields(
            accumulatedVolume: dayVolume, dayOpen: dayOpen ?? bar.open,
            dayVWAP: ((dayWeighted / dayVolume) * 10_000).rounded() / 10_000, averageSize: bar.volume / Double(count))
        finished.append((bar, day))
        current = nil
    }
}

/// Everything generated for one underlying.
struct UnderlyingOutput {
    var exchanges: [RESTExchange] = []
    var stockEvents: [(Int64, String)] = []
    var optionEvents: [(Int64, String)] = []
    var contracts: [ContractReference] = []
    var tickerSnapshot: JSONValue = .null
}

/// One listed option and how busy it is.
struct ListedOption {
    let reference: ContractReference
    let ticker: OptionTicker
    let expiryClose: Int64
    let weight: Double
    /// Monthly (third-Friday) expirations are listed months ahead; weeklies about five weeks ahead.
    let monthly: Bool
}

struct UnderlyingGenerator {
    let profile: UnderlyingProfile
    let configuration: SynthConfiguration
    let day: TradingDay
    let start: Int64
    let end: Int64
    let calendar = MarketCalendar.nyse
    /// Underlying price at the start of every second of the window.
    var path: [Double] = []
    var previousClose = 0.0
    var history: [Bar] = []
    var output = UnderlyingOutput()

    init(profile: UnderlyingProfile, configuration: SynthConfiguration, day: TradingDay, start: Int64, end: Int64) {
        self.profile = profile
        self.configuration = configuration
        self.day = day
        self.start = start
        self.end = end
    }

    func random(_ label: String) -> SeededRandom {
        SeededRandom(seed: configuration.seed, label: "\(profile.symbol):\(label)")
    }

    static func cents(_ value: Double) -> Double { (value * 100).rounded() / 100 }

    /// Intraday activity: high at the open and close, low at midday; quiet outside the regular session.
    func activity(_ milliseconds: Int64) -> Double {
        if milliseconds < day.regularOpen { return 0.06 }
        if milliseconds >= day.regularClose { return 0.08 }
        let fraction = Double(milliseconds - day.regularOpen) / Double(day.regularClose - day.regularOpen)
        let u = 2 * fraction - 1
        return (0.7 + 1.8 * u * u) / 1.3
    }

    func price(at milliseconds: Int64) -> Double {
        let offset = max(0, min(Int64(path.count - 1) * 1_000, milliseconds - start))
        let second = Int(offset / 1_000)
        let fraction = Double(offset % 1_000) / 1_000
        let next = min(second + 1, path.count - 1)
        return path[second] + (path[next] - path[second]) * fraction
    }

    mutating func run() -> UnderlyingOutput {
        buildHistory()
        buildPath()
        let (trades, todayBar) = buildStock()
        buildOptions()
        buildREST(trades: trades, todayBar: todayBar)
        return output
    }

    // MARK: Prices

    /// A year of daily bars ending the session before, walking back from a previous close near the profile's level.
    mutating func buildHistory() {
        var rng = random("history")
        previousClose = Self.cents(profile.price * exp(0.01 * rng.normal()))
        let sigma = profile.annualVolatility / 252.0.squareRoot()
        var days: [TradingDay] = []
        var cursor = day.date
        for _ in 0..<configuration.historyDays {
            let previous = calendar.previousTradingDay(before: cursor)
            days.append(previous)
            cursor = previous.date
        }
        var close = previousClose
        var bars: [Bar] = []
        for tradingDay in days {
            let open = Self.cents(close * exp(-0.3 * sigma * rng.normal()))
            let high = Self.cents(max(open, close) * (1 + abs(rng.normal()) * sigma * 0.5))
            let low = Self.cents(min(open, close) * (1 - abs(rng.normal()) * sigma * 0.5))
            let volume = (profile.dailyVolume * exp(0.3 * rng.normal())).rounded()
            bars.append(
                Bar(
                    symbol: profile.symbol, timespan: .day, multiplier: 1,
                    startMilliseconds: EasternTime.midnight(of: tradingDay.date), open: open, high: high, low: low,
                    close: close, volume: volume, vwap: Self.cents((high + low + close) / 3),
                    transactions: Int64(volume / 180), source: "synthetic"))
            close = Self.cents(open * exp(0.0002 - sigma * 0.7 * rng.normal()))
        }
        history = bars.reversed()
    }

    /// The per-second path over the window: U-shaped volatility, an opening gap and occasional jumps.
    mutating func buildPath() {
        var rng = random("path")
        let seconds = Int((end - start) / 1_000) + 1
        let perSecond = profile.annualVolatility / (252.0 * 23_400).squareRoot()
        path = [previousClose * exp(0.002 * rng.normal())]
        path.reserveCapacity(seconds)
        for second in 1..<seconds {
            let at = start + Int64(second) * 1_000
            let regular = at > day.regularOpen && at <= day.regularClose
            var sigma = perSecond * (regular ? activity(at) : 0.35)
            if at == day.regularOpen + 1_000 { sigma += 0.003 }
            var step = sigma * rng.normal() - 0.5 * sigma * sigma
            if regular, rng.uniform() < 2.0 / 23_400 { step += 0.0035 * rng.normal() }
            path.append(path[second - 1] * exp(step))
        }
    }

    // MARK: Stock

    struct StockTrade {
        let at: Int64
        let price: Double
        let size: Double
    }

    mutating func buildStock() -> ([StockTrade], Bar?) {
        var rng = random("stock")
        var encoder = FrameEncoder()
        var seconds = AggregateBuilder(symbol: profile.symbol, timespan: .second)
        var minutes = AggregateBuilder(symbol: profile.symbol, timespan: .minute)
        var trades: [StockTrade] = []
        var bid = 0.0
        var ask = 0.0
        var sequence: Int64 = 0
        var tradeID = Int64(rng.next() % 1_000_000) * 1_000
        let exchanges: [Int32] = [4, 11, 12, 19, 10, 15, 21]
        // Arrival times never reorder one symbol's events: each arrives no earlier than the one before it.
        var arrival: Int64 = 0
        func arrive(_ at: Int64, _ rng: inout SeededRandom) -> Int64 {
            arrival = max(arrival, at + 1 + Int64(rng.uniform() * 3))
            return arrival
        }
        var second = start
        while second < end {
            let active = activity(second)
            let regular = second >= day.regularOpen && second < day.regularClose
            let spread = profile.spread * (regular ? 1 : 2)
            var times: [(Int64, Bool)] = []
            let quoteCount = rng.poisson(profile.quotesPerSecond * active)
            let tradeCount = rng.poisson(profile.tradesPerSecond * active)
            for _ in 0..<quoteCount { times.append((second + Int64(rng.uniform() * 1_000), true)) }
            for _ in 0..<tradeCount { times.append((second + Int64(rng.uniform() * 1_000), false)) }
            // The NBBO follows the price: a move of a cent or more publishes a quote at the second's start.
            let mid = price(at: second)
            let wantedBid = (((mid - spread / 2) * 100).rounded(.down)) / 100
            if abs(wantedBid - bid) >= 0.005 { times.append((second, true)) }
            times.sort { ($0.0, $0.1 ? 0 : 1) < ($1.0, $1.1 ? 0 : 1) }
            for (at, isQuote) in times where at < end {
                if isQuote || bid == 0 {
                    let mid = price(at: at)
                    bid = Self.cents(((mid - spread / 2) * 100).rounded(.down) / 100)
                    ask = Self.cents(bid + spread)
                    sequence += 1
                    let lots = regular ? 20.0 : 4.0
                    encoder.append(
                        Quote(
                            symbol: profile.symbol, timestampNanoseconds: at * 1_000_000, bidPrice: bid, askPrice: ask,
                            bidSize: 100 * (1 + (rng.uniform() * lots).rounded(.down)),
                            askSize: 100 * (1 + (rng.uniform() * lots).rounded(.down)),
                            bidExchange: rng.pick(exchanges),
                            askExchange: rng.pick(exchanges), sequence: sequence))
                    output.stockEvents.append((arrive(at, &rng), encoder.takeElements()[0]))
                    if isQuote { continue }
                }
                let side = rng.uniform()
                let price = side < 0.45 ? bid : side < 0.9 ? ask : ((bid + ask) / 2 * 1_000).rounded() / 1_000
                let oddLot = rng.uniform() < 0.22
                let size =
                    oddLot
                    ? Double(1 + Int(rng.uniform() * 99)) : 100 * Double(1 + min(30, Int(rng.exponential(rate: 0.8))))
                sequence += 1
                tradeID += 1 + Int64(rng.uniform() * 40)
                var conditions: [Int32] = []
                if !regular { conditions.append(12) }
                if oddLot { conditions.append(37) }
                encoder.append(
                    Trade(
                        symbol: profile.symbol, timestampNanoseconds: at * 1_000_000, price: price, size: size,
                        exchange: rng.pick(exchanges), conditions: conditions, sequence: sequence,
                        tradeID: String(tradeID)))
                output.stockEvents.append((arrive(at, &rng), encoder.takeElements()[0]))
                trades.append(StockTrade(at: at, price: price, size: size))
                seconds.add(price: price, size: size, atMilliseconds: at)
                minutes.add(price: price, size: size, atMilliseconds: at)
            }
            second += 1_000
        }
        seconds.close()
        minutes.close()
        for (bar, fields) in seconds.finished {
            encoder.append(bar, day: fields)
            output.stockEvents.append((bar.endMilliseconds + 40 + Int64(rng.uniform() * 60), encoder.takeElements()[0]))
        }
        for (bar, fields) in minutes.finished {
            encoder.append(bar, day: fields)
            output.stockEvents.append(
                (bar.endMilliseconds + 100 + Int64(rng.uniform() * 200), encoder.takeElements()[0]))
        }
        minuteBars = minutes.finished.map(\.0)
        guard let first = trades.first, let last = trades.last else { return (trades, nil) }
        let volume = trades.reduce(0) { $0 + $1.size }
        let today = Bar(
            symbol: profile.symbol, timespan: .day, multiplier: 1,
            startMilliseconds: EasternTime.midnight(of: day.date),
            open: first.price, high: trades.map(\.price).max() ?? first.price,
            low: trades.map(\.price).min() ?? first.price,
            close: last.price, volume: volume,
            vwap: (trades.reduce(0) { $0 + $1.price * $1.size } / volume * 10_000).rounded() / 10_000,
            transactions: Int64(trades.count), source: "synthetic")
        return (trades, today)
    }

    var minuteBars: [Bar] = []

    // MARK: Options

    /// Weekly expirations (the next four Fridays) and monthly ones (third Fridays of the next three months),
    /// moved to the Thursday when the Friday is a holiday.
    func expirations() -> [(CivilDate, monthly: Bool)] {
        func adjust(_ date: CivilDate) -> CivilDate {
            var date = date
            while !calendar.isTradingDay(date) { date = date.adding(days: -1) }
            return date
        }
        var dates: [CivilDate: Bool] = [:]
        var friday = day.date.adding(days: (5 - day.date.weekday + 7) % 7)
        for _ in 0..<4 {
            let expiry = adjust(friday)
            if expiry >= day.date, dates[expiry] == nil { dates[expiry] = false }
            friday = friday.adding(days: 7)
        }
        var year = day.date.year
        var month = day.date.month
        var monthlies = 0
        while monthlies < 3 {
            let third = CivilDateBridge.thirdFriday(year: year, month: month)
            let expiry = adjust(third)
            if expiry >= day.date {
                dates[expiry] = true
                monthlies += 1
            }
            month += 1
            if month > 12 {
                month = 1
                year += 1
            }
        }
        return dates.keys.sorted().map { ($0, dates[$0] ?? false) }
    }

    /// Strikes: fine steps within 4 % of the price, coarse steps out to 8 % (weeklies) or 20 % (monthlies).
    func strikes(around spot: Double, monthly: Bool) -> [Double] {
        let fine = profile.fineStrikeStep
        let coarse = profile.coarseStrikeStep
        let reach = monthly ? 0.2 : 0.08
        var strikes: Set<Double> = []
        var strike = ((spot * (1 - 0.04)) / fine).rounded(.up) * fine
        while strike <= spot * 1.04 {
            strikes.insert(strike)
            strike += fine
        }
        strike = ((spot * (1 - reach)) / coarse).rounded(.up) * coarse
        while strike <= spot * (1 + reach) {
            strikes.insert(strike)
            strike += coarse
        }
        return strikes.sorted()
    }

    /// Implied volatility on a skewed smile: puts (low strikes) richer, short expiries a little higher.
    func volatility(strike: Double, spot: Double, years: Double) -> Double {
        let atm = profile.annualVolatility * (1 + 0.15 * exp(-years * 365 / 10))
        let moneyness = log(strike / spot) / max(0.1, (years / 0.25).squareRoot())
        return min(3, max(0.05, atm * (1 - 1.2 * moneyness + 4.5 * moneyness * moneyness)))
    }

    struct OptionQuote {
        var bid: Double
        var ask: Double
        var values: BlackScholes.Values
        var iv: Double
    }

    /// The listed market for a contract at an instant: Black–Scholes on the smile, spread wider away from the
    /// money and close to expiry, penny ticks under $3 and nickels above.
    func market(_ option: ListedOption, at milliseconds: Int64) -> OptionQuote {
        let spot = price(at: milliseconds)
        let years = max(Double(option.expiryClose - milliseconds) / (365 * 86_400_000), 60.0 / (365 * 86_400))
        let iv = volatility(strike: option.ticker.strike, spot: spot, years: years)
        let values = BlackScholes.values(
            call: option.ticker.right == .call, spot: spot, strike: option.ticker.strike, years: years, volatility: iv,
            rate: configuration.rate, dividendYield: profile.dividendYield)
        let distance = abs(log(option.ticker.strike / spot))
        let tick = values.price < 3 ? 0.01 : 0.05
        let relative = 0.01 + 0.5 * distance + 0.02 / max(0.02, years * 52)
        let halfSpread = max(tick, values.price * relative) / 2
        var bid = ((values.price - halfSpread) / tick).rounded(.down) * tick
        var ask = ((values.price + halfSpread) / tick).rounded(.up) * tick
        bid = Self.cents(max(0, bid))
        ask = Self.cents(max(ask, bid + tick))
        if values.price < 0.005 { (bid, ask) = (0, Self.cents(tick * 2)) }
        return OptionQuote(bid: bid, ask: ask, values: values, iv: iv)
    }

    var listed: [ListedOption] = []
    /// Today's bar of each option that traded, from its trades.
    var optionDayBars: [String: Bar] = [:]

    mutating func buildOptions() {
        let spot = path[0]
        let expiries = expirations()
        for (index, (expiry, monthly)) in expiries.enumerated() {
            let expiryClose =
                calendar.tradingDay(expiry)?.regularClose ?? EasternTime.utcMilliseconds(date: expiry, hour: 16)
            for strike in strikes(around: spot, monthly: monthly) {
                for right in [OptionRight.call, .put] {
                    let ticker = OptionTicker(root: profile.symbol, expiration: expiry, right: right, strike: strike)
                    let weight =
                        exp(-abs(log(strike / spot)) / 0.008) / (1 + Double(index) * 0.7) * profile.optionActivity
                    listed.append(
                        ListedOption(
                            reference: ContractReference(
                                ticker: ticker.description, underlying: profile.symbol, right: right, strike: strike,
                                expiration: expiry.description),
                            ticker: ticker, expiryClose: expiryClose, weight: weight, monthly: monthly))
                }
            }
        }
        listed.sort { $0.reference.ticker < $1.reference.ticker }
        output.contracts = listed.map(\.reference)
        let sessionStart = max(start, day.regularOpen)
        let sessionEnd = min(end, day.regularClose)
        guard sessionStart < sessionEnd else { return }
        for option in listed { streamOption(option, from: sessionStart, to: sessionEnd) }
    }

    /// Quotes and trades for one contract over the regular session.
    mutating func streamOption(_ option: ListedOption, from: Int64, to: Int64) {
        var rng = random(option.reference.ticker)
        var encoder = FrameEncoder()
        var seconds = AggregateBuilder(symbol: option.reference.ticker, timespan: .second)
        var minutes = AggregateBuilder(symbol: option.reference.ticker, timespan: .minute)
        let quoteRate = option.weight / 12 + 1.0 / 1_800
        let tradeRate = option.weight / 45 + 1.0 / 7_200
        var events: [(Int64, Bool)] = [(from, true)]
        var at = Double(from)
        while true {
            at += rng.exponential(rate: quoteRate * activity(Int64(at))) * 1_000
            guard at < Double(to) else { break }
            events.append((Int64(at), true))
        }
        at = Double(from)
        while true {
            at += rng.exponential(rate: tradeRate * activity(Int64(at))) * 1_000
            guard at < Double(to) else { break }
            events.append((Int64(at), false))
        }
        events.sort { ($0.0, $0.1 ? 0 : 1) < ($1.0, $1.1 ? 0 : 1) }
        var current = market(option, at: from)
        var sequence = Int64(rng.next() % 1_000_000) * 100
        let depth = 10 + 400 * min(1, option.weight)
        var arrival: Int64 = 0
        for (time, isQuote) in events {
            arrival = max(arrival, time + 2 + Int64(rng.uniform() * 4))
            if isQuote {
                current = market(option, at: time)
                sequence += 1 + Int64(rng.uniform() * 50)
                encoder.append(
                    Quote(
                        symbol: option.reference.ticker, timestampNanoseconds: time * 1_000_000, bidPrice: current.bid,
                        askPrice: current.ask, bidSize: (1 + rng.uniform() * depth).rounded(.down),
                        askSize: (1 + rng.uniform() * depth).rounded(.down), bidExchange: 300 + Int32(rng.next() % 23),
                        askExchange: 300 + Int32(rng.next() % 23), sequence: sequence))
                output.optionEvents.append((arrival, encoder.takeElements()[0]))
                continue
            }
            guard current.ask > 0 else { continue }
            let tick = current.ask - current.bid >= 0.05 && current.bid >= 3 ? 0.05 : 0.01
            let steps = Int(((current.ask - current.bid) / tick).rounded())
            let price = Self.cents(max(current.bid, tick) + Double(Int(rng.uniform() * Double(steps + 1))) * tick)
            let tradePrice = min(current.ask, max(current.bid, price))
            guard tradePrice > 0 else { continue }
            let size = Double(1 + min(200, Int(rng.exponential(rate: 0.25))))
            sequence += 1
            encoder.append(
                Trade(
                    symbol: option.reference.ticker, timestampNanoseconds: time * 1_000_000, price: tradePrice,
                    size: size, exchange: 300 + Int32(rng.next() % 23), conditions: [rng.uniform() < 0.8 ? 209 : 227],
                    sequence: sequence))
            output.optionEvents.append((arrival, encoder.takeElements()[0]))
            seconds.add(price: tradePrice, size: size, atMilliseconds: time)
            if var day = optionDayBars[option.reference.ticker] {
                day.high = max(day.high, tradePrice)
                day.low = min(day.low, tradePrice)
                day.close = tradePrice
                day.vwap = (day.vwap * day.volume + tradePrice * size) / (day.volume + size)
                day.volume += size
                day.transactions += 1
                optionDayBars[option.reference.ticker] = day
            } else {
                optionDayBars[option.reference.ticker] = Bar(
                    symbol: option.reference.ticker, timespan: .day, multiplier: 1,
                    startMilliseconds: EasternTime.midnight(of: day.date), open: tradePrice, high: tradePrice,
                    low: tradePrice, close: tradePrice, volume: size, vwap: tradePrice, transactions: 1,
                    source: "synthetic")
            }
            minutes.add(price: tradePrice, size: size, atMilliseconds: time)
        }
        seconds.close()
        minutes.close()
        for (bar, fields) in seconds.finished {
            encoder.append(bar, day: fields)
            output.optionEvents.append(
                (bar.endMilliseconds + 40 + Int64(rng.uniform() * 60), encoder.takeElements()[0]))
        }
        for (bar, fields) in minutes.finished {
            encoder.append(bar, day: fields)
            output.optionEvents.append(
                (bar.endMilliseconds + 100 + Int64(rng.uniform() * 200), encoder.takeElements()[0]))
        }
    }

    // MARK: REST

    static func barJSON(_ bar: Bar) -> JSONValue {
        .object([
            ("v", .number(bar.volume)), ("vw", .number(bar.vwap)), ("o", .number(bar.open)), ("c", .number(bar.close)),
            ("h", .number(bar.high)), ("l", .number(bar.low)), ("t", .integer(bar.startMilliseconds)),
            ("n", .integer(bar.transactions)),
        ])
    }

    static func aggregatesBody(_ ticker: String, _ bars: [Bar]) -> [UInt8] {
        var members: [(String, JSONValue)] = [
            ("ticker", .string(ticker)), ("queryCount", .integer(Int64(bars.count))),
            ("resultsCount", .integer(Int64(bars.count))), ("adjusted", .bool(true)),
        ]
        if !bars.isEmpty { members.append(("results", .array(bars.map(barJSON)))) }
        members.append(("status", .string("OK")))
        members.append(("request_id", .string("synthetic")))
        return Array(JSONValue.object(members).text.utf8)
    }

    mutating func buildREST(trades: [StockTrade], todayBar: Bar?) {
        let symbol = profile.symbol
        let daily = history + (todayBar.map { [$0] } ?? [])
        let first = history.first.map { EasternTime.local(atUTC: $0.startMilliseconds).date } ?? day.date
        output.exchanges.append(
            RESTExchange(
                atMilliseconds: start, path: "/v2/aggs/ticker/\(symbol)/range/1/day/\(first)/\(day.date)",
                query: "adjusted=true&sort=asc&limit=50000", body: Self.aggregatesBody(symbol, daily)))
        output.exchanges.append(
            RESTExchange(
                atMilliseconds: start, path: "/v2/aggs/ticker/\(symbol)/range/1/minute/\(day.date)/\(day.date)",
                query: "adjusted=true&sort=asc&limit=50000", body: Self.aggregatesBody(symbol, minuteBars)))
        // The chain as it stood when the recording starts.
        let spot = path[0]
        var results: [JSONValue] = []
        var rng = random("open-interest")
        for option in listed {
            let quote = market(option, at: start)
            let previous = BlackScholes.values(
                call: option.ticker.right == .call, spot: previousClose, strike: option.ticker.strike,
                years: Double(option.expiryClose - start + 86_400_000) / (365 * 86_400_000), volatility: quote.iv,
                rate: configuration.rate, dividendYield: profile.dividendYield)
            let previousPrice = Self.cents(previous.price)
            let openInterest = (20_000 * option.weight.squareRoot() * (0.5 + rng.uniform())).rounded() + 10
            let breakEven =
                option.ticker.right == .call
                ? option.ticker.strike + quote.values.price : option.ticker.strike - quote.values.price
            var entry: [(String, JSONValue)] = [
                ("break_even_price", .number(Self.cents(breakEven))),
                ("implied_volatility", .number((quote.iv * 10_000).rounded() / 10_000)),
                ("open_interest", .number(openInterest)),
                (
                    "day",
                    .object([
                        ("change", .number(0)), ("change_percent", .number(0)), ("close", .number(previousPrice)),
                        ("high", .number(previousPrice)), ("low", .number(previousPrice)),
                        ("open", .number(previousPrice)),
                        ("previous_close", .number(previousPrice)), ("volume", .number(0)),
                        ("vwap", .number(previousPrice)),
                        ("last_updated", .integer(start * 1_000_000)),
                    ])
                ),
                (
                    "details",
                    .object([
                        ("contract_type", .string(option.ticker.right.rawValue)),
                        ("exercise_style", .string("american")),
                        ("expiration_date", .string(option.reference.expiration)),
                        ("shares_per_contract", .integer(100)),
                        ("strike_price", .number(option.ticker.strike)), ("ticker", .string(option.reference.ticker)),
                    ])
                ),
            ]
            // Deep in-the-money contracts come without greeks, as the vendor's sometimes do.
            if abs(quote.values.delta) < 0.985 {
                entry.append(
                    (
                        "greeks",
                        .object([
                            ("delta", .number((quote.values.delta * 10_000).rounded() / 10_000)),
                            ("gamma", .number((quote.values.gamma * 1_000_000).rounded() / 1_000_000)),
                            ("theta", .number((quote.values.theta * 10_000).rounded() / 10_000)),
                            ("vega", .number((quote.values.vega * 10_000).rounded() / 10_000)),
                        ])
                    ))
            }
            entry.append(
                (
                    "last_quote",
                    .object([
                        ("ask", .number(quote.ask)), ("ask_size", .integer(10)), ("bid", .number(quote.bid)),
                        ("bid_size", .integer(10)), ("midpoint", .number(Self.cents((quote.bid + quote.ask) / 2))),
                        ("last_updated", .integer(start * 1_000_000)), ("timeframe", .string("REAL-TIME")),
                    ])
                ))
            entry.append(
                (
                    "underlying_asset",
                    .object([
                        ("change_to_break_even", .number(Self.cents(breakEven - spot))),
                        ("last_updated", .integer(start * 1_000_000)), ("price", .number(Self.cents(spot))),
                        ("ticker", .string(symbol)), ("timeframe", .string("REAL-TIME")),
                    ])
                ))
            results.append(.object(entry))
        }
        output.exchanges.append(
            RESTExchange(
                atMilliseconds: start, path: "/v3/snapshot/options/\(symbol)", query: "limit=250",
                body: Array(
                    JSONValue.object([
                        ("status", .string("OK")), ("request_id", .string("synthetic")), ("results", .array(results)),
                    ]).text.utf8)))
        let references: [JSONValue] = listed.map { option in
            .object([
                ("cfi", .string(option.ticker.right == .call ? "OCASPS" : "OPASPS")),
                ("contract_type", .string(option.ticker.right.rawValue)), ("exercise_style", .string("american")),
                ("expiration_date", .string(option.reference.expiration)), ("primary_exchange", .string("BATO")),
                ("shares_per_contract", .integer(100)), ("strike_price", .number(option.ticker.strike)),
                ("ticker", .string(option.reference.ticker)), ("underlying_ticker", .string(symbol)),
            ])
        }
        output.exchanges.append(
            RESTExchange(
                atMilliseconds: start, path: "/v3/reference/options/contracts",
                query: "underlying_ticker=\(symbol)&expired=false&limit=1000",
                body: Array(
                    JSONValue.object([
                        ("status", .string("OK")), ("request_id", .string("synthetic")),
                        ("results", .array(references)),
                    ]).text.utf8)))
        buildOptionHistory()
        let yesterday = history.last
        output.tickerSnapshot = .object([
            ("ticker", .string(symbol)), ("todaysChange", .number(0)), ("todaysChangePerc", .number(0)),
            ("updated", .integer(start * 1_000_000)),
            (
                "prevDay",
                .object([
                    ("o", .number(yesterday?.open ?? previousClose)), ("h", .number(yesterday?.high ?? previousClose)),
                    ("l", .number(yesterday?.low ?? previousClose)), ("c", .number(previousClose)),
                    ("v", .number(yesterday?.volume ?? 0)), ("vw", .number(yesterday?.vwap ?? previousClose)),
                ])
            ),
        ])
    }
}

extension UnderlyingGenerator {
    /// Daily bars for the contracts near the money (within 3 %): up to 20 sessions back (weeklies only since
    /// they were listed, five weeks before expiry), valued on the underlying's daily bars, plus today's bar
    /// from the stream's trades.
    mutating func buildOptionHistory() {
        var rng = random("option-history")
        let spot = path[0]
        for option in listed where abs(log(option.ticker.strike / spot)) <= 0.03 {
            let listedSince = option.ticker.expiration.adding(days: -35)
            var bars: [Bar] = []
            for bar in history.suffix(20) {
                let date = EasternTime.local(atUTC: bar.startMilliseconds).date
                if !option.monthly, date < listedSince { continue }
                let close = calendar.tradingDay(date)?.regularClose ?? bar.startMilliseconds
                let years = max(Double(option.expiryClose - close) / (365 * 86_400_000), 1.0 / 365)
                func value(_ underlying: Double) -> Double {
                    let iv = volatility(strike: option.ticker.strike, spot: underlying, years: years)
                    return BlackScholes.values(
                        call: option.ticker.right == .call, spot: underlying, strike: option.ticker.strike,
                        years: years,
                        volatility: iv, rate: configuration.rate, dividendYield: profile.dividendYield
                    ).price
                }
                let values = [value(bar.open), value(bar.high), value(bar.low), value(bar.close)].map(Self.cents)
                let volume = (2_000 * option.weight * exp(0.5 * rng.normal())).rounded() + 1
                bars.append(
                    Bar(
                        symbol: option.reference.ticker, timespan: .day, multiplier: 1,
                        startMilliseconds: bar.startMilliseconds, open: values[0],
                        high: max(values[0], values[3], values.max() ?? 0),
                        low: min(values[0], values[3], values.min() ?? 0),
                        close: values[3], volume: volume, vwap: Self.cents((values[1] + values[2] + values[3]) / 3),
                        transactions: Int64((volume / 4).rounded(.up)), source: "synthetic"))
            }
            if let today = optionDayBars[option.reference.ticker] {
                var rounded = today
                rounded.vwap = (today.vwap * 10_000).rounded() / 10_000
                bars.append(rounded)
            }
            guard let first = bars.first else { continue }
            let from = EasternTime.local(atUTC: first.startMilliseconds).date
            output.exchanges.append(
                RESTExchange(
                    atMilliseconds: start,
                    path: "/v2/aggs/ticker/\(option.reference.ticker)/range/1/day/\(from)/\(day.date)",
                    query: "adjusted=true&sort=asc&limit=50000",
                    body: Self.aggregatesBody(option.reference.ticker, bars)))
        }
    }
}

/// Calendar helpers the generator needs that `MarketCalendar` keeps internal.
enum CivilDateBridge {
    static func thirdFriday(year: Int, month: Int) -> CivilDate {
        let first = CivilDate(year: year, month: month, day: 1) ?? CivilDate(daysSinceEpoch: 0)
        let offset = (5 - first.weekday + 7) % 7
        return first.adding(days: offset + 14)
    }
}
