import MarketCalendar
import MassiveWire
import OptionMath

/// Implied volatility and Greeks for a replayed contract at the replay's moment.
///
/// A recording holds the vendor's chain snapshot as it was when it was taken (the synthetic sessions take it
/// at the open), while the stream keeps moving the quotes. The vendor computes a snapshot's Greeks when it is
/// requested, so a replay does the same: the volatility is implied from the replayed quote's midpoint at the
/// replayed underlying price and time to expiry, and the Greeks follow from it. Contracts the recording left
/// without Greeks (the vendor omits them deep in the money) stay without them.
enum ReplayGreeks {
    /// The risk-free rate the replay prices with (the synthetic sessions' rate).
    static let rate = 0.04
    static let yearMilliseconds = 365.0 * 86_400_000

    /// Refreshes `contract`'s volatility and Greeks for `spot` at `now` (milliseconds on the recording's own
    /// timeline, the one its expiration dates belong to).
    static func refresh(_ contract: inout OptionContract, spot: Double, now: Int64) {
        guard contract.delta != nil, spot > 0, spot.isFinite,
            let expiration = CivilDate(contract.expiration)
        else { return }
        let expiry = EasternTime.utcMilliseconds(date: expiration, hour: 16)
        let inputs = PricingInputs(
            type: contract.right == .call ? .call : .put, spot: spot, strike: contract.strike,
            years: Double(expiry - now) / yearMilliseconds, rate: rate)
        guard inputs.years > 0 else { return }
        var volatility = contract.impliedVolatility.flatMap { $0 > 0 && $0.isFinite ? $0 : nil }
        if let bid = contract.bid, let ask = contract.ask, bid > 0, ask >= bid,
            case .success(let implied) = ImpliedVolatility.solve(price: (bid + ask) / 2, inputs: inputs)
        {
            volatility = implied
        }
        guard let volatility, let greeks = BlackScholes.greeks(inputs, volatility: volatility) else { return }
        // Rounded as the vendor's snapshots are.
        func rounded(_ value: Double, _ places: Double) -> Double { (value * places).rounded() / places }
        contract.impliedVolatility = rounded(volatility, 1e4)
        contract.delta = rounded(greeks.delta, 1e4)
        contract.gamma = rounded(greeks.gamma, 1e6)
        contract.theta = rounded(greeks.theta, 1e4)
        contract.vega = rounded(greeks.vega, 1e4)
    }
}
