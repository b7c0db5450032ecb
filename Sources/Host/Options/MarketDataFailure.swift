import PluginAPI
import PluginKit
import Synchronization

/// Why a market-data request (chain, contract, quotes, trades, watchlist) could not be answered, with the HTTP
/// status it maps to. The mapping is the one `/api/market/aggs` uses: 404 unknown symbol, 429 rate limited (with
/// Retry-After), 502 credentials or plan refused, 503 anything else upstream.
public struct MarketDataFailure: Error, Sendable {
    public var status: Int
    public var code: String
    public var message: String
    public var retryAfterMilliseconds: Int64?

    public init(status: Int, code: String, message: String, retryAfterMilliseconds: Int64? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfterMilliseconds = retryAfterMilliseconds
    }

    static func invalid(_ message: String) -> Self { Self(status: 400, code: "invalid_request", message: message) }

    static func notFound(_ message: String) -> Self { Self(status: 404, code: "not_found", message: message) }

    /// The answer for a provider error when nothing cached can stand in.
    static func provider(_ error: PluginError, subject: String, defaultRetryMilliseconds: Int64) -> Self {
        let code = error.statusName
        switch code {
        case "rate_limited":
            return Self(
                status: 429, code: code,
                message: "the data provider is rate limiting requests and nothing is cached for \(subject)",
                retryAfterMilliseconds: error.retryAfterMilliseconds ?? defaultRetryMilliseconds)
        case "not_found": return Self(status: 404, code: code, message: "\(subject): \(error.message)")
        case "invalid": return Self(status: 400, code: code, message: "\(subject): \(error.message)")
        case "unauthorized", "not_entitled":
            return Self(status: 502, code: code, message: "\(subject): \(error.message)")
        default: return Self(status: 503, code: code, message: "\(subject): \(error.message)")
        }
    }

    /// The JSON error response, with Retry-After for 429.
    var response: HTTPResponse {
        var body: [(String, JSONValue)] = [("error", .string(code)), ("message", .string(message))]
        var headers: [(String, String)] = []
        if let wait = retryAfterMilliseconds {
            headers.append(("Retry-After", String(max(1, (wait + 999) / 1_000))))
            body.append(("retryAfterMs", .integer(wait)))
        }
        var response = HTTPResponse.json(.object(body), status: status)
        response.headers += headers
        return response
    }
}

/// Provider look-ups for the option and snapshot routes, paused for a cooldown after a rate-limited answer (the
/// provider's Retry-After, else a default), so a 429 is not answered with more requests.
public final class ProviderGate: Sendable {
    let provider: any ProviderLookups
    let clock: any HostClock
    let defaultCooldownMilliseconds: Int64
    let metrics: MetricsRegistry
    private let cooldownUntil = Mutex<Int64>(0)

    public init(
        provider: any ProviderLookups, clock: any HostClock, metrics: MetricsRegistry,
        defaultCooldownMilliseconds: Int64 = 60_000
    ) {
        self.provider = provider
        self.clock = clock
        self.metrics = metrics
        self.defaultCooldownMilliseconds = defaultCooldownMilliseconds
    }

    /// Milliseconds left in the cooldown, or nil when requests may go out.
    public var cooldownRemaining: Int64? {
        let left = cooldownUntil.withLock { $0 } - clock.nowMilliseconds
        return left > 0 ? left : nil
    }

    /// Sends the look-up unless cooling down (then answers rate limited at once). A rate-limited answer starts
    /// the cooldown.
    public func request(_ request: ProviderRequest) async -> OperationResult {
        if let wait = cooldownRemaining {
            return OperationResult(
                error: .rateLimited("cooling down after a rate-limited answer", retryAfterMilliseconds: wait))
        }
        metrics.increment(
            "markethub_options_provider_requests_total", labels: [("kind", "\(request.kind)")],
            help: "Provider look-ups made by the option, quote, trade and watchlist routes")
        let result = await provider.request(request)
        if let error = result.error, error.status == mh_status(MH_RATE_LIMITED) {
            let until = clock.nowMilliseconds + (error.retryAfterMilliseconds ?? defaultCooldownMilliseconds)
            cooldownUntil.withLock { $0 = max($0, until) }
        }
        return result
    }
}
