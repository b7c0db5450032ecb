import PluginKit

/// The ABI's normalized JSON documents (see the provider section of `markethub_plugin.h`). Every type writes
/// its members in a fixed order, unknown values as `null`, so results are byte-for-byte reproducible.

/// One option contract as the ABI's CONTRACT object.
public struct OptionContract: Sendable, Equatable {
    public var ticker: String
    public var right: OptionRight
    public var strike: Double
    public var expiration: String
    public var bid: Double?
    public var ask: Double?
    public var bidSize: Double?
    public var askSize: Double?
    public var last: Double?
    public var volume: Double?
    public var openInterest: Double?
    public var impliedVolatility: Double?
    public var delta: Double?
    public var gamma: Double?
    public var theta: Double?
    public var vega: Double?
    public var updatedMilliseconds: Int64?

    public init(ticker: String, right: OptionRight, strike: Double, expiration: String) {
        self.ticker = ticker
        self.right = right
        self.strike = strike
        self.expiration = expiration
    }

    public var json: JSONValue {
        func number(_ value: Double?) -> JSONValue { value.map { $0.isFinite ? .number($0) : .null } ?? .null }
        return .object([
            ("ticker", .string(ticker)), ("type", .string(right.rawValue)), ("strike", .number(strike)),
            ("expiration", .string(expiration)), ("bid", number(bid)), ("ask", number(ask)),
            ("bidSize", number(bidSize)), ("askSize", number(askSize)), ("last", number(last)),
            ("volume", number(volume)), ("openInterest", number(openInterest)), ("iv", number(impliedVolatility)),
            ("delta", number(delta)), ("gamma", number(gamma)), ("theta", number(theta)), ("vega", number(vega)),
            ("updatedMs", updatedMilliseconds.map { .integer($0) } ?? .null),
        ])
    }

    /// Reads a CONTRACT object back (as written by `json`).
    public init?(json: JSONValue) {
        guard let ticker = json["ticker"]?.string, let type = json["type"]?.string,
            let right = OptionRight(rawValue: type), let strike = json["strike"]?.double,
            let expiration = json["expiration"]?.string
        else { return nil }
        self.init(ticker: ticker, right: right, strike: strike, expiration: expiration)
        bid = json["bid"]?.double
        ask = json["ask"]?.double
        bidSize = json["bidSize"]?.double
        askSize = json["askSize"]?.double
        last = json["last"]?.double
        volume = json["volume"]?.double
        openInterest = json["openInterest"]?.double
        impliedVolatility = json["iv"]?.double
        delta = json["delta"]?.double
        gamma = json["gamma"]?.double
        theta = json["theta"]?.double
        vega = json["vega"]?.double
        updatedMilliseconds = json["updatedMs"]?.int64
    }
}

/// `{"underlying","underlyingPrice","contracts":[CONTRACT...]}`.
public struct ChainDocument: Sendable, Equatable {
    public var underlying: String
    public var underlyingPrice: Double?
    public var contracts: [OptionContract]

    public init(underlying: String, underlyingPrice: Double?, contracts: [OptionContract]) {
        self.underlying = underlying
        self.underlyingPrice = underlyingPrice
        self.contracts = contracts
    }

    public var json: JSONValue {
        .object([
            ("underlying", .string(underlying)), ("underlyingPrice", underlyingPrice.map { .number($0) } ?? .null),
            ("contracts", .array(contracts.map(\.json))),
        ])
    }
}

/// `{"underlying","underlyingPrice","contract":CONTRACT}`.
public struct ContractSnapshotDocument: Sendable, Equatable {
    public var underlying: String
    public var underlyingPrice: Double?
    public var contract: OptionContract

    public init(underlying: String, underlyingPrice: Double?, contract: OptionContract) {
        self.underlying = underlying
        self.underlyingPrice = underlyingPrice
        self.contract = contract
    }

    public var json: JSONValue {
        .object([
            ("underlying", .string(underlying)), ("underlyingPrice", underlyingPrice.map { .number($0) } ?? .null),
            ("contract", contract.json),
        ])
    }
}

/// One listed contract of the contracts reference: `{"ticker","underlying","type","strike","expiration"}`.
public struct ContractReference: Sendable, Equatable, Hashable {
    public var ticker: String
    public var underlying: String
    public var right: OptionRight
    public var strike: Double
    public var expiration: String

    public init(ticker: String, underlying: String, right: OptionRight, strike: Double, expiration: String) {
        self.ticker = ticker
        self.underlying = underlying
        self.right = right
        self.strike = strike
        self.expiration = expiration
    }

    public var json: JSONValue {
        .object([
            ("ticker", .string(ticker)), ("underlying", .string(underlying)), ("type", .string(right.rawValue)),
            ("strike", .number(strike)), ("expiration", .string(expiration)),
        ])
    }

    /// `{"contracts":[...]}`.
    public static func document(_ contracts: [ContractReference]) -> JSONValue {
        .object([("contracts", .array(contracts.map(\.json)))])
    }

    /// `{"expirations":[...]}`, distinct and ascending.
    public static func expirationsDocument(_ contracts: [ContractReference]) -> JSONValue {
        .object([("expirations", .array(Set(contracts.map(\.expiration)).sorted().map { .string($0) }))])
    }
}

/// `{"market","earlyHours","afterHours","serverTime","exchanges":{...}}`.
public struct MarketStatusDocument: Sendable, Equatable {
    public var market: String
    public var earlyHours: Bool
    public var afterHours: Bool
    public var serverTime: String
    /// Exchange name to status, in the order given.
    public var exchanges: [(String, String)]

    public init(market: String, earlyHours: Bool, afterHours: Bool, serverTime: String, exchanges: [(String, String)]) {
        self.market = market
        self.earlyHours = earlyHours
        self.afterHours = afterHours
        self.serverTime = serverTime
        self.exchanges = exchanges
    }

    public static func == (lhs: MarketStatusDocument, rhs: MarketStatusDocument) -> Bool {
        lhs.json == rhs.json
    }

    public var json: JSONValue {
        .object([
            ("market", .string(market)), ("earlyHours", .bool(earlyHours)), ("afterHours", .bool(afterHours)),
            ("serverTime", .string(serverTime)), ("exchanges", .object(exchanges.map { ($0.0, .string($0.1)) })),
        ])
    }
}

/// One watchlist entry: `{"ticker","last","prevClose","change","changePercent","volume","updatedMs"}`.
public struct TickerSnapshot: Sendable, Equatable {
    public var ticker: String
    public var last: Double?
    public var previousClose: Double?
    public var change: Double?
    public var changePercent: Double?
    public var volume: Double?
    public var updatedMilliseconds: Int64?

    public init(
        ticker: String, last: Double?, previousClose: Double?, change: Double?, changePercent: Double?,
        volume: Double?, updatedMilliseconds: Int64?
    ) {
        self.ticker = ticker
        self.last = last
        self.previousClose = previousClose
        self.change = change
        self.changePercent = changePercent
        self.volume = volume
        self.updatedMilliseconds = updatedMilliseconds
    }

    public var json: JSONValue {
        func number(_ value: Double?) -> JSONValue { value.map { $0.isFinite ? .number($0) : .null } ?? .null }
        return .object([
            ("ticker", .string(ticker)), ("last", number(last)), ("prevClose", number(previousClose)),
            ("change", number(change)), ("changePercent", number(changePercent)), ("volume", number(volume)),
            ("updatedMs", updatedMilliseconds.map { .integer($0) } ?? .null),
        ])
    }

    /// `{"tickers":[...]}`.
    public static func document(_ snapshots: [TickerSnapshot]) -> JSONValue {
        .object([("tickers", .array(snapshots.map(\.json)))])
    }
}
