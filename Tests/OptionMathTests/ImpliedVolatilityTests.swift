import Foundation
import OptionMath
import Testing

@Suite("Implied volatility solver")
struct ImpliedVolatilityTests {
    @Test("Hull 15.11: a call at 1.875 with S=21, K=20, r=10 %, T=0.25 implies σ ≈ 23.5 %")
    func hullImpliedVolatility() throws {
        let inputs = PricingInputs(type: .call, spot: 21, strike: 20, years: 0.25, rate: 0.10)
        let sigma = try ImpliedVolatility.solve(price: 1.875, inputs: inputs).get()
        #expect(abs(sigma - 0.235) < 0.0005, "σ = \(sigma)")
    }

    @Test(
        "round trip: price at σ, solve back σ, across moneyness, expiries and volatilities",
        arguments: [OptionType.call, .put])
    func roundTrip(type: OptionType) throws {
        for strike in [50.0, 80, 95, 100, 105, 120, 160] {
            for years in [1.0 / 365, 7.0 / 365, 0.25, 1, 3] {
                for sigma in [0.08, 0.2, 0.45, 1.2, 3.0] {
                    let inputs = PricingInputs(
                        type: type, spot: 100, strike: strike, years: years, rate: 0.04, dividendYield: 0.01)
                    let price = BlackScholes.price(inputs, volatility: sigma)
                    // Below a tenth of a cent of time value the price carries no usable volatility information.
                    guard price - inputs.lowerBound > 1e-3 else { continue }
                    let solved = try ImpliedVolatility.solve(price: price, inputs: inputs, tolerance: 1e-12).get()
                    let repriced = BlackScholes.price(inputs, volatility: solved)
                    #expect(abs(repriced - price) < 1e-8, "K=\(strike) T=\(years) σ=\(sigma) → \(solved)")
                }
            }
        }
    }

    @Test("deep in- and out-of-the-money contracts still solve (vega is tiny there)")
    func deepMoneyness() throws {
        let deepOut = PricingInputs(type: .call, spot: 100, strike: 250, years: 0.5, rate: 0.03)
        let outPrice = BlackScholes.price(deepOut, volatility: 0.9)
        let outSigma = try ImpliedVolatility.solve(price: outPrice, inputs: deepOut).get()
        #expect(abs(outSigma - 0.9) < 1e-4)
        let deepIn = PricingInputs(type: .put, spot: 100, strike: 180, years: 0.1, rate: 0.03)
        let inPrice = BlackScholes.price(deepIn, volatility: 0.5)
        let inSigma = try ImpliedVolatility.solve(price: inPrice, inputs: deepIn).get()
        #expect(abs(BlackScholes.price(deepIn, volatility: inSigma) - inPrice) < 1e-7)
    }

    @Test("prices outside the no-arbitrage bounds, zero prices and expired contracts are refused")
    func refusals() {
        let inputs = PricingInputs(type: .call, spot: 100, strike: 90, years: 0.5, rate: 0.05)
        // Below intrinsic (a zero bid's midpoint can be).
        #expect(ImpliedVolatility.solve(price: 5, inputs: inputs) == .failure(.outsideBounds))
        // Above the spot.
        #expect(ImpliedVolatility.solve(price: 101, inputs: inputs) == .failure(.outsideBounds))
        #expect(ImpliedVolatility.solve(price: 0, inputs: inputs) == .failure(.invalidInputs))
        var expired = inputs
        expired.years = 0
        #expect(ImpliedVolatility.solve(price: 10.5, inputs: expired) == .failure(.invalidInputs))
    }

    @Test("expiry day: an hour left still gives a sensible volatility")
    func expiryDay() throws {
        let inputs = PricingInputs(type: .call, spot: 600, strike: 601, years: 1.0 / (365 * 24), rate: 0.04)
        let price = BlackScholes.price(inputs, volatility: 0.18)
        let sigma = try ImpliedVolatility.solve(price: price, inputs: inputs).get()
        #expect(abs(sigma - 0.18) < 1e-5)
    }
}
