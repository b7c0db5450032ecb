import PluginKit

/// EmbeddedCache's configuration section.
///
/// - `path` (string, default `data/markethub.sqlite`): the database file; its directory is created if missing.
///   Relative paths are relative to the working directory of `markethub`.
/// - `chainTtlMs` (int, default 86400000): chain snapshots older than this are never returned and are purged.
/// - `synchronous` (`normal` or `full`, default `normal`): SQLite's durability setting in WAL mode; `full`
///   also survives power loss of the last transactions, at some write cost.
/// - `busyTimeoutMs` (int, default 5000): how long a statement waits for a lock held by another process.
struct EmbeddedCacheConfiguration: Sendable {
    var path = "data/markethub.sqlite"
    var chainTimeToLiveMilliseconds: Int64 = 86_400_000
    var synchronousFull = false
    var busyTimeoutMilliseconds: Int64 = 5_000

    init(json text: String) throws(PluginError) {
        guard !text.isEmpty else { return }
        let object: JSONValue
        do {
            object = try JSONValue.parse(text)
        } catch {
            throw .invalid("configuration is not valid JSON (\(error))")
        }
        guard case .object(let members) = object else { throw .invalid("configuration must be an object") }
        let known = ["path", "chainTtlMs", "synchronous", "busyTimeoutMs"]
        if let unknown = members.map(\.0).first(where: { !known.contains($0) }) {
            throw .invalid("unknown key '\(unknown)'; known keys: \(known.joined(separator: ", "))")
        }
        if let value = object["path"] {
            guard let path = value.string, !path.isEmpty else { throw .invalid("path must be a non-empty string") }
            self.path = path
        }
        if let value = object["chainTtlMs"] {
            guard let ttl = value.int64, ttl > 0 else { throw .invalid("chainTtlMs must be a positive integer") }
            chainTimeToLiveMilliseconds = ttl
        }
        if let value = object["synchronous"] {
            switch value.string {
            case "normal": synchronousFull = false
            case "full": synchronousFull = true
            default: throw .invalid("synchronous must be \"normal\" or \"full\"")
            }
        }
        if let value = object["busyTimeoutMs"] {
            guard let timeout = value.int64, timeout >= 0 else {
                throw .invalid("busyTimeoutMs must be a non-negative integer")
            }
            busyTimeoutMilliseconds = timeout
        }
    }
}
