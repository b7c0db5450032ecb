import Foundation

/// Implied volatility: the Black-Scholes volatility that reproduces an observed option price.
///
/// The solver is a bracketed Newton iteration (Numerical Recipes' `rtsafe` idea): the price is increasing in
/// volatility, so a bracket [low, high] with price(low) < target < price(high) always holds the root; each step
/// tries Newton with vega and falls back to bisection when Newton would leave the bracket or is converging too
/// slowly (vega vanishes deep in or out of the money). It therefore always converges when a solution exists.
public enum ImpliedVolatility {
    /// Why no volatility was found.
    public enum Failure: Error, Sendable, Equatable {
        /// Spot, strike or price not positive and finite, or no time left.
        case invalidInputs
        /// The price is below the no-arbitrage lower bound (time value < 0) or above the upper bound.
        case outsideBounds
        /// The price implies a volatility outside [minimumVolatility, maximumVolatility].
        case outOfRange
    }

    /// Smallest volatility reported (0.1 %).
    public static let minimumVolatility = 0.001
    /// Largest volatility reported (2,000 %).
    public static let maximumVolatility = 20.0

    /// Solves for the volatility. `tolerance` is on the price.
    public static func solve(
        price target: Double, inputs: PricingInputs, tolerance: Double = 1e-8, maximumIterations: Int = 200
    ) -> Result<Double, Failure> {
        guard inputs.isValid, target.isFinite, target > 0, inputs.years > 0 else { return .failure(.invalidInputs) }
        let lower = inputs.lowerBound
        let upper = inputs.upperBound
        // A price at the bound within rounding still has no time value to explain.
        guard target > lower + 1e-12, target < upper else { return .failure(.outsideBounds) }
        func f(_ sigma: Double) -> Double { BlackScholes.price(inputs, volatility: sigma) - target }
        var low = minimumVolatility
        var high = maximumVolatility
        let fLow = f(low)
        let fHigh = f(high)
        if fLow > 0 { return .failure(.outOfRange) }
        if fHigh < 0 { return .failure(.outOfRange) }
        if abs(fLow) <= tolerance { return .success(low) }
        if abs(fHigh) <= tolerance { return .success(high) }
        // Start from the Brenner-Subrahmanyam at-the-money approximation, clamped into the bracket.
        var sigma = (2 * Double.pi / inputs.years).squareRoot() * target / inputs.spot
        if !(sigma > low && sigma < high) { sigma = 0.5 * (low + high) }
        var previousStep = high - low
        var step = previousStep
        for _ in 0..<maximumIterations {
            let value = f(sigma)
            if abs(value) <= tolerance { return .success(sigma) }
            if value < 0 { low = sigma } else { high = sigma }
            let vega = BlackScholes.rawVega(inputs, volatility: sigma)
            let newton = vega > 1e-14 ? sigma - value / vega : .nan
            // Newton only when it stays strictly inside the bracket and at least halves the step of two ago.
            if newton.isFinite, newton > low, newton < high, abs(newton - sigma) < 0.5 * abs(previousStep) {
                previousStep = step
                step = newton - sigma
                sigma = newton
            } else {
                previousStep = step
                step = 0.5 * (high - low)
                sigma = low + step
            }
            if high - low < 1e-12 { return .success(sigma) }
        }
        return .success(sigma)
    }
}
