import CachePluginKit
import Foundation
import Logging
import NIOCore
import NIOPosix
import PluginAPI
import PluginKit
import PluginKitNIO
import SQLiteNIO
import Synchronization

/// The embedded durable cache: one SQLite file (WAL mode) with the spec's collections as tables and their
/// unique keys as primary keys. All SQLite calls run on this plugin's own thread pool; statement sequences are
/// serialized. If the file cannot be opened the cache starts degraded and retries on later operations.
final class SQLiteCacheBackend: CacheBackend {
    static let schemaVersion = 1
    /// Rows per multi-row INSERT: 14 parameters each stays well under SQLite's 32766 limit.
    static let rowsPerStatement = 500

    let configuration: EmbeddedCacheConfiguration
    let host: PluginHost
    let logger: Logger
    private let loops = PluginEventLoops(threads: 1)
    private let threadPool = NIOThreadPool(numberOfThreads: 1)
    private let serializer = AsyncSerializer()

    private struct State {
        var connection: SQLiteConnection?
        var lastError: String?
        var lastAttemptMilliseconds: Int64 = .min
        var lastPurgeMilliseconds: Int64 = 0
        var stopped = false
    }

    private let state = Mutex(State())

    init(configuration: EmbeddedCacheConfiguration, host: PluginHost) {
        self.configuration = configuration
        self.host = host
        logger = host.logger(label: "markethub.embedded-cache")
        threadPool.start()
    }

    // MARK: Lifecycle

    func start() async throws(PluginError) {
        do throws(PluginError) {
            try await serializer.run { () async throws(PluginError) in _ = try await self.openIfNeeded(force: true) }
            logger.info("embedded cache open", metadata: ["path": "\(configuration.path)"])
        } catch {
            logger.error(
                "embedded cache unavailable; serving without it and retrying",
                metadata: ["path": "\(configuration.path)", "error": "\(error.message)"]
            )
        }
    }

    func stop() async {
        let connection = state.withLock { state -> SQLiteConnection? in
            state.stopped = true
            defer { state.connection = nil }
            return state.connection
        }
        if let connection {
            try? await connection.close()
        }
        try? await threadPool.shutdownGracefully()
        loops.shutdown()
    }

    func health() -> (state: mh_health_state, detail: String) {
        state.withLock { state in
            if state.stopped { return (mh_health_state(MH_HEALTH_DOWN), "stopped") }
            if state.connection != nil { return (mh_health_state(MH_HEALTH_OK), "sqlite \(configuration.path)") }
            return (mh_health_state(MH_HEALTH_DEGRADED), "unavailable: \(state.lastError ?? "not opened yet")")
        }
    }

    /// The open connection, opening (and creating the schema) when there is none. Attempts are at most one
    /// per second unless forced, so a broken disk does not turn every request into a slow failure.
    private func openIfNeeded(force: Bool = false) async throws(PluginError) -> SQLiteConnection {
        let now = host.monotonicNanoseconds / 1_000_000
        let decision = state.withLock { state -> Result<SQLiteConnection?, PluginError> in
            if state.stopped { return .failure(.unavailable("embedded cache is stopped")) }
            if let connection = state.connection { return .success(connection) }
            if !force, now - state.lastAttemptMilliseconds < 1_000 {
                return .failure(.unavailable("embedded cache unavailable: \(state.lastError ?? "opening failed")"))
            }
            state.lastAttemptMilliseconds = now
            return .success(nil)
        }
        if case .success(let connection?) = decision { return connection }
        if case .failure(let error) = decision { throw error }
        do {
            let connection = try await open()
            state.withLock {
                $0.connection = connection
                $0.lastError = nil
            }
            return connection
        } catch {
            state.withLock { $0.lastError = error.message }
            throw error
        }
    }

    private func open() async throws(PluginError) -> SQLiteConnection {
        let path = configuration.path
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw .unavailable("cannot create the directory \(directory): \(error.localizedDescription)")
            }
        }
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(
                storage: .file(path: path), threadPool: threadPool, logger: logger, on: loops.next
            )
        } catch {
            throw .unavailable("cannot open \(path): \(error)")
        }
        do {
            try await prepareSchema(connection)
        } catch {
            try? await connection.close()
            throw error
        }
        return connection
    }

    private func prepareSchema(_ connection: SQLiteConnection) async throws(PluginError) {
        let pragmas = [
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=\(configuration.synchronousFull ? "FULL" : "NORMAL")",
            "PRAGMA busy_timeout=\(configuration.busyTimeoutMilliseconds)",
        ]
        let schema = [
            """
            CREATE TABLE IF NOT EXISTS markethub_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)
            """,
            """
            CREATE TABLE IF NOT EXISTS option_aggregates (
              ticker TEXT NOT NULL, timespan TEXT NOT NULL, multiplier INTEGER NOT NULL, timestamp INTEGER NOT NULL,
              end_ms INTEGER NOT NULL, open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL,
              volume REAL NOT NULL, vwap REAL, transactions INTEGER, source TEXT NOT NULL, updated_at INTEGER NOT NULL,
              PRIMARY KEY (ticker, timespan, multiplier, timestamp)
            ) WITHOUT ROWID
            """,
            """
            CREATE TABLE IF NOT EXISTS option_chain_snapshots (
              underlying TEXT NOT NULL, expiration TEXT NOT NULL, data BLOB NOT NULL, updated_at INTEGER NOT NULL,
              PRIMARY KEY (underlying, expiration)
            )
            """,
            "CREATE INDEX IF NOT EXISTS option_chain_snapshots_updated_at ON option_chain_snapshots (updated_at)",
            """
            CREATE TABLE IF NOT EXISTS option_quotes (
              ticker TEXT PRIMARY KEY, bid_price REAL, ask_price REAL, last_price REAL, midpoint REAL,
              updated_at INTEGER NOT NULL
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS selections (
              key TEXT PRIMARY KEY, data BLOB NOT NULL, updated_at INTEGER NOT NULL
            )
            """,
        ]
        do {
            for statement in pragmas + schema { _ = try await connection.query(statement) }
            let rows = try await connection.query("SELECT value FROM markethub_meta WHERE key = 'schema_version'")
            if let stored = rows.first?.column("value")?.string {
                guard let version = Int(stored), version <= Self.schemaVersion else {
                    throw PluginError.unavailable(
                        "\(configuration.path) has schema version \(stored), newer than this plugin's \(Self.schemaVersion); "
                            + "use a newer MarketHub or another file"
                    )
                }
            } else {
                _ = try await connection.query(
                    "INSERT INTO markethub_meta (key, value) VALUES ('schema_version', ?)",
                    [.text(String(Self.schemaVersion))]
                )
            }
        } catch let error as PluginError {
            throw error
        } catch {
            throw .unavailable(
                "\(configuration.path) is not a usable MarketHub database (\(error)); move it aside to start fresh"
            )
        }
    }

    /// Runs `body` on the connection, serialized; a failed statement marks the connection suspect so the next
    /// operation reopens it (after a disk or file problem has been fixed, the cache recovers on its own).
    private func withConnection<T: Sendable>(
        _ what: String, _ body: @escaping @Sendable (SQLiteConnection) async throws -> T
    ) async throws(PluginError) -> T {
        try await serializer.run { () async throws(PluginError) -> T in
            let connection = try await self.openIfNeeded()
            do {
                return try await body(connection)
            } catch let error as PluginError {
                throw error
            } catch {
                let message = "\(what) failed: \(error)"
                let reopen = "\(error)".contains("not a database") || "\(error)".contains("disk I/O")
                if reopen {
                    self.state.withLock {
                        $0.connection = nil
                        $0.lastError = message
                    }
                    try? await connection.close()
                }
                throw PluginError.unavailable(message)
            }
        }
    }

    // MARK: Bars

    func putBars(_ bars: [Bar], now: Int64) async throws(PluginError) {
        guard !bars.isEmpty else { return }
        let chunks = stride(from: 0, to: bars.count, by: Self.rowsPerStatement).map {
            Array(bars[$0..<min($0 + Self.rowsPerStatement, bars.count)])
        }
        try await withConnection("put_bars") { connection in
            _ = try await connection.query("BEGIN IMMEDIATE")
            do {
                for chunk in chunks {
                    let placeholders = Array(repeating: "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)", count: chunk.count)
                        .joined(separator: ",")
                    var binds: [SQLiteData] = []
                    binds.reserveCapacity(chunk.count * 14)
                    for bar in chunk {
                        binds += [
                            .text(bar.symbol), .text(bar.timespan.name), .integer(Int(bar.multiplier)),
                            .integer(Int(bar.startMilliseconds)), .integer(Int(bar.endMilliseconds)), .float(bar.open),
                            .float(bar.high), .float(bar.low), .float(bar.close), .float(bar.volume),
                            bar.vwap.isFinite ? .float(bar.vwap) : .null,
                            bar.transactions >= 0 ? .integer(Int(bar.transactions)) : .null, .text(bar.source),
                            .integer(Int(now)),
                        ]
                    }
                    _ = try await connection.query(
                        """
                        INSERT INTO option_aggregates (ticker, timespan, multiplier, timestamp, end_ms, open, high, low,
                          close, volume, vwap, transactions, source, updated_at) VALUES \(placeholders)
                        ON CONFLICT (ticker, timespan, multiplier, timestamp) DO UPDATE SET end_ms = excluded.end_ms,
                          open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
                          volume = excluded.volume, vwap = excluded.vwap, transactions = excluded.transactions,
                          source = excluded.source, updated_at = excluded.updated_at
                        """, binds
                    )
                }
                _ = try await connection.query("COMMIT")
            } catch {
                _ = try? await connection.query("ROLLBACK")
                throw error
            }
        }
    }

    func getBars(_ query: CacheBarQuery) async throws(PluginError) -> (bars: [Bar], note: String) {
        let from = query.fromMilliseconds > 0 ? query.fromMilliseconds : Int64.min
        let to = query.toMilliseconds > 0 ? query.toMilliseconds : Int64.max
        let rows = try await withConnection("get_bars") { connection in
            try await connection.query(
                """
                SELECT ticker, timestamp, end_ms, open, high, low, close, volume, vwap, transactions, source, updated_at
                FROM option_aggregates WHERE ticker = ? AND timespan = ? AND multiplier = ? AND timestamp >= ?
                AND timestamp <= ? ORDER BY timestamp \(query.descending ? "DESC" : "ASC") LIMIT ?
                """,
                [
                    .text(query.symbol), .text(query.timespan.name), .integer(Int(query.multiplier)),
                    .integer(Int(from)),
                    .integer(Int(to)), .integer(query.limit > 0 ? query.limit : -1),
                ]
            )
        }
        var bars: [Bar] = []
        bars.reserveCapacity(rows.count)
        var corrupt = 0
        for row in rows {
            guard let bar = Self.bar(row, query: query) else {
                corrupt += 1
                continue
            }
            bars.append(bar)
        }
        if corrupt > 0 {
            logger.warning(
                "skipped corrupt bar rows", metadata: ["symbol": "\(query.symbol)", "rows": "\(corrupt)"]
            )
        }
        return (bars, corrupt > 0 ? "skipped \(corrupt) corrupt stored bar(s)" : "")
    }

    /// Decodes one stored bar; nil when a column holds something that is not what the schema says.
    static func bar(_ row: SQLiteRow, query: CacheBarQuery) -> Bar? {
        func number(_ name: String) -> Double? {
            switch row.column(name) {
            case .float(let value): value
            case .integer(let value): Double(value)
            default: nil
            }
        }
        func integer(_ name: String) -> Int64? {
            if case .integer(let value) = row.column(name) { return Int64(value) }
            return nil
        }
        guard case .text(let symbol) = row.column("ticker"), let start = integer("timestamp"),
            let end = integer("end_ms"), let open = number("open"), let high = number("high"), let low = number("low"),
            let close = number("close"), let volume = number("volume"), let updated = integer("updated_at"),
            case .text(let source) = row.column("source")
        else { return nil }
        let vwap: Double
        switch row.column("vwap") {
        case .null, nil: vwap = .nan
        case .float(let value): vwap = value
        case .integer(let value): vwap = Double(value)
        default: return nil
        }
        let transactions: Int64
        switch row.column("transactions") {
        case .null, nil: transactions = -1
        case .integer(let value): transactions = Int64(value)
        default: return nil
        }
        return Bar(
            symbol: symbol, timespan: query.timespan, multiplier: query.multiplier, startMilliseconds: start,
            endMilliseconds: end, open: open, high: high, low: low, close: close, volume: volume, vwap: vwap,
            transactions: transactions, updatedMilliseconds: updated, source: source
        )
    }

    // MARK: Documents

    func putChain(underlying: String, expiration: String, json: [UInt8], now: Int64) async throws(PluginError) {
        let ttl = configuration.chainTimeToLiveMilliseconds
        let purge = state.withLock { state -> Bool in
            guard now - state.lastPurgeMilliseconds >= 600_000 else { return false }
            state.lastPurgeMilliseconds = now
            return true
        }
        try await withConnection("put_chain") { connection in
            _ = try await connection.query(
                """
                INSERT INTO option_chain_snapshots (underlying, expiration, data, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (underlying, expiration) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at
                """,
                [.text(underlying), .text(expiration), .blob(ByteBuffer(bytes: json)), .integer(Int(now))]
            )
            if purge {
                _ = try await connection.query(
                    "DELETE FROM option_chain_snapshots WHERE updated_at < ?", [.integer(Int(now - ttl))]
                )
            }
        }
    }

    func getChain(
        underlying: String, expiration: String, maximumAge: Int64, now: Int64
    ) async throws(PluginError) -> StoredDocument? {
        let limit =
            maximumAge > 0
            ? min(maximumAge, configuration.chainTimeToLiveMilliseconds) : configuration.chainTimeToLiveMilliseconds
        let rows = try await withConnection("get_chain") { connection in
            try await connection.query(
                "SELECT data, updated_at FROM option_chain_snapshots WHERE underlying = ? AND expiration = ? AND updated_at >= ?",
                [.text(underlying), .text(expiration), .integer(Int(now - limit))]
            )
        }
        return try rows.first.map { row throws(PluginError) in try Self.document(row, what: "chain snapshot") }
    }

    static func document(_ row: SQLiteRow, what: String) throws(PluginError) -> StoredDocument {
        guard case .blob(let buffer) = row.column("data"), case .integer(let updated) = row.column("updated_at") else {
            throw .internalError("the stored \(what) is corrupt (unexpected column types)")
        }
        return StoredDocument(json: Array(buffer.readableBytesView), updatedMilliseconds: Int64(updated))
    }

    func putLastQuotes(_ quotes: [LastQuote]) async throws(PluginError) {
        guard !quotes.isEmpty else { return }
        try await withConnection("put_last_quotes") { connection in
            _ = try await connection.query("BEGIN IMMEDIATE")
            do {
                for quote in quotes {
                    func price(_ value: Double) -> SQLiteData { value.isFinite ? .float(value) : .null }
                    _ = try await connection.query(
                        """
                        INSERT INTO option_quotes (ticker, bid_price, ask_price, last_price, midpoint, updated_at)
                        VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (ticker) DO UPDATE SET bid_price = excluded.bid_price,
                          ask_price = excluded.ask_price, last_price = excluded.last_price, midpoint = excluded.midpoint,
                          updated_at = excluded.updated_at WHERE excluded.updated_at >= option_quotes.updated_at
                        """,
                        [
                            .text(quote.symbol), price(quote.bidPrice), price(quote.askPrice), price(quote.lastPrice),
                            price(quote.midpoint), .integer(Int(quote.updatedMilliseconds)),
                        ]
                    )
                }
                _ = try await connection.query("COMMIT")
            } catch {
                _ = try? await connection.query("ROLLBACK")
                throw error
            }
        }
    }

    func getLastQuotes(_ symbols: [String]) async throws(PluginError) -> [LastQuote] {
        guard !symbols.isEmpty else { return [] }
        var out: [LastQuote] = []
        for start in stride(from: 0, to: symbols.count, by: 900) {
            let slice = Array(symbols[start..<min(start + 900, symbols.count)])
            let placeholders = Array(repeating: "?", count: slice.count).joined(separator: ",")
            let rows = try await withConnection("get_last_quotes") { connection in
                try await connection.query(
                    """
                    SELECT ticker, bid_price, ask_price, last_price, midpoint, updated_at FROM option_quotes
                    WHERE ticker IN (\(placeholders))
                    """, slice.map { .text($0) }
                )
            }
            for row in rows {
                func price(_ name: String) -> Double {
                    switch row.column(name) {
                    case .float(let value): value
                    case .integer(let value): Double(value)
                    default: .nan
                    }
                }
                guard case .text(let symbol) = row.column("ticker"),
                    case .integer(let updated) = row.column("updated_at")
                else { continue }
                out.append(
                    LastQuote(
                        symbol: symbol, bidPrice: price("bid_price"), askPrice: price("ask_price"),
                        lastPrice: price("last_price"), midpoint: price("midpoint"), updatedMilliseconds: Int64(updated)
                    )
                )
            }
        }
        return out
    }

    func putSelection(key: String, json: [UInt8], now: Int64) async throws(PluginError) {
        try await withConnection("put_selection") { connection in
            _ = try await connection.query(
                """
                INSERT INTO selections (key, data, updated_at) VALUES (?, ?, ?)
                ON CONFLICT (key) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at
                """, [.text(key), .blob(ByteBuffer(bytes: json)), .integer(Int(now))]
            )
        }
    }

    func getSelection(key: String) async throws(PluginError) -> StoredDocument? {
        let rows = try await withConnection("get_selection") { connection in
            try await connection.query("SELECT data, updated_at FROM selections WHERE key = ?", [.text(key)])
        }
        return try rows.first.map { row throws(PluginError) in try Self.document(row, what: "selection") }
    }
}
