import MarketCalendar
import Recording

/// How one underlying behaves in a synthetic session.
public struct UnderlyingProfile: Sendable, Equatable {
    public var symbol: String
    /// Reference price level (the previous close is drawn near it).
    public var price: Double
    public var annualVolatility: Double
    public var dividendYield: Double
    /// Strike spacing near the money and away from it.
    public var fineStrikeStep: Double
    public var coarseStrikeStep: Double
    /// Stock trades and quote updates per second at mid-session (the open and close are busier).
    public var tradesPerSecond: Double
    public var quotesPerSecond: Double
    /// Stock NBBO spread in dollars during the regular session.
    public var spread: Double
    /// Typical daily share volume (for the daily bars).
    public var dailyVolume: Double
    /// Scales how busy the options are.
    public var optionActivity: Double

    public init(
        symbol: String, price: Double, annualVolatility: Double, dividendYield: Double = 0.01,
        fineStrikeStep: Double, coarseStrikeStep: Double, tradesPerSecond: Double, quotesPerSecond: Double,
        spread: Double = 0.01, dailyVolume: Double, optionActivity: Double = 1
    ) {
        self.symbol = symbol
        self.price = price
        self.annualVolatility = annualVolatility
        self.dividendYield = dividendYield
        self.fineStrikeStep = fineStrikeStep
        self.coarseStrikeStep = coarseStrikeStep
        self.tradesPerSecond = tradesPerSecond
        self.quotesPerSecond = quotesPerSecond
        self.spread = spread
        self.dailyVolume = dailyVolume
        self.optionActivity = optionActivity
    }

    /// Built-in profiles for common underlyings; anything else gets a generic mid-cap stock near $100.
    public static func standard(_ symbol: String) -> UnderlyingProfile {
        switch symbol {
        case "SPY":
            UnderlyingProfile(
                symbol: symbol, price: 600, annualVolatility: 0.15, dividendYield: 0.012, fineStrikeStep: 1,
                coarseStrikeStep: 5, tradesPerSecond: 2.5, quotesPerSecond: 3, dailyVolume: 60_000_000,
                optionActivity: 1.5)
        case "QQQ":
            UnderlyingProfile(
                symbol: symbol, price: 520, annualVolatility: 0.2, dividendYield: 0.006, fineStrikeStep: 1,
                coarseStrikeStep: 5, tradesPerSecond: 2, quotesPerSecond: 2.5, dailyVolume: 40_000_000,
                optionActivity: 1.2)
        case "AAPL":
            UnderlyingProfile(
                symbol: symbol, price: 230, annualVolatility: 0.27, dividendYield: 0.005, fineStrikeStep: 2.5,
                coarseStrikeStep: 5, tradesPerSecond: 2, quotesPerSecond: 2.5, dailyVolume: 50_000_000)
        case "IWM":
            UnderlyingProfile(
                symbol: symbol, price: 225, annualVolatility: 0.22, fineStrikeStep: 1, coarseStrikeStep: 5,
                tradesPerSecond: 1, quotesPerSecond: 1.5, dailyVolume: 25_000_000)
        default:
            UnderlyingProfile(
                symbol: symbol, price: 100, annualVolatility: 0.32, dividendYield: 0, fineStrikeStep: 1,
                coarseStrikeStep: 5, tradesPerSecond: 0.5, quotesPerSecond: 1, spread: 0.02, dailyVolume: 5_000_000,
                optionActivity: 0.5)
        }
    }
}

/// What to generate.
public struct SynthConfiguration: Sendable {
    public var underlyings: [String]
    public var date: CivilDate
    public var seed: UInt64
    /// New York minutes of the day covered (default the whole extended day, 04:00–20:00); clamped to the
    /// session so half days end earlier.
    public var startMinute: Int
    public var endMinute: Int
    /// Replaces the standard profile of a symbol.
    public var profiles: [String: UnderlyingProfile]
    /// Risk-free rate for option values.
    public var rate: Double
    /// How many trading days of daily bars the REST answers hold.
    public var historyDays: Int

    public init(
        underlyings: [String], date: CivilDate, seed: UInt64, startMinute: Int = 4 * 60, endMinute: Int = 20 * 60,
        profiles: [String: UnderlyingProfile] = [:], rate: Double = 0.04, historyDays: Int = 252
    ) {
        self.underlyings = underlyings
        self.date = date
        self.seed = seed
        self.startMinute = startMinute
        self.endMinute = endMinute
        self.profiles = profiles
        self.rate = rate
        self.historyDays = historyDays
    }

    func profile(_ symbol: String) -> UnderlyingProfile { profiles[symbol] ?? .standard(symbol) }
}

/// Why a session could not be generated.
public struct SynthError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
