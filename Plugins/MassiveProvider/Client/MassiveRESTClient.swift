import AsyncHTTPClient
import Foundation
import Logging
import MassiveWire
import NIOCore
import NIOHTTP1
import PluginAPI
import PluginKit
import Recording
import Synchronization

/// What a REST exchange produced, before the body is decoded.
public struct RESTAnswer: Sendable {
    public var status: Int
    public var body: [UInt8]
    public var retryAfterSeconds: Int64?
}

/// Observations the REST client reports (the plugin turns them into host metrics; labels are bounded).
public protocol RESTObserver: Sendable {
    /// One HTTP exchange finished: `endpoint` is a bounded label (`aggs`, `chain`...), `outcome` a status name.
    func exchange(endpoint: String, outcome: String, seconds: Double)
}

/// The vendor's REST API: one HTTP client, bounded concurrency, timeouts, the vendor's errors mapped onto the
/// ABI's statuses, `next_url` pagination, and the key kept out of everything but the Authorization header.
public final class MassiveRESTClient: Sendable {
    public let configuration: MassiveConfiguration
    let client: HTTPClient
    let redactor: Redactor
    let limiter: ConcurrencyLimiter
    let recorder: MassiveRecorder?
    let logger: Logger
    let observer: (any RESTObserver)?
    let now: @Sendable () -> Int64

    /// `eventLoopGroup` is the plugin's own (never the NIO singleton: each plugin carries its own NIO copy).
    public init(
        configuration: MassiveConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger,
        recorder: MassiveRecorder? = nil, observer: (any RESTObserver)? = nil,
        now: @escaping @Sendable () -> Int64
    ) {
        self.configuration = configuration
        var http = HTTPClient.Configuration()
        http.timeout = .init(
            connect: .milliseconds(min(configuration.requestTimeoutMilliseconds, 10_000)),
            read: .milliseconds(configuration.requestTimeoutMilliseconds))
        http.connectionPool = .init(idleTimeout: .seconds(60))
        http.redirectConfiguration = .disallow
        self.client = HTTPClient(eventLoopGroupProvider: .shared(eventLoopGroup), configuration: http)
        self.redactor = Redactor(configuration.apiKey)
        self.limiter = ConcurrencyLimiter(limit: configuration.maxConcurrentRequests)
        self.recorder = recorder
        self.logger = logger
        self.observer = observer
        self.now = now
    }

    deinit {
        // Normally `shutdown()` ran already (the provider's stop); this only covers an instance dropped early.
        client.shutdown { _ in }
    }

    /// Closes pooled connections. Blocking: call from a control thread, never from an event loop.
    public func shutdown() {
        do { try client.syncShutdown() } catch {
            // Already shut down.
        }
    }

    // MARK: Paths

    /// Tickers the vendor knows: letters, digits, `.`, `:` and `-` (e.g. `BRK.B`, `O:SPY251219C00650000`, `I:SPX`).
    public static func validTicker(_ ticker: String) -> Bool {
        !ticker.isEmpty && ticker.utf8.count <= 64
            && ticker.utf8.allSatisfy {
                ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 58
                    || $0 == 45
            }
    }

    static func encodeQueryValue(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case 65...90, 97...122, 48...57, 45, 46, 95, 126, 58, 44: out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
            }
        }
        return out
    }

    static func query(_ items: [(String, String)]) -> String {
        items.map { "\($0.0)=\(encodeQueryValue($0.1))" }.joined(separator: "&")
    }

    /// The path and query of a `next_url`, with any `apiKey` parameter removed: follow-up pages go to the
    /// configured base URL (like the vendor's Python client), so a proxy or a fake server keeps working.
    static func pathAndQuery(ofNextURL url: String) -> (path: String, query: String)? {
        var rest = Substring(url)
        if let scheme = rest.range(of: "://") {
            rest = rest[scheme.upperBound...]
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            rest = rest[slash...]
        }
        guard rest.hasPrefix("/") else { return nil }
        if let mark = rest.firstIndex(of: "?") {
            return (String(rest[..<mark]), RESTExchange.redact(String(rest[rest.index(after: mark)...])))
        }
        return (String(rest), "")
    }

    // MARK: Exchanges

    /// One GET. Non-2xx answers become the mapped `PluginError`; so do timeouts and network errors.
    public func get(_ path: String, query: String, endpoint: String) async throws(PluginError) -> [UInt8] {
        let answer = try await exchange(path, query: query, endpoint: endpoint)
        guard (200..<300).contains(answer.status) else {
            var error = MassiveREST.error(
                httpStatus: answer.status, body: answer.body, retryAfterSeconds: answer.retryAfterSeconds)
            error.message = redactor.clean(error.message)
            if error.status == mh_status(MH_RATE_LIMITED) {
                error.retryAfterMilliseconds =
                    error.retryAfterMilliseconds ?? configuration.defaultRetryAfterMilliseconds
            }
            throw error
        }
        return answer.body
    }

    /// One GET returning the raw answer (any status). Throws only for timeouts and network errors.
    public func exchange(_ path: String, query: String, endpoint: String) async throws(PluginError) -> RESTAnswer {
        let started = ContinuousClock.now
        let url = configuration.restURL + path + (query.isEmpty ? "" : "?" + query)
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        request.headers.add(name: "Authorization", value: "Bearer \(configuration.apiKey)")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "MarketHub-MassiveProvider/1.0")
        let timeout = TimeAmount.milliseconds(configuration.requestTimeoutMilliseconds)
        let answer: RESTAnswer
        do {
            answer = try await limiter.run {
                let response = try await client.execute(request, timeout: timeout)
                let body = try await response.body.collect(upTo: 64 << 20)
                return RESTAnswer(
                    status: Int(response.status.code), body: Array(buffer: body),
                    retryAfterSeconds: response.headers.first(name: "Retry-After").flatMap {
                        Int64($0.trimmingWhitespace())
                    })
            }
        } catch {
            let reason = redactor.clean(Self.describe(error))
            observer?.exchange(endpoint: endpoint, outcome: "unavailable", seconds: Self.seconds(since: started))
            logger.warning(
                "massive REST request failed",
                metadata: ["endpoint": "\(endpoint)", "path": "\(path)", "reason": "\(reason)"])
            throw .unavailable("the vendor did not answer \(endpoint) (\(reason))")
        }
        let outcome =
            (200..<300).contains(answer.status)
            ? "ok" : MassiveREST.error(httpStatus: answer.status, body: []).statusName
        observer?.exchange(endpoint: endpoint, outcome: outcome, seconds: Self.seconds(since: started))
        recorder?.rest(
            RESTExchange(
                atMilliseconds: now(), path: path, query: query, status: answer.status,
                retryAfterSeconds: answer.retryAfterSeconds, body: answer.body))
        if !(200..<300).contains(answer.status) {
            logger.notice(
                "massive REST answered \(answer.status)",
                metadata: ["endpoint": "\(endpoint)", "path": "\(path)"])
        }
        return answer
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout: return "timed out"
            case .remoteConnectionClosed: return "connection closed by the server"
            default: return "\(error)"
            }
        }
        if error is CancellationError { return "cancelled" }
        return "\(error)"
    }

    /// Follows `next_url` from a first page until there is none, `maxPages` is reached or `limit` values
    /// (when > 0) were read. `decode` returns each page's values and its `next_url`.
    public func paginate<Value: Sendable>(
        _ path: String, query: String, endpoint: String, limit: Int = 0,
        decode: @Sendable ([UInt8]) throws(PluginError) -> (values: [Value], next: String?)
    ) async throws(PluginError) -> [Value] {
        var values: [Value] = []
        var current: (path: String, query: String)? = (path, query)
        var pages = 0
        while let next = current {
            let (pagePath, pageQuery) = next
            let body = try await get(pagePath, query: pageQuery, endpoint: endpoint)
            let page = try decode(body)
            values.append(contentsOf: page.values)
            pages += 1
            if limit > 0, values.count >= limit { break }
            guard let next = page.next, !next.isEmpty else { break }
            guard pages < configuration.maxPages else {
                logger.warning(
                    "massive pagination stopped after \(pages) pages", metadata: ["endpoint": "\(endpoint)"])
                break
            }
            guard let parts = Self.pathAndQuery(ofNextURL: next) else {
                throw .unavailable("the vendor sent an unusable next_url for \(endpoint)")
            }
            current = parts
        }
        return values
    }
}

/// Lets at most `limit` operations run at once; later ones wait in arrival order.
final class ConcurrencyLimiter: Sendable {
    private struct State {
        var running = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let limit: Int
    private let state = Mutex(State())

    init(limit: Int) { self.limit = max(1, limit) }

    func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let go = state.withLock { state -> Bool in
                if state.running < limit {
                    state.running += 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if go { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.running -= 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
