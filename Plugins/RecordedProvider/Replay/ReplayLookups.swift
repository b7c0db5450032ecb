import MarketCalendar
import MassiveWire
import PluginAPI
import PluginKit
import Recording
import Synchronization

/// A provider look-up, copied out of `mh_request`.
public struct LookupRequest: Sendable {
    public var kind: UInt32
    public var ticker: String
    public var multiplier: Int32
    public var timespan: UInt32
    public var fromMilliseconds: Int64
    public var toMilliseconds: Int64
    public var limit: UInt32
    public var params: JSONValue?

    public init(
        kind: UInt32, ticker: String, multiplier: Int32 = 1, timespan: UInt32 = 0, fromMilliseconds: Int64 = 0,
        toMilliseconds: Int64 = 0, limit: UInt32 = 0, params: JSONValue? = nil
    ) {
        self.kind = kind
        self.ticker = ticker
        self.multiplier = multiplier
        self.timespan = timespan
        self.fromMilliseconds = fromMilliseconds
        self.toMilliseconds = toMilliseconds
        self.limit = limit
        self.params = params
    }
}

extension ReplayEngine {
    /// Starts a look-up. `complete` runs exactly once (possibly before this returns) unless this throws.
    public func request(
        _ request: LookupRequest, _ complete: @escaping @Sendable (OperationResult) -> Void
    ) throws(PluginError) {
        guard (1...10).contains(request.kind) else { throw .unsupported("unknown request kind \(request.kind)") }
        let snapshot = state.withLock { state -> (Int64, TimeShift, Int)? in
            state.phase == .stopped ? nil : (state.position, state.shift, state.nextStep)
        }
        guard let (position, shift, nextStep) = snapshot else { throw .cancelled("the replay provider is stopped") }
        var latency: Int64 = 0
        var result: OperationResult?
        for fault in faults.faults where fault.covers(position) {
            switch fault.kind {
            case .authFailure:
                result = result ?? OperationResult(error: .unauthorized("Unknown API Key (scripted auth failure)"))
            case .rateLimit:
                result =
                    result
                    ?? OperationResult(
                        error: .rateLimited(
                            "You've exceeded the maximum requests per minute (scripted 429 window)",
                            retryAfterMilliseconds: fault.retryAfterMilliseconds))
            case .serverError:
                result =
                    result
                    ?? OperationResult(
                        error: .unavailable("HTTP \(fault.httpStatus ?? 503) from upstream (scripted fault)"))
            case .latency: latency = max(latency, fault.latencyMilliseconds ?? 0)
            default: break
            }
        }
        let answer = result ?? answer(request, position: position, shift: shift, nextStep: nextStep)
        guard latency > 0 else {
            complete(answer)
            return
        }
        let id = state.withLock { state -> UInt64 in
            let id = state.nextPendingID
            state.nextPendingID += 1
            state.pending[id] = complete
            return id
        }
        let scheduled = scheduler.schedule(afterNanoseconds: latency * 1_000_000) { [self] in
            let pending = state.withLock { $0.pending.removeValue(forKey: id) }
            pending?(answer)
        }
        if !scheduled, let pending = state.withLock({ $0.pending.removeValue(forKey: id) }) { pending(answer) }
    }

    func answer(_ request: LookupRequest, position: Int64, shift: TimeShift, nextStep: Int) -> OperationResult {
        let now = header.clockOrigin + position + shift.sessionMilliseconds
        do {
            switch Int(request.kind) {
            case Int(MH_REQUEST_AGGREGATES): return try aggregates(request, now: now, shift: shift)
            case Int(MH_REQUEST_CHAIN_SNAPSHOT):
                return try chain(request, shift: shift, recordedNow: header.clockOrigin + position)
            case Int(MH_REQUEST_CONTRACT_SNAPSHOT):
                return try contract(request, shift: shift, recordedNow: header.clockOrigin + position)
            case Int(MH_REQUEST_CONTRACTS): return try contracts(request, expirationsOnly: false)
            case Int(MH_REQUEST_EXPIRATIONS): return try contracts(request, expirationsOnly: true)
            case Int(MH_REQUEST_QUOTES): return try quotes(request, shift: shift, nextStep: nextStep)
            case Int(MH_REQUEST_TRADES): return try trades(request, shift: shift, nextStep: nextStep)
            case Int(MH_REQUEST_LAST_TRADE): return try lastTrade(request, shift: shift)
            case Int(MH_REQUEST_MARKET_STATUS):
                // A session of today follows the wall clock once it has run out (the market has closed).
                let wall = scheduler.wallNanoseconds / 1_000_000
                return marketStatus(now: endsQuietly ? max(now, wall) : now, position: position)
            case Int(MH_REQUEST_TICKER_SNAPSHOTS): return try tickerSnapshots(request, shift: shift)
            default: return OperationResult(error: .unsupported("unknown request kind \(request.kind)"))
            }
        } catch {
            return OperationResult(error: error)
        }
    }

    private func json(_ value: JSONValue, updated: Int64 = 0) -> OperationResult {
        OperationResult(json: Array(value.text.utf8), updatedMilliseconds: updated)
    }

    private func notFound(_ ticker: String) -> PluginError { .notFound("Ticker not found: \(ticker)") }

    // MARK: Bars

    private func aggregates(
        _ request: LookupRequest, now: Int64, shift: TimeShift
    ) throws(PluginError) -> OperationResult {
        guard let timespan = Timespan(rawValue: request.timespan) else {
            throw .invalid("unknown timespan \(request.timespan)")
        }
        guard request.multiplier >= 1 else { throw .invalid("multiplier must be at least 1") }
        guard let recorded = series(request.ticker, timespan: timespan, multiplier: request.multiplier) else {
            if let error = data.errors.first(where: { $0.key.hasPrefix("/v2/aggs/ticker/\(request.ticker)/") })?.value {
                throw error
            }
            if isKnown(request.ticker) { return OperationResult() }
            throw notFound(request.ticker)
        }
        var bars: [Bar] = []
        for var bar in recorded {
            bar.startMilliseconds = shift.map(milliseconds: bar.startMilliseconds)
            if bar.endMilliseconds != 0 { bar.endMilliseconds = shift.map(milliseconds: bar.endMilliseconds) }
            if request.fromMilliseconds != 0, bar.startMilliseconds < request.fromMilliseconds { continue }
            if request.toMilliseconds != 0, bar.startMilliseconds > request.toMilliseconds { continue }
            // The replay has not reached later bars yet.
            if bar.startMilliseconds > now { continue }
            bars.append(bar)
            if request.limit > 0, bars.count >= Int(request.limit) { break }
        }
        return OperationResult(bars: bars)
    }

    /// The recorded series for a request, folding finer recorded bars into coarser ones when needed.
    func series(_ ticker: String, timespan: Timespan, multiplier: Int32) -> [Bar]? {
        typealias Key = RecordedData.BarKey
        if let exact = data.bars[Key(ticker: ticker, timespan: timespan, multiplier: multiplier)] { return exact }
        switch timespan {
        case .second, .minute:
            guard let base = data.bars[Key(ticker: ticker, timespan: timespan, multiplier: 1)] else { return nil }
            let width = (timespan.fixedMilliseconds ?? 1) * Int64(multiplier)
            return BarFolding.fold(base, timespan: timespan, multiplier: multiplier) { $0 - $0 % width }
        case .hour:
            guard let base = data.bars[Key(ticker: ticker, timespan: .minute, multiplier: 1)] else { return nil }
            let width = 3_600_000 * Int64(multiplier)
            return BarFolding.fold(base, timespan: .hour, multiplier: multiplier) { $0 - $0 % width }
        case .day:
            guard let base = data.bars[Key(ticker: ticker, timespan: .day, multiplier: 1)] else { return nil }
            return BarFolding.foldCount(base, count: Int(multiplier), timespan: .day, multiplier: multiplier)
        case .week:
            guard let base = data.bars[Key(ticker: ticker, timespan: .day, multiplier: 1)] else { return nil }
            return BarFolding.fold(base, timespan: .week, multiplier: multiplier) { start in
                // Weeks start on Sunday midnight New York, like the vendor's.
                let date = EasternTime.local(atUTC: start).date
                let sunday = date.adding(days: -(date.weekday % 7))
                let weeks = Int64(multiplier)
                let index = Int64(sunday.daysSinceEpoch + 4) / 7
                return EasternTime.midnight(of: CivilDate(daysSinceEpoch: Int((index - index % weeks) * 7 - 4)))
            }
        case .month, .quarter, .year:
            return nil
        }
    }

    // MARK: Options

    /// The recorded contract with the stream's latest quote, trade and volume laid over it. When a quote was
    /// laid over a contract that came with Greeks, the volatility and Greeks are worked out again for the
    /// replay's moment (`ReplayGreeks`): a snapshot recorded at the open would otherwise show the morning's
    /// delta beside the afternoon's prices.
    private func overlay(
        _ contract: OptionContract, market: MarketState, shift: TimeShift, underlyingPrice: Double?,
        recordedNow: Int64
    ) -> OptionContract {
        var contract = contract
        if let updated = contract.updatedMilliseconds {
            contract.updatedMilliseconds = shift.map(milliseconds: updated)
        }
        if let quote = market.lastQuote(contract.ticker) {
            contract.bid = quote.bidPrice
            contract.ask = quote.askPrice
            contract.bidSize = quote.bidSize
            contract.askSize = quote.askSize
            contract.updatedMilliseconds = max(
                contract.updatedMilliseconds ?? 0, quote.timestampNanoseconds / 1_000_000)
            if let underlyingPrice { ReplayGreeks.refresh(&contract, spot: underlyingPrice, now: recordedNow) }
        }
        if let trade = market.lastTrade(contract.ticker) {
            contract.last = trade.price
            contract.volume = market.dayVolume(contract.ticker) ?? contract.volume
            contract.updatedMilliseconds = max(
                contract.updatedMilliseconds ?? 0, trade.timestampNanoseconds / 1_000_000)
        }
        return contract
    }

    private func underlyingPrice(_ underlying: String, market: MarketState) -> Double? {
        if let trade = market.lastTrade(underlying) { return trade.price }
        if let quote = market.lastQuote(underlying) { return (quote.bidPrice + quote.askPrice) / 2 }
        return data.chainPrices[underlying]
    }

    struct ChainFilter {
        var expiration: String?
        var expirationFrom: String?
        var expirationTo: String?
        var strikeMin: Double?
        var strikeMax: Double?
        var right: OptionRight?

        init(_ params: JSONValue?) throws(PluginError) {
            guard let params else { return }
            guard case .object = params else { throw .invalid("params must be a JSON object") }
            func date(_ key: String) throws(PluginError) -> String? {
                guard let value = params[key], !value.isNull else { return nil }
                guard let text = value.string, CivilDate(text) != nil else {
                    throw .invalid("\(key) must be YYYY-MM-DD")
                }
                return text
            }
            expiration = try date("expiration")
            expirationFrom = try date("expirationFrom")
            expirationTo = try date("expirationTo")
            strikeMin = params["strikeMin"]?.double
            strikeMax = params["strikeMax"]?.double
            if let type = params["contractType"], !type.isNull {
                guard let text = type.string, let right = OptionRight(rawValue: text) else {
                    throw .invalid("contractType must be \"call\" or \"put\"")
                }
                self.right = right
            }
        }

        func accepts(expiration date: String, strike: Double, right candidate: OptionRight) -> Bool {
            if let expiration, date != expiration { return false }
            if let expirationFrom, date < expirationFrom { return false }
            if let expirationTo, date > expirationTo { return false }
            if let strikeMin, strike < strikeMin { return false }
            if let strikeMax, strike > strikeMax { return false }
            if let right, candidate != right { return false }
            return true
        }
    }

    private func chain(
        _ request: LookupRequest, shift: TimeShift, recordedNow: Int64
    ) throws(PluginError) -> OperationResult {
        let filter = try ChainFilter(request.params)
        guard let contracts = data.chains[request.ticker] else {
            if let error = data.errors["/v3/snapshot/options/\(request.ticker)"] { throw error }
            throw notFound(request.ticker)
        }
        let market = market.withLock { $0 }
        var selected = contracts.filter {
            filter.accepts(expiration: $0.expiration, strike: $0.strike, right: $0.right)
        }
        selected.sort { ($0.expiration, $0.strike, $0.right.rawValue) < ($1.expiration, $1.strike, $1.right.rawValue) }
        if request.limit > 0 { selected = Array(selected.prefix(Int(request.limit))) }
        let spot = underlyingPrice(request.ticker, market: market)
        let document = ChainDocument(
            underlying: request.ticker, underlyingPrice: spot,
            contracts: selected.map {
                overlay($0, market: market, shift: shift, underlyingPrice: spot, recordedNow: recordedNow)
            })
        let updated = document.contracts.compactMap(\.updatedMilliseconds).max() ?? 0
        return json(document.json, updated: updated)
    }

    private func contract(
        _ request: LookupRequest, shift: TimeShift, recordedNow: Int64
    ) throws(PluginError) -> OperationResult {
        guard OptionTicker(request.ticker) != nil else {
            throw .invalid("\(request.ticker) is not an option ticker like O:SPY251219C00650000")
        }
        let market = market.withLock { $0 }
        var found: (String, OptionContract)?
        if let snapshot = data.contractSnapshots[request.ticker] {
            found = (snapshot.underlying, snapshot.contract)
        } else {
            for underlying in data.chains.keys.sorted() {
                if let contract = data.chains[underlying]?.first(where: { $0.ticker == request.ticker }) {
                    found = (underlying, contract)
                    break
                }
            }
        }
        guard let (underlying, contract) = found else { throw notFound(request.ticker) }
        let spot = underlyingPrice(underlying, market: market)
        let document = ContractSnapshotDocument(
            underlying: underlying, underlyingPrice: spot,
            contract: overlay(contract, market: market, shift: shift, underlyingPrice: spot, recordedNow: recordedNow))
        return json(document.json, updated: document.contract.updatedMilliseconds ?? 0)
    }

    private func contracts(_ request: LookupRequest, expirationsOnly: Bool) throws(PluginError) -> OperationResult {
        let filter = try ChainFilter(request.params)
        let listed = data.listedContracts(request.ticker)
        if listed.isEmpty, !isKnown(request.ticker) { throw notFound(request.ticker) }
        var selected = listed.filter { filter.accepts(expiration: $0.expiration, strike: $0.strike, right: $0.right) }
        selected.sort { ($0.expiration, $0.strike, $0.right.rawValue) < ($1.expiration, $1.strike, $1.right.rawValue) }
        if expirationsOnly { return json(ContractReference.expirationsDocument(selected)) }
        if request.limit > 0 { selected = Array(selected.prefix(Int(request.limit))) }
        return json(ContractReference.document(selected))
    }

    // MARK: Ticks

    private func inWindow(_ nanoseconds: Int64, _ request: LookupRequest) -> Bool {
        let milliseconds = nanoseconds / 1_000_000
        if request.fromMilliseconds != 0, milliseconds < request.fromMilliseconds { return false }
        if request.toMilliseconds != 0, milliseconds > request.toMilliseconds { return false }
        return true
    }

    /// The quotes or trades of `request.ticker` the stream has delivered so far in this pass, newest first and
    /// inside the request's window: found by decoding the replayed frames backwards from the replay position
    /// (frames that do not mention the symbol are skipped unread), so the hot path keeps no tick history.
    func recentTicks(
        _ request: LookupRequest, quotes wantQuotes: Bool, limit: Int, shift: TimeShift, nextStep: Int
    ) -> (quotes: [Quote], trades: [Trade]) {
        let decoder = FrameDecoder(shiftMilliseconds: shift.sessionMilliseconds, source: "recorded")
        // The quoted symbol: selective, and indifferent to how the vendor spaced its JSON.
        let needle = Array("\"\(request.ticker)\"".utf8)
        let origin = header.clockOrigin + shift.sessionMilliseconds
        var quotes: [Quote] = []
        var trades: [Trade] = []
        var index = min(nextStep, steps.count) - 1
        var scanned = 0
        while index >= 0, quotes.count + trades.count < limit, scanned < Self.tickScanLimit {
            defer {
                index -= 1
                scanned += 1
            }
            guard case .frame(let frameIndex) = steps[index].kind else { continue }
            let frame = frames[frameIndex]
            // Frames arrive after their events: once well before the window, nothing older can match.
            if request.fromMilliseconds != 0, origin + frame.offset < request.fromMilliseconds - 60_000 { break }
            guard Self.contains(frame.bytes, needle) else { continue }
            var found: [StreamEvent] = []
            _ = frame.bytes.withUnsafeBufferPointer { bytes in
                decoder.decode(bytes) { event in if event.symbol == request.ticker { found.append(event) } }
            }
            for event in found.reversed() {
                switch event {
                case .quote(let quote) where wantQuotes && inWindow(quote.timestampNanoseconds, request):
                    quotes.append(quote)
                case .trade(let trade) where !wantQuotes && inWindow(trade.timestampNanoseconds, request):
                    trades.append(trade)
                default: break
                }
            }
        }
        return (Array(quotes.prefix(limit)), Array(trades.prefix(limit)))
    }

    /// How many replayed frames a tick look-up reads back at most.
    static let tickScanLimit = 2_000_000

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, haystack.count >= needle.count else { return false }
        var start = 0
        let last = haystack.count - needle.count
        while start <= last {
            if haystack[start] == first {
                var offset = 1
                while offset < needle.count, haystack[start + offset] == needle[offset] { offset += 1 }
                if offset == needle.count { return true }
            }
            start += 1
        }
        return false
    }

    private func quotes(
        _ request: LookupRequest, shift: TimeShift, nextStep: Int
    ) throws(PluginError) -> OperationResult {
        let limit = Int(request.limit == 0 ? 100 : request.limit)
        var quotes = recentTicks(request, quotes: true, limit: limit, shift: shift, nextStep: nextStep).quotes
        if quotes.isEmpty, let recorded = data.quotes[request.ticker] {
            quotes = recorded.map {
                var quote = $0
                quote.timestampNanoseconds =
                    shift.map(milliseconds: quote.timestampNanoseconds / 1_000_000) * 1_000_000
                    + quote.timestampNanoseconds % 1_000_000
                return quote
            }.filter { inWindow($0.timestampNanoseconds, request) }
        }
        if quotes.isEmpty, !isKnown(request.ticker) { throw notFound(request.ticker) }
        return OperationResult(quotes: Array(quotes.prefix(limit)))
    }

    private func trades(
        _ request: LookupRequest, shift: TimeShift, nextStep: Int
    ) throws(PluginError) -> OperationResult {
        let limit = Int(request.limit == 0 ? 100 : request.limit)
        var trades = recentTicks(request, quotes: false, limit: limit, shift: shift, nextStep: nextStep).trades
        if trades.isEmpty, let recorded = data.trades[request.ticker] {
            trades = recorded.map {
                var trade = $0
                trade.timestampNanoseconds =
                    shift.map(milliseconds: trade.timestampNanoseconds / 1_000_000) * 1_000_000
                    + trade.timestampNanoseconds % 1_000_000
                return trade
            }.filter { inWindow($0.timestampNanoseconds, request) }
        }
        if trades.isEmpty, !isKnown(request.ticker) { throw notFound(request.ticker) }
        return OperationResult(trades: Array(trades.prefix(limit)))
    }

    private func lastTrade(_ request: LookupRequest, shift: TimeShift) throws(PluginError) -> OperationResult {
        if let trade = market.withLock({ $0.lastTrade(request.ticker) }) { return OperationResult(trades: [trade]) }
        if var trade = data.lastTrades[request.ticker] {
            trade.timestampNanoseconds = shift.map(milliseconds: trade.timestampNanoseconds / 1_000_000) * 1_000_000
            return OperationResult(trades: [trade])
        }
        if isKnown(request.ticker) { throw .notFound("no trade for \(request.ticker) yet in this session") }
        throw notFound(request.ticker)
    }

    // MARK: Market

    private func marketStatus(now: Int64, position: Int64) -> OperationResult {
        let closedByFault = faults.faults.contains { $0.kind == .marketClose && $0.covers(position) }
        let status = calendar.status(at: now)
        let market = closedByFault ? "closed" : status.market
        let exchanges = closedByFault ? "closed" : status.market
        let document = MarketStatusDocument(
            market: market, earlyHours: !closedByFault && status.earlyHours,
            afterHours: !closedByFault && status.afterHours, serverTime: status.serverTime,
            exchanges: [("nyse", exchanges), ("nasdaq", exchanges), ("otc", exchanges)])
        return json(document.json, updated: now)
    }

    private func tickerSnapshots(_ request: LookupRequest, shift: TimeShift) throws(PluginError) -> OperationResult {
        let requested: [String]
        if let list = request.params?["tickers"]?.array {
            requested = list.compactMap(\.string)
        } else if !request.ticker.isEmpty {
            requested = request.ticker.split(separator: ",").map(String.init)
        } else {
            throw .invalid("ticker snapshots need params {\"tickers\":[...]}")
        }
        guard !requested.isEmpty else { throw .invalid("ticker snapshots need at least one ticker") }
        let market = market.withLock { $0 }
        let sessionStart = EasternTime.midnight(
            of: baseShift.recordedDate ?? EasternTime.local(atUTC: header.startMilliseconds).date)
        var snapshots: [TickerSnapshot] = []
        for ticker in requested where isKnown(ticker) {
            let recorded = data.tickerSnapshots[ticker]
            let daily = data.bars[RecordedData.BarKey(ticker: ticker, timespan: .day, multiplier: 1)] ?? []
            let previousClose =
                recorded?.previousClose ?? daily.last(where: { $0.startMilliseconds < sessionStart })?.close
            let trade = market.lastTrade(ticker)
            let last = trade?.price ?? recorded?.last
            let change = last.flatMap { value in previousClose.map { value - $0 } }
            let percent = change.flatMap { delta in previousClose.flatMap { $0 != 0 ? delta / $0 * 100 : nil } }
            let updated =
                trade.map { $0.timestampNanoseconds / 1_000_000 }
                ?? recorded?.updatedMilliseconds.map { shift.map(milliseconds: $0) }
            snapshots.append(
                TickerSnapshot(
                    ticker: ticker, last: last, previousClose: previousClose, change: change, changePercent: percent,
                    volume: market.dayVolume(ticker) ?? recorded?.volume, updatedMilliseconds: updated))
        }
        return json(TickerSnapshot.document(snapshots))
    }
}

/// Folding finer bars into coarser ones (volume-weighted VWAP, summed volume and trade counts).
enum BarFolding {
    static func fold(_ bars: [Bar], timespan: Timespan, multiplier: Int32, bucket: (Int64) -> Int64) -> [Bar] {
        var out: [Bar] = []
        var weighted = 0.0
        for bar in bars {
            let start = bucket(bar.startMilliseconds)
            if var last = out.last, last.startMilliseconds == start {
                last.high = max(last.high, bar.high)
                last.low = min(last.low, bar.low)
                last.close = bar.close
                last.volume += bar.volume
                weighted += (bar.vwap.isNaN ? bar.close : bar.vwap) * bar.volume
                last.vwap = last.volume > 0 ? weighted / last.volume : .nan
                last.transactions =
                    last.transactions < 0 || bar.transactions < 0 ? -1 : last.transactions + bar.transactions
                out[out.count - 1] = last
            } else {
                var folded = bar
                folded.startMilliseconds = start
                folded.timespan = timespan
                folded.multiplier = multiplier
                folded.endMilliseconds = timespan.fixedMilliseconds.map { start + $0 * Int64(multiplier) } ?? 0
                weighted = (bar.vwap.isNaN ? bar.close : bar.vwap) * bar.volume
                out.append(folded)
            }
        }
        return out
    }

    static func foldCount(_ bars: [Bar], count: Int, timespan: Timespan, multiplier: Int32) -> [Bar] {
        var index = -1
        var positions: [Int64: Int64] = [:]
        for (offset, bar) in bars.enumerated() {
            if offset % count == 0 { index = offset }
            positions[bar.startMilliseconds] = bars[index].startMilliseconds
        }
        return fold(bars, timespan: timespan, multiplier: multiplier) { positions[$0] ?? $0 }
    }
}
