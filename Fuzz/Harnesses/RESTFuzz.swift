// libFuzzer harness: the REST route and query parsers (path matching, query decoding, /api/market/aggs and
// /api/options/chain parameters). Input: `<path>\n<query>`.
// Invariants: accepted values are within their documented ranges and accepted tickers are already normalized.
@testable import Host

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzREST(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let parts = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
    let path = String(parts[0])
    let query = parts.count > 1 ? String(parts[1]) : ""

    let segments = path.split(separator: "/", omittingEmptySubsequences: false)
    let pattern = "/api/options/chain/:ticker".split(separator: "/", omittingEmptySubsequences: false)
    let captured = HTTPRouter.match(pattern, segments)
    if let ticker = captured?["ticker"] { check(!ticker.isEmpty, "an empty path parameter matched") }

    let parameters = RouteParameters(path: captured ?? ["ticker": path], query: query)
    _ = parameters.query("ticker")

    if let aggs = try? AggregatesRoutes.parse(parameters) {
        check(SymbolRules.normalize(aggs.ticker) == aggs.ticker, "aggs ticker not normalized")
        check((1...1_000).contains(aggs.multiplier), "multiplier out of range")
        check((1...50_000).contains(aggs.limit), "limit out of range")
        if let from = aggs.fromMilliseconds, let to = aggs.toMilliseconds { check(from <= to, "from > to") }
    }
    if let chain = try? OptionsRoutes.chainQuery(parameters) {
        check(SymbolRules.normalize(chain.underlying) == chain.underlying, "underlying not normalized")
        check(!SymbolRules.isOption(chain.underlying), "an option accepted as underlying")
        check(chain.expirations.count <= 12, "too many expirations")
        if let low = chain.strikeMinimum, let high = chain.strikeMaximum { check(low <= high, "min > max") }
    }
    return 0
}

/// A failed invariant stops the run with its message (unlike `precondition`, also in optimized builds).
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError(message()) }
}
