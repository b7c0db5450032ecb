import CMongoc
import PluginKit

/// libmongoc's process-wide initialisation, run once. `mongoc_cleanup` is never called: another component of
/// the process may still use the library, and plugins are never unloaded. The driver's own log handler (which
/// prints to stdout and stderr, outside the host's logging) is turned off: the cache reports every failure it
/// sees through the host's log, with the URI's password scrubbed.
private let mongocInitialized: Void = {
    mongoc_init()
    mongoc_log_set_handler(nil, nil)
}()

/// The parsed connection string and the client pool built from it.
///
/// Threading: `mongoc_client_pool_t` is thread-safe. A `mongoc_client_t` is not: it is popped, used by one
/// thread and pushed back within `withClient`, and never stored. Every method here blocks (network I/O) and is
/// called only on the cache's own thread pool.
///
/// Safety: `@unchecked Sendable` because the two raw pointers are written once in `init` and then used only
/// through the thread-safe pool API; `deinit` runs when no call can be in flight.
final class MongoConnection: @unchecked Sendable {
    private let uri: OpaquePointer
    private let pool: OpaquePointer
    let database: String
    let redaction: MongoRedaction
    /// The URI with its password replaced, for logs.
    let displayURI: String

    init(configuration: MongoCacheConfiguration) throws(PluginError) {
        _ = mongocInitialized
        var error = bson_error_t()
        guard let uri = mongoc_uri_new_with_error(configuration.uri, &error) else {
            let redaction = MongoRedaction(uri: configuration.uri, decodedPassword: nil)
            throw .invalid(
                "uri is not a valid MongoDB connection string: \(redaction.scrub(MongoError(error).message))")
        }
        let password = mongoc_uri_get_password(uri).map { String(cString: $0) }
        redaction = MongoRedaction(uri: configuration.uri, decodedPassword: password)
        displayURI = MongoRedaction.redactedURI(configuration.uri)
        for (option, value) in [
            ("serverselectiontimeoutms", Int32(2_000)), ("connecttimeoutms", 2_000), ("sockettimeoutms", 10_000),
        ] where !mongoc_uri_has_option(uri, option) {
            _ = mongoc_uri_set_option_as_int32(uri, option, value)
        }
        if !mongoc_uri_has_option(uri, "maxpoolsize") {
            _ = mongoc_uri_set_option_as_int32(uri, "maxpoolsize", Int32(configuration.maxPoolSize))
        }
        let fromURI = mongoc_uri_get_database(uri).map { String(cString: $0) }
        database = configuration.database ?? fromURI.flatMap { $0.isEmpty ? nil : $0 } ?? "markethub"
        guard MongoCacheConfiguration.isValidDatabaseName(database) else {
            mongoc_uri_destroy(uri)
            throw .invalid("database name '\(database)' is not valid")
        }
        guard let pool = mongoc_client_pool_new_with_error(uri, &error) else {
            mongoc_uri_destroy(uri)
            throw .invalid("cannot use the MongoDB URI: \(redaction.scrub(MongoError(error).message))")
        }
        _ = mongoc_client_pool_set_error_api(pool, 2)
        _ = mongoc_client_pool_set_appname(pool, "markethub")
        self.uri = uri
        self.pool = pool
    }

    deinit {
        mongoc_client_pool_destroy(pool)
        mongoc_uri_destroy(uri)
    }

    /// Lends a client from the pool to `body` and always pushes it back.
    func withClient<T>(_ body: (OpaquePointer) throws(MongoError) -> T) throws(MongoError) -> T {
        let client = mongoc_client_pool_pop(pool)!
        defer { mongoc_client_pool_push(pool, client) }
        return try body(client)
    }

    /// Lends a collection handle of the cache's database to `body`.
    func withCollection<T>(
        _ name: String, _ body: (OpaquePointer) throws(MongoError) -> T
    ) throws(MongoError) -> T {
        try withClient { client throws(MongoError) in
            let collection = mongoc_client_get_collection(client, database, name)!
            defer { mongoc_collection_destroy(collection) }
            return try body(collection)
        }
    }

    /// `ping` against the server: succeeds only when a server is selectable and answers.
    func ping() throws(MongoError) {
        try withClient { client throws(MongoError) in
            let command = BSONDocument().append("ping", int32: 1)
            let reply = mh_bson_reply_new()!
            defer { mh_bson_reply_free(reply) }
            var error = bson_error_t()
            guard mongoc_client_command_simple(client, "admin", command.pointer, nil, reply, &error) else {
                throw MongoError(error)
            }
        }
    }

    /// Runs a command on a collection; returns the reply as JSON.
    func command(_ collection: String, _ command: BSONDocument) throws(MongoError) -> JSONValue {
        try withCollection(collection) { handle throws(MongoError) in
            let reply = mh_bson_reply_new()!
            defer { mh_bson_reply_free(reply) }
            var error = bson_error_t()
            guard mongoc_collection_command_simple(handle, command.pointer, nil, reply, &error) else {
                throw MongoError(error)
            }
            return (try? JSONValue.parse(BSONDocument.json(reply))) ?? .null
        }
    }

    /// Finds documents and hands each (borrowed) to `decode`.
    func find(
        _ collection: String, filter: BSONDocument, options: BSONDocument?,
        _ decode: (BSONFields) -> Void
    ) throws(MongoError) {
        try withCollection(collection) { handle throws(MongoError) in
            let cursor = mongoc_collection_find_with_opts(handle, filter.pointer, options?.pointer, nil)!
            defer { mongoc_cursor_destroy(cursor) }
            var document: OpaquePointer?
            while mongoc_cursor_next(cursor, &document) {
                if let document { decode(BSONFields(document: document)) }
            }
            var error = bson_error_t()
            if mongoc_cursor_error(cursor, &error) { throw MongoError(error) }
        }
    }

    /// A write refused inside a bulk write.
    struct WriteFailure: Sendable {
        var index: Int
        var code: Int64
        var message: String
    }

    /// Replaces (upserting) each document matched by its filter in one unordered bulk write. Returns the
    /// writes the server refused one by one; throws when the whole bulk failed (no server, broken connection).
    func replaceAll(
        _ collection: String, _ operations: [(filter: BSONDocument, replacement: BSONDocument)]
    ) throws(MongoError) -> [WriteFailure] {
        guard !operations.isEmpty else { return [] }
        return try withCollection(collection) { handle throws(MongoError) in
            let options = BSONDocument().append("ordered", bool: false)
            let bulk = mongoc_collection_create_bulk_operation_with_opts(handle, options.pointer)!
            defer { mongoc_bulk_operation_destroy(bulk) }
            let upsert = BSONDocument().append("upsert", bool: true)
            var error = bson_error_t()
            for operation in operations {
                guard
                    mongoc_bulk_operation_replace_one_with_opts(
                        bulk, operation.filter.pointer, operation.replacement.pointer, upsert.pointer, &error)
                else { throw MongoError(error) }
            }
            let reply = mh_bson_reply_new()!
            defer { mh_bson_reply_free(reply) }
            let succeeded = mongoc_bulk_operation_execute(bulk, reply, &error) != 0
            let parsed = (try? JSONValue.parse(BSONDocument.json(reply))) ?? .null
            let failures = (parsed["writeErrors"]?.array ?? []).map {
                WriteFailure(
                    index: Int($0["index"]?.int64 ?? -1), code: $0["code"]?.int64 ?? 0,
                    message: $0["errmsg"]?.string ?? "write refused"
                )
            }
            if !succeeded {
                let failure = MongoError(error)
                // Individual refusals are returned; anything else (network, server selection) fails the batch.
                if failures.isEmpty || failure.isUnreachable { throw failure }
            }
            return failures
        }
    }
}
