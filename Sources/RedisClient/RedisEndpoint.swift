/// Where a Redis server listens: parsed from `redis://host[:port][/db]` (port 6379 and database 0 by default).
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var database: Int

    public init(host: String, port: Int = 6379, database: Int = 0) {
        self.host = host
        self.port = port
        self.database = database
    }

    /// Parses `redis://host[:port][/db]`. Credentials are not supported (bind Redis to a private network).
    public init(url: String) throws(RedisError) {
        let prefix = "redis://"
        guard url.hasPrefix(prefix) else {
            throw RedisError(.invalidURL, "'\(url)' must start with redis:// (redis://host:port/db)")
        }
        var rest = Substring(url.dropFirst(prefix.count))
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let text = rest[rest.index(after: slash)...]
            if !text.isEmpty {
                guard let number = Int(text), number >= 0 else {
                    throw RedisError(.invalidURL, "'\(url)': the database after '/' must be a number")
                }
                database = number
            }
            rest = rest[..<slash]
        }
        guard !rest.contains("@") else {
            throw RedisError(.invalidURL, "'\(url)': credentials in the URL are not supported")
        }
        var host = String(rest)
        var port = 6379
        if let colon = rest.lastIndex(of: ":") {
            guard let number = Int(rest[rest.index(after: colon)...]), (1...65_535).contains(number) else {
                throw RedisError(.invalidURL, "'\(url)': the port must be a number from 1 to 65535")
            }
            port = number
            host = String(rest[..<colon])
        }
        guard !host.isEmpty else { throw RedisError(.invalidURL, "'\(url)' names no host") }
        self.init(host: host, port: port, database: database)
    }

    public var description: String { "redis://\(host):\(port)/\(database)" }
}
