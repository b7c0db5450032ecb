import Logging
import MarketCalendar
import Recording
import Synchronization

/// Writes what the vendor sends (stream frames and REST exchanges) into the recording format, so the recorded
/// provider can replay it. The API key never reaches the file: queries lose their `apiKey` parameter, bodies
/// are scrubbed of the key and of any `apiKey=` value (the vendor's `next_url` may carry one), and request
/// headers are not stored at all.
///
/// The header is written with the first flush, so it can list every symbol subscribed by then.
public final class MassiveRecorder: Sendable {
    private struct State {
        var writer: RecordingWriter?
        var pending: [RecordingEntry] = []
        var pendingBytes = 0
        var symbols: [String] = []
        var known: Set<String> = []
        var closed = false
        var failure: String?
        var entries = 0
        var lastFlush = ContinuousClock.now
    }

    public let path: String
    let redactor: Redactor
    let startMilliseconds: Int64
    let endMilliseconds: Int64
    let logger: Logger
    private let state: Mutex<State>

    /// Flushes to disk whenever this many bytes are waiting, or this long after the last flush.
    static let flushBytes = 1 << 20
    static let flushInterval = Duration.seconds(2)

    public init(
        path: String, redactor: Redactor, startMilliseconds: Int64, endMilliseconds: Int64? = nil,
        symbols: [String] = [], logger: Logger
    ) {
        self.path = path
        self.redactor = redactor
        self.startMilliseconds = startMilliseconds
        self.endMilliseconds = endMilliseconds ?? startMilliseconds
        self.logger = logger
        var initial = State()
        for symbol in symbols where initial.known.insert(symbol).inserted { initial.symbols.append(symbol) }
        state = Mutex(initial)
    }

    /// Symbols to list in the header (if it has not been written yet).
    public func noteSymbols(_ symbols: [String]) {
        state.withLock { state in
            for symbol in symbols where state.known.insert(symbol).inserted { state.symbols.append(symbol) }
        }
    }

    func scrub(_ bytes: [UInt8]) -> [UInt8] {
        let text = String(decoding: bytes, as: UTF8.self)
        let clean = redactor.clean(text)
        return clean == text ? bytes : Array(clean.utf8)
    }

    public func rest(_ exchange: RESTExchange) {
        var exchange = exchange
        exchange.body = scrub(exchange.body)
        exchange.path = redactor.clean(exchange.path)
        exchange.query = RESTExchange.redact(redactor.clean(exchange.query))
        append(.rest(exchange), size: exchange.body.count + 128)
    }

    public func frame(atMilliseconds: Int64, feed: String, bytes: [UInt8]) {
        append(.frame(atMilliseconds: atMilliseconds, feed: feed, bytes: scrub(bytes)), size: bytes.count + 64)
    }

    private func append(_ entry: RecordingEntry, size: Int) {
        let flushNow = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.pending.append(entry)
            state.pendingBytes += size
            state.entries += 1
            return state.pendingBytes >= Self.flushBytes || ContinuousClock.now - state.lastFlush >= Self.flushInterval
        }
        if flushNow { flush() }
    }

    /// How many entries were recorded.
    public var entryCount: Int { state.withLock { $0.entries } }

    /// Writes what is pending (creating the file and its header on the first call).
    public func flush() {
        state.withLock { state in
            guard state.failure == nil else { return }
            do throws(RecordingError) {
                if state.writer == nil {
                    let header = RecordingHeader(
                        createdAt: Self.rfc3339(startMilliseconds), source: "massive", symbols: state.symbols,
                        startMilliseconds: startMilliseconds, endMilliseconds: endMilliseconds)
                    state.writer = try RecordingWriter(path: path, header: header)
                }
                guard let writer = state.writer else { return }
                for entry in state.pending {
                    switch entry {
                    case .frame(let at, let feed, let bytes):
                        writer.appendFrame(atMilliseconds: at, feed: feed, frame: bytes)
                    case .rest(let exchange): writer.append(exchange)
                    case .fault(let fault): writer.append(fault)
                    }
                }
                state.pending.removeAll(keepingCapacity: true)
                state.pendingBytes = 0
                state.lastFlush = ContinuousClock.now
                try writer.flush()
            } catch {
                state.failure = error.message
                logger.error("recording to \(path) failed: \(error.message); recording stopped")
            }
        }
    }

    /// Flushes and closes the file; later entries are dropped.
    public func close() {
        flush()
        state.withLock { state in
            state.closed = true
            do throws(RecordingError) { try state.writer?.close() } catch {
                logger.error("closing recording \(path) failed: \(error.message)")
            }
            state.writer = nil
        }
    }

    static func rfc3339(_ milliseconds: Int64) -> String { EasternTime.rfc3339(atUTC: milliseconds) }
}
