import MarketCalendar
import MassiveWire
import OptionMath

/// Fills in the implied volatility and Greeks a provider left out, from the contract's mid price with
/// Black-Scholes (rate and dividend yield from `host.options`). Values the provider sent are kept.
public struct GreeksCalculator: Sendable {
    public var rate: Double
    public var dividendYield: Double

    public init(rate: Double, dividendYield: Double) {
        self.rate = rate
        self.dividendYield = dividendYield
    }

    /// Milliseconds in the 365-day year Black-Scholes time is measured in.
    static let yearMilliseconds = 365.0 * 86_400_000

    /// When a contract stops trading: 16:00 New York on its expiration date.
    static func expiryMilliseconds(_ expiration: String) -> Int64? {
        CivilDate(expiration).map { EasternTime.utcMilliseconds(date: $0, hour: 16) }
    }

    /// The price the volatility is implied from: the midpoint of a two-sided quote; with a zero bid, half the
    /// ask; with no quote, the last trade.
    static func referencePrice(_ contract: OptionContract) -> Double? {
        let bid = contract.bid ?? .nan
        let ask = contract.ask ?? .nan
        if bid > 0, ask >= bid, ask.isFinite { return (bid + ask) / 2 }
        if bid == 0, ask > 0, ask.isFinite { return ask / 2 }
        if let last = contract.last, last > 0, last.isFinite { return last }
        return nil
    }

    /// Fills missing values in place. Returns "provider" when nothing had to be computed, "computed" when
    /// something was, and nil when neither the provider nor the computation gave any.
    public func fill(_ contract: inout OptionContract, underlyingPrice: Double?, nowMilliseconds: Int64) -> String? {
        func known(_ value: Double?) -> Bool { value.map(\.isFinite) ?? false }
        let complete =
            known(contract.impliedVolatility) && known(contract.delta) && known(contract.gamma)
            && known(contract.theta) && known(contract.vega)
        let anyFromProvider =
            known(contract.impliedVolatility) || known(contract.delta) || known(contract.gamma)
            || known(contract.theta) || known(contract.vega)
        if complete { return "provider" }
        guard let spot = underlyingPrice, spot > 0, spot.isFinite,
            let expiry = Self.expiryMilliseconds(contract.expiration)
        else { return anyFromProvider ? "provider" : nil }
        let inputs = PricingInputs(
            type: contract.right == .call ? .call : .put, spot: spot, strike: contract.strike,
            years: Double(expiry - nowMilliseconds) / Self.yearMilliseconds, rate: rate, dividendYield: dividendYield)
        var computed = false
        var volatility = contract.impliedVolatility.flatMap { $0.isFinite && $0 > 0 ? $0 : nil }
        if volatility == nil, inputs.years > 0, let price = Self.referencePrice(contract),
            case .success(let solved) = ImpliedVolatility.solve(price: price, inputs: inputs)
        {
            volatility = solved
            contract.impliedVolatility = solved
            computed = true
        }
        // Expired contracts have step-function Greeks whatever the volatility.
        let sigma = inputs.years > 0 ? volatility : 0
        guard let sigma, let greeks = BlackScholes.greeks(inputs, volatility: sigma) else {
            return computed || anyFromProvider ? (computed ? "computed" : "provider") : nil
        }
        if !known(contract.delta) {
            contract.delta = greeks.delta
            computed = true
        }
        if !known(contract.gamma) {
            contract.gamma = greeks.gamma
            computed = true
        }
        if !known(contract.theta) {
            contract.theta = greeks.theta
            computed = true
        }
        if !known(contract.vega) {
            contract.vega = greeks.vega
            computed = true
        }
        return computed ? "computed" : "provider"
    }
}
