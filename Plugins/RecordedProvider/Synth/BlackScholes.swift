import Foundation

/// European Black–Scholes values and greeks (continuous dividend yield `q`). Listed equity options are
/// American, but for the liquid, mostly out-of-the-money contracts synthesized here the European value is
/// the usual market-data approximation.
public enum BlackScholes {
    public struct Values: Sendable, Equatable {
        public var price: Double
        public var delta: Double
        public var gamma: Double
        /// Per calendar day.
        public var theta: Double
        /// Per one volatility point (0.01).
        public var vega: Double
    }

    static func cdf(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
    static func pdf(_ x: Double) -> Double { exp(-0.5 * x * x) / (2 * Double.pi).squareRoot() }

    /// Values for spot `s`, strike `k`, years to expiry `t`, volatility `sigma`, rate `r`, dividend yield `q`.
    public static func values(
        call: Bool, spot s: Double, strike k: Double, years t: Double, volatility sigma: Double, rate r: Double,
        dividendYield q: Double = 0
    ) -> Values {
        let t = max(t, 1e-6)
        let root = t.squareRoot()
        let d1 = (log(s / k) + (r - q + 0.5 * sigma * sigma) * t) / (sigma * root)
        let d2 = d1 - sigma * root
        let discount = exp(-r * t)
        let carry = exp(-q * t)
        let gamma = carry * pdf(d1) / (s * sigma * root)
        let vega = s * carry * pdf(d1) * root / 100
        if call {
            let price = s * carry * cdf(d1) - k * discount * cdf(d2)
            let theta =
                (-s * carry * pdf(d1) * sigma / (2 * root) - r * k * discount * cdf(d2) + q * s * carry * cdf(d1)) / 365
            return Values(price: max(price, 0), delta: carry * cdf(d1), gamma: gamma, theta: theta, vega: vega)
        }
        let price = k * discount * cdf(-d2) - s * carry * cdf(-d1)
        let theta =
            (-s * carry * pdf(d1) * sigma / (2 * root) + r * k * discount * cdf(-d2) - q * s * carry * cdf(-d1)) / 365
        return Values(price: max(price, 0), delta: carry * (cdf(d1) - 1), gamma: gamma, theta: theta, vega: vega)
    }
}
