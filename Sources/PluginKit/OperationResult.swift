import PluginAPI

/// The Swift form of `mh_result`: what an asynchronous provider or cache operation produced.
public struct OperationResult: Sendable {
    public var status: mh_status
    public var message: String
    /// Milliseconds to wait after MH_RATE_LIMITED; nil when unknown.
    public var retryAfterMilliseconds: Int64?
    public var json: [UInt8]
    public var updatedMilliseconds: Int64
    public var bars: [Bar]
    public var quotes: [Quote]
    public var trades: [Trade]
    public var lastQuotes: [LastQuote]

    public init(
        status: mh_status = mh_status(MH_OK), message: String = "", retryAfterMilliseconds: Int64? = nil,
        json: [UInt8] = [], updatedMilliseconds: Int64 = 0, bars: [Bar] = [], quotes: [Quote] = [],
        trades: [Trade] = [], lastQuotes: [LastQuote] = []
    ) {
        self.status = status
        self.message = message
        self.retryAfterMilliseconds = retryAfterMilliseconds
        self.json = json
        self.updatedMilliseconds = updatedMilliseconds
        self.bars = bars
        self.quotes = quotes
        self.trades = trades
        self.lastQuotes = lastQuotes
    }

    public init(error: PluginError) {
        self.init(status: error.status, message: error.message, retryAfterMilliseconds: error.retryAfterMilliseconds)
    }

    public var isOK: Bool { status == mh_status(MH_OK) }

    /// The error this result carries, or nil when it succeeded.
    public var error: PluginError? {
        isOK ? nil : PluginError(status, message, retryAfterMilliseconds: retryAfterMilliseconds)
    }

    /// Copies a borrowed C result. Malformed record arrays turn the result into an MH_INTERNAL error.
    public init(_ result: UnsafePointer<mh_result>?) {
        guard let result, result.pointee.struct_size >= UInt32(MemoryLayout<UInt32>.size * 2) else {
            self.init(status: mh_status(MH_INTERNAL), message: "plugin completed with a missing result")
            return
        }
        guard let copied = Records.read(UnsafeRawPointer(result), count: 1, as: mh_result.self, minimumSize: 8)?.first
        else {
            self.init(status: mh_status(MH_INTERNAL), message: "plugin completed with a malformed result")
            return
        }
        let c = copied
        let bars = Records.bars(c.bars, count: c.bar_count)
        let quotes = Records.quotes(c.quotes, count: c.quote_count)
        let trades = Records.trades(c.trades, count: c.trade_count)
        let lastQuotes = Records.lastQuotes(c.last_quotes, count: c.last_quote_count)
        guard let bars, let quotes, let trades, let lastQuotes else {
            self.init(status: mh_status(MH_INTERNAL), message: "plugin completed with a malformed record array")
            return
        }
        self.init(
            status: c.status, message: String(c.message),
            retryAfterMilliseconds: c.retry_after_ms >= 0 ? c.retry_after_ms : nil, json: c.json.array,
            updatedMilliseconds: c.updated_ms, bars: bars, quotes: quotes, trades: trades, lastQuotes: lastQuotes
        )
    }

    /// Builds a C result borrowing this value and passes it to `body`.
    public func withCResult<R>(_ body: (UnsafePointer<mh_result>) throws -> R) rethrows -> R {
        try withMHString(message) { message in
            try withMHBytes(json) { json in
                try Records.withBars(bars) { bars, barCount in
                    try Records.withQuotes(quotes) { quotes, quoteCount in
                        try Records.withTrades(trades) { trades, tradeCount in
                            try Records.withLastQuotes(lastQuotes) { lastQuotes, lastQuoteCount in
                                var result = mh_result()
                                result.struct_size = UInt32(MemoryLayout<mh_result>.stride)
                                result.status = status
                                result.retry_after_ms = retryAfterMilliseconds ?? -1
                                result.message = message
                                result.json = json
                                result.updated_ms = updatedMilliseconds
                                result.bars = bars
                                result.bar_count = barCount
                                result.quotes = quotes
                                result.quote_count = quoteCount
                                result.trades = trades
                                result.trade_count = tradeCount
                                result.last_quotes = lastQuotes
                                result.last_quote_count = lastQuoteCount
                                return try withUnsafePointer(to: &result) { try body($0) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A completion callback handed to a plugin operation. Completing it more than once is a programming error
/// that this type turns into a logged no-op instead of a double call into the host.
public final class Completion: Sendable {
    private let done: mh_done_fn
    nonisolated(unsafe) private let context: UnsafeMutableRawPointer?
    private let completed = AtomicFlag()

    /// `context` is the host's opaque pointer; it is only ever passed back to `done`, never dereferenced.
    public init(done: mh_done_fn, context: UnsafeMutableRawPointer?) {
        self.done = done
        self.context = context
    }

    /// Completes with `result`. Returns false (and does nothing) if already completed.
    @discardableResult
    public func complete(_ result: OperationResult) -> Bool {
        guard completed.setOnce() else { return false }
        result.withCResult { done(context, $0) }
        return true
    }

    @discardableResult
    public func fail(_ error: PluginError) -> Bool { complete(OperationResult(error: error)) }

    /// Completes with the outcome of `body`: its result, or its error mapped to a status.
    @discardableResult
    public func complete(catching body: () throws -> OperationResult) -> Bool {
        do {
            return complete(try body())
        } catch let error as PluginError {
            return fail(error)
        } catch {
            return fail(.internalError("\(error)"))
        }
    }
}
