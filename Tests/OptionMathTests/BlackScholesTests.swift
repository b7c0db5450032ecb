import Foundation
import OptionMath
import Testing

@Suite("Black-Scholes values and Greeks")
struct BlackScholesTests {
    @Test("Hull example 15.6: S=42, K=40, r=10 %, σ=20 %, T=0.5 gives c = 4.76 and p = 0.81")
    func hullPrices() {
        let call = PricingInputs(type: .call, spot: 42, strike: 40, years: 0.5, rate: 0.10)
        var put = call
        put.type = .put
        #expect(abs(BlackScholes.price(call, volatility: 0.2) - 4.76) < 0.005)
        #expect(abs(BlackScholes.price(put, volatility: 0.2) - 0.81) < 0.005)
    }

    @Test("Hull's Greeks example: S=49, K=50, r=5 %, σ=20 %, 20 weeks")
    func hullGreeks() throws {
        let inputs = PricingInputs(type: .call, spot: 49, strike: 50, years: 0.3846, rate: 0.05)
        #expect(abs(BlackScholes.price(inputs, volatility: 0.2) - 2.40) < 0.005)
        let greeks = try #require(BlackScholes.greeks(inputs, volatility: 0.2))
        #expect(abs(greeks.delta - 0.522) < 0.0005)
        #expect(abs(greeks.gamma - 0.066) < 0.0005)
        // Hull: Θ = −4.31 per year; vega 12.1 per unit of σ; rho 8.91 per unit of r.
        #expect(abs(greeks.theta * 365 - -4.31) < 0.005)
        #expect(abs(greeks.vega * 100 - 12.1) < 0.05)
        #expect(abs(greeks.rho * 100 - 8.91) < 0.005)
    }

    @Test("Hull example 17.1: an index call with a 3 % dividend yield is worth 51.83")
    func hullDividendYield() {
        let inputs = PricingInputs(
            type: .call, spot: 930, strike: 900, years: 2.0 / 12, rate: 0.08, dividendYield: 0.03)
        #expect(abs(BlackScholes.price(inputs, volatility: 0.2) - 51.83) < 0.005)
    }

    @Test("put-call parity holds: c − p = S·e^−qT − K·e^−rT", arguments: [80.0, 95, 100, 105, 130])
    func putCallParity(strike: Double) {
        let call = PricingInputs(
            type: .call, spot: 100, strike: strike, years: 0.75, rate: 0.045, dividendYield: 0.013)
        var put = call
        put.type = .put
        for sigma in [0.05, 0.2, 0.6, 1.5] {
            let difference = BlackScholes.price(call, volatility: sigma) - BlackScholes.price(put, volatility: sigma)
            let forward = 100 * exp(-0.013 * 0.75) - strike * exp(-0.045 * 0.75)
            #expect(abs(difference - forward) < 1e-9, "σ=\(sigma)")
            let callDelta = BlackScholes.greeks(call, volatility: sigma)!.delta
            let putDelta = BlackScholes.greeks(put, volatility: sigma)!.delta
            #expect(abs(callDelta - putDelta - exp(-0.013 * 0.75)) < 1e-12, "delta parity, σ=\(sigma)")
        }
    }

    @Test("at expiry the value is intrinsic and delta is the payoff's step")
    func expired() throws {
        let inTheMoney = PricingInputs(type: .put, spot: 95, strike: 100, years: 0, rate: 0.05)
        #expect(BlackScholes.price(inTheMoney, volatility: 0.3) == 5)
        let greeks = try #require(BlackScholes.greeks(inTheMoney, volatility: 0.3))
        #expect(greeks.delta == -1 && greeks.gamma == 0 && greeks.vega == 0)
        let outOfTheMoney = PricingInputs(type: .call, spot: 95, strike: 100, years: 0, rate: 0.05)
        #expect(BlackScholes.price(outOfTheMoney, volatility: 0.3) == 0)
        #expect(BlackScholes.greeks(outOfTheMoney, volatility: 0.3)?.delta == 0)
    }

    @Test("invalid inputs give NaN or nil, never a trap")
    func invalid() {
        let bad = PricingInputs(type: .call, spot: 0, strike: 100, years: 0.5)
        #expect(BlackScholes.price(bad, volatility: 0.2).isNaN)
        #expect(BlackScholes.greeks(bad, volatility: 0.2) == nil)
        let good = PricingInputs(type: .call, spot: 100, strike: 100, years: 0.5)
        #expect(BlackScholes.greeks(good, volatility: .nan) == nil)
    }
}
