import Foundation

/// Call or put, for pricing.
public enum OptionType: String, Sendable, Hashable {
    case call
    case put
}

/// What Black-Scholes needs besides volatility: spot, strike, time and carry.
public struct PricingInputs: Sendable, Equatable {
    public var type: OptionType
    /// Underlying price.
    public var spot: Double
    public var strike: Double
    /// Years to expiry (calendar time, 365-day year). Zero or less means expired.
    public var years: Double
    /// Continuously compounded risk-free rate (0.05 = 5 %).
    public var rate: Double
    /// Continuous dividend yield.
    public var dividendYield: Double

    public init(
        type: OptionType, spot: Double, strike: Double, years: Double, rate: Double = 0, dividendYield: Double = 0
    ) {
        self.type = type
        self.spot = spot
        self.strike = strike
        self.years = years
        self.rate = rate
        self.dividendYield = dividendYield
    }

    /// True when the inputs can be priced at all (positive spot and strike, finite numbers).
    public var isValid: Bool {
        spot > 0 && strike > 0 && spot.isFinite && strike.isFinite && years.isFinite && rate.isFinite
            && dividendYield.isFinite
    }

    /// The value at expiry: max(S − K, 0) for a call, max(K − S, 0) for a put.
    public var intrinsic: Double { type == .call ? max(spot - strike, 0) : max(strike - spot, 0) }

    /// The no-arbitrage lower bound of a European option: max(S·e^−qT − K·e^−rT, 0) for a call, and the mirror for a
    /// put.
    public var lowerBound: Double {
        let t = max(years, 0)
        let forwardSpot = spot * exp(-dividendYield * t)
        let discountedStrike = strike * exp(-rate * t)
        return type == .call ? max(forwardSpot - discountedStrike, 0) : max(discountedStrike - forwardSpot, 0)
    }

    /// The no-arbitrage upper bound: S·e^−qT for a call, K·e^−rT for a put.
    public var upperBound: Double {
        let t = max(years, 0)
        return type == .call ? spot * exp(-dividendYield * t) : strike * exp(-rate * t)
    }
}

/// Sensitivities in the units option screens use.
public struct Greeks: Sendable, Equatable {
    public var delta: Double
    public var gamma: Double
    /// Value change per calendar day (negative for a long option as time passes).
    public var theta: Double
    /// Value change per one volatility point (0.01).
    public var vega: Double
    /// Value change per one rate point (0.01).
    public var rho: Double

    public init(delta: Double, gamma: Double, theta: Double, vega: Double, rho: Double) {
        self.delta = delta
        self.gamma = gamma
        self.theta = theta
        self.vega = vega
        self.rho = rho
    }
}

/// European Black-Scholes-Merton values with a continuous dividend yield (Hull, chapter 15 and 17). Listed equity
/// options are American; for the rates and yields seen today the European value is the usual market-data
/// approximation, and it is what vendors quote Greeks from.
public enum BlackScholes {
    /// The standard normal cumulative distribution.
    public static func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

    /// The standard normal density.
    public static func normalPDF(_ x: Double) -> Double { exp(-0.5 * x * x) / (2 * Double.pi).squareRoot() }

    static func d1d2(_ inputs: PricingInputs, volatility sigma: Double) -> (Double, Double) {
        let root = inputs.years.squareRoot()
        let d1 =
            (log(inputs.spot / inputs.strike) + (inputs.rate - inputs.dividendYield + 0.5 * sigma * sigma)
                * inputs.years)
            / (sigma * root)
        return (d1, d1 - sigma * root)
    }

    /// The option's value at `volatility` (annualised, 0.2 = 20 %). At or after expiry, or with zero volatility,
    /// the discounted forward intrinsic value.
    public static func price(_ inputs: PricingInputs, volatility: Double) -> Double {
        guard inputs.isValid else { return .nan }
        guard inputs.years > 0, volatility > 0 else {
            return inputs.years > 0 ? inputs.lowerBound : inputs.intrinsic
        }
        let (d1, d2) = d1d2(inputs, volatility: volatility)
        let carry = exp(-inputs.dividendYield * inputs.years)
        let discount = exp(-inputs.rate * inputs.years)
        switch inputs.type {
        case .call: return inputs.spot * carry * normalCDF(d1) - inputs.strike * discount * normalCDF(d2)
        case .put: return inputs.strike * discount * normalCDF(-d2) - inputs.spot * carry * normalCDF(-d1)
        }
    }

    /// Vega per unit of volatility (1.0 = 100 points), the derivative the solver uses.
    public static func rawVega(_ inputs: PricingInputs, volatility: Double) -> Double {
        guard inputs.isValid, inputs.years > 0, volatility > 0 else { return 0 }
        let (d1, _) = d1d2(inputs, volatility: volatility)
        return inputs.spot * exp(-inputs.dividendYield * inputs.years) * normalPDF(d1) * inputs.years.squareRoot()
    }

    /// Greeks at `volatility`. At or after expiry (or with no volatility) delta is the step of the payoff and the
    /// others are zero.
    public static func greeks(_ inputs: PricingInputs, volatility sigma: Double) -> Greeks? {
        guard inputs.isValid, sigma.isFinite, sigma >= 0 else { return nil }
        guard inputs.years > 0, sigma > 0 else {
            let inTheMoney = inputs.intrinsic > 0
            let delta: Double = inTheMoney ? (inputs.type == .call ? 1 : -1) : 0
            return Greeks(delta: delta, gamma: 0, theta: 0, vega: 0, rho: 0)
        }
        let s = inputs.spot
        let k = inputs.strike
        let t = inputs.years
        let r = inputs.rate
        let q = inputs.dividendYield
        let (d1, d2) = d1d2(inputs, volatility: sigma)
        let root = t.squareRoot()
        let carry = exp(-q * t)
        let discount = exp(-r * t)
        let density = normalPDF(d1)
        let gamma = carry * density / (s * sigma * root)
        let vega = s * carry * density * root / 100
        let decay = -s * carry * density * sigma / (2 * root)
        switch inputs.type {
        case .call:
            let theta = decay - r * k * discount * normalCDF(d2) + q * s * carry * normalCDF(d1)
            return Greeks(
                delta: carry * normalCDF(d1), gamma: gamma, theta: theta / 365, vega: vega,
                rho: k * t * discount * normalCDF(d2) / 100)
        case .put:
            let theta = decay + r * k * discount * normalCDF(-d2) - q * s * carry * normalCDF(-d1)
            return Greeks(
                delta: carry * (normalCDF(d1) - 1), gamma: gamma, theta: theta / 365, vega: vega,
                rho: -k * t * discount * normalCDF(-d2) / 100)
        }
    }
}
