import PluginKit

/// MongoCache's configuration section.
///
/// ## Configuration keys
/// - `uri` (string, required, secret): the MongoDB connection string; `MONGODB_URI` in the environment sets it.
///   TLS and authentication options go in the URI (`tls=true`, `tlsCAFile=...`, `authSource=...`). When the URI
///   does not set them, `serverSelectionTimeoutMS=2000`, `connectTimeoutMS=2000` and `socketTimeoutMS=10000` are
///   added so that a dead server fails calls within seconds.
/// - `database` (string, default: the URI's database, else `markethub`).
/// - `maxPoolSize` (int 1...64, default 4): pooled connections, and threads running blocking driver calls.
/// - `chainTtlMs` (int, default 86400000): chain snapshot time to live (TTL index and read-time age check).
/// - `retryIntervalMs` (int, default 1000): while the server is unreachable, at most one call per interval
///   tries it; the others fail at once with "unavailable".
/// - `writeRetries` (int 0...10, default 2): how often a write refused by a unique index (a concurrent
///   writer inserted the same key first) or cut by a broken connection is retried before it is reported.
/// - `batchSize` (int 1...100000, default 1000): documents per unordered bulk write.
struct MongoCacheConfiguration: Sendable {
    var uri = ""
    var database: String?
    var maxPoolSize = 4
    var chainTimeToLiveMilliseconds: Int64 = 86_400_000
    var retryIntervalMilliseconds: Int64 = 1_000
    var writeRetries = 2
    var batchSize = 1_000

    static let knownKeys = [
        "uri", "database", "maxPoolSize", "chainTtlMs", "retryIntervalMs", "writeRetries", "batchSize",
    ]

    init(json text: String) throws(PluginError) {
        let object: JSONValue
        do {
            object = try JSONValue.parse(text.isEmpty ? "{}" : text)
        } catch {
            throw .invalid("configuration is not valid JSON (\(error))")
        }
        guard case .object(let members) = object else { throw .invalid("configuration must be an object") }
        if let unknown = members.map(\.0).first(where: { !Self.knownKeys.contains($0) }) {
            throw .invalid("unknown key '\(unknown)'; known keys: \(Self.knownKeys.joined(separator: ", "))")
        }
        guard let uri = object["uri"]?.string, !uri.isEmpty else {
            throw .invalid("uri is required: set cache.config.uri or the MONGODB_URI environment variable")
        }
        self.uri = uri
        if let value = object["database"] {
            guard let name = value.string, Self.isValidDatabaseName(name) else {
                throw .invalid("database must be 1 to 63 characters without / \\ . \" $ or spaces")
            }
            database = name
        }
        maxPoolSize = try Self.integer(object, "maxPoolSize", range: 1...64) ?? maxPoolSize
        chainTimeToLiveMilliseconds =
            try Self.integer(object, "chainTtlMs", range: 1_000...(365 * 86_400_000)).map(Int64.init)
            ?? chainTimeToLiveMilliseconds
        retryIntervalMilliseconds =
            try Self.integer(object, "retryIntervalMs", range: 0...600_000).map(Int64.init)
            ?? retryIntervalMilliseconds
        writeRetries = try Self.integer(object, "writeRetries", range: 0...10) ?? writeRetries
        batchSize = try Self.integer(object, "batchSize", range: 1...100_000) ?? batchSize
    }

    private static func integer(
        _ object: JSONValue, _ key: String, range: ClosedRange<Int>
    ) throws(PluginError) -> Int? {
        guard let value = object[key] else { return nil }
        guard let number = value.int64, range.contains(Int(number)) else {
            throw .invalid("\(key) must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return Int(number)
    }

    static func isValidDatabaseName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 63 && !name.contains(where: { "/\\. \"$".contains($0) })
            && !name.unicodeScalars.contains { $0.value < 0x20 }
    }
}
