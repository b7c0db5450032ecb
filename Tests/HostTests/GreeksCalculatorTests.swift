import Host
import MassiveWire
import Testing

@Suite("Greeks filled in by the host")
struct GreeksCalculatorTests {
    /// Friday 2025-12-19 15:00 UTC = 10:00 New York, expiry day of the December monthlies.
    static let expiryMorning: Int64 = 1_766_156_400_000
    let calculator = GreeksCalculator(rate: 0.04, dividendYield: 0.01)

    func contract(_ right: OptionRight, strike: Double, bid: Double?, ask: Double?) -> OptionContract {
        var contract = OptionContract(
            ticker: "O:SPY251219\(right == .call ? "C" : "P")00\(Int(strike))000", right: right, strike: strike,
            expiration: "2025-12-19")
        contract.bid = bid
        contract.ask = ask
        return contract
    }

    @Test("provider values are kept and reported as the provider's")
    func providerValuesKept() {
        var contract = contract(.call, strike: 600, bid: 5, ask: 5.2)
        contract.impliedVolatility = 0.2
        contract.delta = 0.5
        contract.gamma = 0.01
        contract.theta = -0.3
        contract.vega = 0.2
        let source = calculator.fill(&contract, underlyingPrice: 600, nowMilliseconds: Self.expiryMorning)
        #expect(source == "provider" && contract.delta == 0.5)
    }

    @Test("expiry day: six hours left still gives IV and Greeks from the mid price")
    func expiryDay() throws {
        var contract = contract(.put, strike: 600, bid: 1.1, ask: 1.3)
        let source = calculator.fill(&contract, underlyingPrice: 601, nowMilliseconds: Self.expiryMorning)
        #expect(source == "computed")
        let iv = try #require(contract.impliedVolatility)
        #expect(iv > 0.05 && iv < 1)
        #expect((contract.delta ?? 0) < 0 && (contract.delta ?? 0) > -1 && (contract.gamma ?? 0) > 0)
    }

    @Test("a zero bid uses half the ask; a price under intrinsic gives no IV but keeps going")
    func zeroBid() {
        var farOut = contract(.call, strike: 700, bid: 0, ask: 0.02)
        let nowMonthBefore = Self.expiryMorning - 30 * 86_400_000
        #expect(calculator.fill(&farOut, underlyingPrice: 600, nowMilliseconds: nowMonthBefore) == "computed")
        #expect(farOut.impliedVolatility != nil && (farOut.delta ?? 1) < 0.05)
        var underIntrinsic = contract(.call, strike: 500, bid: 0, ask: 150)
        #expect(calculator.fill(&underIntrinsic, underlyingPrice: 600, nowMilliseconds: nowMonthBefore) == nil)
        #expect(underIntrinsic.impliedVolatility == nil && underIntrinsic.delta == nil)
    }

    @Test("after the close on expiry day, Greeks are the payoff's step and IV stays unknown")
    func expired() {
        var inTheMoney = contract(.call, strike: 590, bid: 10, ask: 10.2)
        let evening = Self.expiryMorning + 7 * 3_600_000
        #expect(calculator.fill(&inTheMoney, underlyingPrice: 600, nowMilliseconds: evening) == "computed")
        #expect(inTheMoney.delta == 1 && inTheMoney.gamma == 0 && inTheMoney.impliedVolatility == nil)
    }
}
