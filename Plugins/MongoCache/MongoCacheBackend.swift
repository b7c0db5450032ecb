import CMongoc
import CachePluginKit
import Logging
import NIOPosix
import PluginAPI
import PluginKit
import Synchronization

/// The MongoDB cache: the spec's collections (`option_aggregates`, `option_chain_snapshots`, `option_quotes`,
/// `selections`) through libmongoc. Every driver call runs on this cache's own `NIOThreadPool`, never on an
/// event loop or the Swift cooperative pool.
///
/// When the server is unreachable (at start or later) the cache reports degraded health, fails calls at once
/// with "unavailable" (one call per `retryIntervalMs` tries the server), and recovers by itself when the
/// server answers again: health checks also probe it in the background.
final class MongoCacheBackend: CacheBackend {
    static let aggregates = "option_aggregates"
    static let chains = "option_chain_snapshots"
    static let quotes = "option_quotes"
    static let selections = "selections"

    let configuration: MongoCacheConfiguration
    let host: PluginHost
    let logger: Logger
    let connection: MongoConnection
    private let threadPool: NIOThreadPool

    private struct State {
        var reachable: Bool?
        var indexesReady = false
        var lastError = "not connected yet"
        var lastAttemptMilliseconds: Int64 = .min
        var probing = false
        var stopped = false
    }

    private let state = Mutex(State())

    init(configuration: MongoCacheConfiguration, host: PluginHost) throws(PluginError) {
        self.configuration = configuration
        self.host = host
        logger = host.logger(label: "markethub.mongo-cache")
        connection = try MongoConnection(configuration: configuration)
        threadPool = NIOThreadPool(numberOfThreads: configuration.maxPoolSize)
        threadPool.start()
    }

    private var monotonicMilliseconds: Int64 { host.monotonicNanoseconds / 1_000_000 }

    // MARK: Lifecycle

    func start() async throws(PluginError) {
        do throws(PluginError) {
            try await prepare()
            logger.info(
                "mongo cache connected",
                metadata: ["mongo.uri": "\(connection.displayURI)", "mongo.database": "\(connection.database)"]
            )
        } catch {
            logger.error(
                "mongo cache unavailable; serving without it and retrying",
                metadata: ["mongo.uri": "\(connection.displayURI)", "error": "\(error.message)"]
            )
        }
    }

    func stop() async {
        state.withLock { $0.stopped = true }
        try? await threadPool.shutdownGracefully()
    }

    func health() -> (state: mh_health_state, detail: String) {
        let snapshot = state.withLock { $0 }
        if snapshot.stopped { return (mh_health_state(MH_HEALTH_DOWN), "stopped") }
        if snapshot.reachable == true && snapshot.indexesReady {
            return (mh_health_state(MH_HEALTH_OK), "mongodb \(connection.database)")
        }
        probeInBackgroundIfDue()
        return (mh_health_state(MH_HEALTH_DEGRADED), "unavailable: \(snapshot.lastError)")
    }

    /// Pings and creates the indexes (idempotent); marks the cache reachable and ready on success.
    private func prepare() async throws(PluginError) {
        let ttlSeconds = Int32(clamping: configuration.chainTimeToLiveMilliseconds / 1_000)
        do throws(PluginError) {
            try await blocking("connect", gated: false) { connection throws(MongoError) in
                try connection.ping()
                try MongoIndexes.create(on: connection, chainTimeToLiveSeconds: ttlSeconds)
            }
        } catch {
            // Reachable but refusing (credentials, an index with other options): health says why. Unreachable
            // servers already left the driver's reason there.
            if error.status != mh_status(MH_UNAVAILABLE) { state.withLock { $0.lastError = error.message } }
            throw error
        }
        state.withLock { $0.indexesReady = true }
    }

    private func probeInBackgroundIfDue() {
        let now = monotonicMilliseconds
        let due = state.withLock { state -> Bool in
            guard !state.stopped, !state.probing,
                now - state.lastAttemptMilliseconds >= configuration.retryIntervalMilliseconds
            else { return false }
            state.probing = true
            return true
        }
        guard due else { return }
        Task {
            try? await self.prepare()
            self.state.withLock { $0.probing = false }
        }
    }

    // MARK: Running driver calls

    /// Runs `body` on the thread pool. Unless `gated` is false, a call made while the server is known to be
    /// unreachable fails at once, except one per retry interval, which tries again (after preparing the
    /// collections if that never succeeded).
    private func blocking<T: Sendable>(
        _ what: String, gated: Bool = true,
        _ body: @escaping @Sendable (MongoConnection) throws(MongoError) -> T
    ) async throws(PluginError) -> T {
        let now = monotonicMilliseconds
        let decision = state.withLock { state -> (fail: PluginError?, prepare: Bool) in
            if state.stopped { return (.unavailable("mongo cache is stopped"), false) }
            if gated, state.reachable == false,
                now - state.lastAttemptMilliseconds < configuration.retryIntervalMilliseconds
            {
                return (.unavailable("MongoDB unreachable: \(state.lastError)"), false)
            }
            state.lastAttemptMilliseconds = now
            return (nil, gated && !state.indexesReady)
        }
        if let failure = decision.fail { throw failure }
        if decision.prepare { try await prepare() }
        let connection = self.connection
        let outcome: Result<T, MongoError>
        do {
            outcome = try await threadPool.runIfActive {
                do throws(MongoError) {
                    return .success(try body(connection))
                } catch {
                    return .failure(error)
                }
            }
        } catch {
            throw .unavailable("mongo cache is stopping")
        }
        switch outcome {
        case .success(let value):
            markReachable()
            return value
        case .failure(let error):
            throw classify(error, what)
        }
    }

    private func markReachable() {
        let recovered = state.withLock { state -> Bool in
            defer { state.reachable = true }
            return state.reachable == false
        }
        if recovered {
            logger.notice("mongo cache reachable again", metadata: ["mongo.uri": "\(connection.displayURI)"])
        }
    }

    /// Maps a driver error to a status; unreachable servers mark the cache degraded. Messages are scrubbed of
    /// the URI's password.
    private func classify(_ error: MongoError, _ what: String) -> PluginError {
        let message = connection.redaction.scrub(error.message)
        if error.isUnreachable {
            let first = state.withLock { state -> Bool in
                defer {
                    state.reachable = false
                    state.lastError = message
                }
                return state.reachable != false
            }
            if first {
                logger.warning(
                    "mongo cache unreachable; failing calls fast until it answers",
                    metadata: ["mongo.uri": "\(connection.displayURI)", "error": "\(message)"]
                )
            }
            return .unavailable("MongoDB unreachable during \(what): \(message)")
        }
        markReachable()
        if error.isAuthentication { return .unauthorized("MongoDB refused the credentials: \(message)") }
        return .internalError("MongoDB \(what) failed: \(message) (code \(error.code))")
    }

    /// Writes every operation, retrying the ones refused by a unique index (a concurrent writer inserted the
    /// same key first) up to `writeRetries` times. Returns the refusals that remain.
    private static func replaceWithRetries(
        _ connection: MongoConnection, _ collection: String, retries: Int,
        _ build: () -> [(filter: BSONDocument, replacement: BSONDocument)]
    ) throws(MongoError) -> [MongoConnection.WriteFailure] {
        var operations = build()
        var attempt = 0
        while true {
            let failures: [MongoConnection.WriteFailure]
            do throws(MongoError) {
                failures = try connection.replaceAll(collection, operations)
            } catch  where error.domain == MONGOC_ERROR_STREAM.rawValue && attempt < retries {
                // A connection cut mid-batch: upserts are idempotent, so the whole batch is sent again.
                attempt += 1
                continue
            }
            let retryable = failures.filter { $0.code == 11000 && operations.indices.contains($0.index) }
            if failures.isEmpty || attempt >= retries || retryable.count != failures.count { return failures }
            operations = retryable.map { operations[$0.index] }
            attempt += 1
        }
    }

    private func report(_ failures: [MongoConnection.WriteFailure], _ what: String) throws(PluginError) {
        guard let first = failures.first else { return }
        let message = connection.redaction.scrub(first.message)
        logger.error(
            "mongo cache refused writes", metadata: ["operation": "\(what)", "count": "\(failures.count)"])
        throw .internalError("MongoDB refused \(failures.count) \(what) write(s): \(message) (code \(first.code))")
    }

    // MARK: Bars

    func putBars(_ bars: [Bar], now: Int64) async throws(PluginError) {
        let retries = configuration.writeRetries
        for start in stride(from: 0, to: bars.count, by: configuration.batchSize) {
            let chunk = Array(bars[start..<min(start + configuration.batchSize, bars.count)])
            let failures = try await blocking("put_bars") { connection throws(MongoError) in
                try Self.replaceWithRetries(connection, Self.aggregates, retries: retries) {
                    chunk.map { bar in
                        let id = MongoDocuments.barID(bar)
                        return (
                            filter: BSONDocument().append("_id", id),
                            replacement: MongoDocuments.bar(bar, id: id, now: now)
                        )
                    }
                }
            }
            try report(failures, "bar")
        }
    }

    func getBars(_ query: CacheBarQuery) async throws(PluginError) -> (bars: [Bar], note: String) {
        let (bars, corrupt) = try await blocking("get_bars") { connection throws(MongoError) in
            let range = BSONDocument()
            if query.fromMilliseconds > 0 { range.append("$gte", int64: query.fromMilliseconds) }
            if query.toMilliseconds > 0 { range.append("$lte", int64: query.toMilliseconds) }
            let filter = BSONDocument().append("ticker", query.symbol).append("timespan", query.timespan.name)
                .append("multiplier", int32: query.multiplier)
            if query.fromMilliseconds > 0 || query.toMilliseconds > 0 { filter.append("timestamp", document: range) }
            let options = BSONDocument().append(
                "sort", document: BSONDocument().append("timestamp", int32: query.descending ? -1 : 1))
            if query.limit > 0 { options.append("limit", int64: Int64(query.limit)) }
            var bars: [Bar] = []
            var corrupt = 0
            try connection.find(Self.aggregates, filter: filter, options: options) { fields in
                if let bar = MongoDocuments.bar(fields, query: query) {
                    bars.append(bar)
                } else {
                    corrupt += 1
                }
            }
            return (bars, corrupt)
        }
        if corrupt > 0 {
            logger.warning(
                "skipped corrupt bar documents", metadata: ["symbol": "\(query.symbol)", "documents": "\(corrupt)"])
        }
        return (bars, corrupt > 0 ? "skipped \(corrupt) corrupt stored bar(s)" : "")
    }

    // MARK: Chains

    func putChain(underlying: String, expiration: String, json: [UInt8], now: Int64) async throws(PluginError) {
        try MongoDocuments.validateExpiration(expiration)
        let text = String(decoding: json, as: UTF8.self)
        let failures = try await blocking("put_chain") { connection throws(MongoError) in
            try connection.replaceAll(
                Self.chains,
                [
                    MongoDocuments.chainWrite(underlying: underlying, expiration: expiration, data: text, now: now)
                ])
        }
        try report(failures, "chain snapshot")
    }

    func getChain(
        underlying: String, expiration: String, maximumAge: Int64, now: Int64
    ) async throws(PluginError) -> StoredDocument? {
        let id = MongoDocuments.chainID(underlying: underlying, expiration: expiration)
        let found = try await blocking("get_chain") { connection throws(MongoError) in
            var document: (data: String?, updated: Int64?)?
            try connection.find(
                Self.chains, filter: BSONDocument().append("_id", id),
                options: BSONDocument().append("limit", int64: 1)
            ) { fields in
                document = (fields.string("data"), fields.date("updatedAt"))
            }
            return document
        }
        guard let found else { return nil }
        guard let data = found.data, let updated = found.updated else {
            throw .internalError(
                "the stored chain snapshot for \(underlying) \(expiration) is corrupt (data must be a string and updatedAt a date)"
            )
        }
        let limit =
            maximumAge > 0
            ? min(maximumAge, configuration.chainTimeToLiveMilliseconds) : configuration.chainTimeToLiveMilliseconds
        guard now - updated <= limit else { return nil }
        return StoredDocument(json: Array(data.utf8), updatedMilliseconds: updated)
    }

    // MARK: Last quotes

    func putLastQuotes(_ quotes: [LastQuote]) async throws(PluginError) {
        guard !quotes.isEmpty else { return }
        var newest: [String: LastQuote] = [:]
        for quote in quotes where quote.updatedMilliseconds >= (newest[quote.symbol]?.updatedMilliseconds ?? .min) {
            newest[quote.symbol] = quote
        }
        let candidates = Array(newest.values)
        let retries = max(configuration.writeRetries, 1)
        let batchSize = configuration.batchSize
        let failures = try await blocking("put_last_quotes") { connection throws(MongoError) in
            var failures: [MongoConnection.WriteFailure] = []
            for start in stride(from: 0, to: candidates.count, by: batchSize) {
                let chunk = Array(candidates[start..<min(start + batchSize, candidates.count)])
                // Newer wins: skip quotes older than the stored ones; the filter on updatedAt closes the race
                // on servers that honour it (a stale write then fails with 11000 and is dropped on purpose).
                var stored: [String: Int64] = [:]
                try connection.find(
                    Self.quotes,
                    filter: BSONDocument().append(
                        "_id", document: BSONDocument().append("$in", strings: chunk.map(\.symbol))),
                    options: BSONDocument().append("projection", document: BSONDocument().append("updatedAt", int32: 1))
                ) { fields in
                    if let id = fields.string("_id"), let updated = fields.date("updatedAt") { stored[id] = updated }
                }
                let fresh = chunk.filter { $0.updatedMilliseconds >= (stored[$0.symbol] ?? .min) }
                failures += try Self.replaceWithRetries(connection, Self.quotes, retries: retries) {
                    fresh.map(MongoDocuments.lastQuoteWrite)
                }
            }
            return failures
        }
        // 11000 after the retries means the stored quote is newer: kept on purpose. Anything else is reported.
        try report(failures.filter { $0.code != 11000 }, "last quote")
    }

    func getLastQuotes(_ symbols: [String]) async throws(PluginError) -> [LastQuote] {
        guard !symbols.isEmpty else { return [] }
        let batchSize = configuration.batchSize
        let (quotes, corrupt) = try await blocking("get_last_quotes") { connection throws(MongoError) in
            var quotes: [LastQuote] = []
            var corrupt = 0
            for start in stride(from: 0, to: symbols.count, by: batchSize) {
                let slice = Array(symbols[start..<min(start + batchSize, symbols.count)])
                try connection.find(
                    Self.quotes,
                    filter: BSONDocument().append("_id", document: BSONDocument().append("$in", strings: slice)),
                    options: nil
                ) { fields in
                    if let quote = MongoDocuments.lastQuote(fields) {
                        quotes.append(quote)
                    } else {
                        corrupt += 1
                    }
                }
            }
            return (quotes, corrupt)
        }
        if corrupt > 0 { logger.warning("skipped corrupt quote documents", metadata: ["documents": "\(corrupt)"]) }
        return quotes
    }

    // MARK: Selections

    func putSelection(key: String, json: [UInt8], now: Int64) async throws(PluginError) {
        let text = String(decoding: json, as: UTF8.self)
        let failures = try await blocking("put_selection") { connection throws(MongoError) in
            try connection.replaceAll(Self.selections, [MongoDocuments.selectionWrite(key: key, data: text, now: now)])
        }
        try report(failures, "selection")
    }

    func getSelection(key: String) async throws(PluginError) -> StoredDocument? {
        let found = try await blocking("get_selection") { connection throws(MongoError) in
            var document: (data: String?, updated: Int64?)?
            try connection.find(
                Self.selections, filter: BSONDocument().append("_id", key),
                options: BSONDocument().append("limit", int64: 1)
            ) { fields in
                document = (fields.string("data"), fields.date("updatedAt"))
            }
            return document
        }
        guard let found else { return nil }
        guard let data = found.data, let updated = found.updated else {
            throw .internalError(
                "the stored selection '\(key)' is corrupt (data must be a string and updatedAt a date)")
        }
        return StoredDocument(json: Array(data.utf8), updatedMilliseconds: updated)
    }
}
