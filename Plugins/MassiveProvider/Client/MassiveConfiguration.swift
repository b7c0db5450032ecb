import PluginKit

/// The provider's configuration (`provider.config` in the host's YAML), validated once at `create`.
///
/// The API key is held here and nowhere else; every text that may leave the plugin goes through `Redactor`.
public struct MassiveConfiguration: Sendable {
    /// The vendor feeds (WebSocket clusters) the provider may connect to.
    public enum Feed: String, Sendable, CaseIterable, Hashable {
        case stocks
        case options
        case indices
    }

    public var apiKey: String
    /// REST base URL without a trailing slash, e.g. `https://api.massive.com` or `http://127.0.0.1:9100`.
    public var restURL: String
    /// WebSocket base URL without a trailing slash; the feed name is appended (`.../stocks`).
    public var wsURL: String
    public var feeds: [Feed]
    public var requestTimeoutMilliseconds: Int64 = 10_000
    public var maxConcurrentRequests: Int = 4
    /// Used for a 429 without a Retry-After header.
    public var defaultRetryAfterMilliseconds: Int64 = 60_000
    /// Pages followed per look-up before giving up with what was read.
    public var maxPages: Int = 100
    public var initialBackoffMilliseconds: Int64 = 500
    public var maxBackoffMilliseconds: Int64 = 30_000
    public var pingIntervalMilliseconds: Int64 = 25_000
    /// How long subscribe/unsubscribe calls are gathered before one message goes out.
    public var subscribeBatchMilliseconds: Int64 = 20
    /// The vendor's cap on option contracts with quote subscriptions per connection.
    public var maxOptionQuoteSubscriptions: Int = 1_000
    /// Largest accepted WebSocket message.
    public var maxFrameBytes: Int = 1 << 20
    /// Where to record what the vendor sends (recording format), or nil.
    public var recordTo: String?

    public static let realTimeWebSocket = "wss://socket.massive.com"
    public static let delayedWebSocket = "wss://delayed.massive.com"
    public static let defaultREST = "https://api.massive.com"

    public init(apiKey: String, restURL: String, wsURL: String, feeds: [Feed] = [.stocks, .options]) {
        self.apiKey = apiKey
        self.restURL = Self.trimmed(restURL)
        self.wsURL = Self.trimmed(wsURL)
        self.feeds = feeds
    }

    /// True when the URL's host is a loopback address (`localhost`, 127.0.0.0/8, `::1`): plain `http://` and
    /// `ws://` are accepted for those without `allowInsecure`, so a local `fake-massive` needs no extra key.
    static func isLoopback(_ url: String) -> Bool {
        guard let schemeEnd = url.firstRange(of: "://") else { return false }
        var authority = url[schemeEnd.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        let host: Substring
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return false }
            host = authority[authority.index(after: authority.startIndex)..<close]
        } else {
            host = authority.prefix { $0 != ":" }
        }
        if host.lowercased() == "localhost" || host == "::1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    static func trimmed(_ url: String) -> String {
        var url = url
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// Parses the JSON configuration. Errors name the key and never echo the key's value.
    public static func parse(_ bytes: [UInt8]) throws(PluginError) -> MassiveConfiguration {
        let json: JSONValue
        do {
            json = bytes.isEmpty ? .object([]) : try JSONValue.parse(bytes)
        } catch {
            throw .invalid("the configuration is not JSON: \(error.description)")
        }
        guard case .object(let members) = json else { throw .invalid("the configuration must be an object") }
        let known: Set<String> = [
            "apiKey", "restURL", "wsURL", "delayed", "feeds", "requestTimeoutMs", "maxConcurrentRequests",
            "defaultRetryAfterMs", "maxPages", "initialBackoffMs", "maxBackoffMs", "pingIntervalMs",
            "subscribeBatchMs", "maxOptionQuoteSubscriptions", "maxFrameBytes", "recordTo", "allowInsecure",
        ]
        for (key, _) in members where !known.contains(key) {
            throw .invalid("unknown configuration key \(key) (known: \(known.sorted().joined(separator: ", ")))")
        }
        guard let key = json["apiKey"]?.string, !key.isEmpty else {
            throw .invalid("apiKey is required (set MASSIVE_API_KEY; the host maps it to provider.config.apiKey)")
        }
        let delayed = json["delayed"]?.bool ?? false
        let rest = json["restURL"]?.string ?? defaultREST
        let ws = json["wsURL"]?.string ?? (delayed ? delayedWebSocket : realTimeWebSocket)
        for (name, url, schemes) in [("restURL", rest, ["http://", "https://"]), ("wsURL", ws, ["ws://", "wss://"])]
        where !schemes.contains(where: { url.hasPrefix($0) }) {
            throw .invalid(
                "\(name) must start with \(schemes.joined(separator: " or ")), got \(Redactor(key).clean(url))")
        }
        let allowInsecure = json["allowInsecure"]?.bool ?? false
        for (name, url) in [("restURL", rest), ("wsURL", ws)]
        where !allowInsecure && (url.hasPrefix("http://") || url.hasPrefix("ws://")) && !Self.isLoopback(url) {
            throw .invalid(
                "\(name) \(Redactor(key).clean(url)) is not encrypted: the API key would cross the network in clear text; "
                    + "use https:// or wss://, or set allowInsecure: true (only for a trusted local fake)")
        }
        var feeds: [Feed] = [.stocks, .options]
        if let list = json["feeds"] {
            guard let array = list.array else { throw .invalid("feeds must be a list of stocks, options, indices") }
            feeds = []
            for item in array {
                guard let name = item.string, let feed = Feed(rawValue: name) else {
                    throw .invalid("feeds: \(item.text) is not one of stocks, options, indices")
                }
                if !feeds.contains(feed) { feeds.append(feed) }
            }
        }
        var configuration = MassiveConfiguration(apiKey: key, restURL: rest, wsURL: ws, feeds: feeds)
        func integer(_ name: String, _ range: ClosedRange<Int64>) throws(PluginError) -> Int64? {
            guard let value = json[name] else { return nil }
            guard let number = value.int64, range.contains(number) else {
                throw .invalid("\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return number
        }
        if let value = try integer("requestTimeoutMs", 1...600_000) { configuration.requestTimeoutMilliseconds = value }
        if let value = try integer("maxConcurrentRequests", 1...256) {
            configuration.maxConcurrentRequests = Int(value)
        }
        if let value = try integer("defaultRetryAfterMs", 0...3_600_000) {
            configuration.defaultRetryAfterMilliseconds = value
        }
        if let value = try integer("maxPages", 1...10_000) { configuration.maxPages = Int(value) }
        if let value = try integer("initialBackoffMs", 1...600_000) { configuration.initialBackoffMilliseconds = value }
        if let value = try integer("maxBackoffMs", 1...3_600_000) { configuration.maxBackoffMilliseconds = value }
        if let value = try integer("pingIntervalMs", 0...600_000) { configuration.pingIntervalMilliseconds = value }
        if let value = try integer("subscribeBatchMs", 0...10_000) { configuration.subscribeBatchMilliseconds = value }
        if let value = try integer("maxOptionQuoteSubscriptions", 0...1_000_000) {
            configuration.maxOptionQuoteSubscriptions = Int(value)
        }
        if let value = try integer("maxFrameBytes", 1_024...(64 << 20)) { configuration.maxFrameBytes = Int(value) }
        if let path = json["recordTo"] {
            guard let text = path.string, !text.isEmpty else { throw .invalid("recordTo must be a file path") }
            configuration.recordTo = text
        }
        guard configuration.initialBackoffMilliseconds <= configuration.maxBackoffMilliseconds else {
            throw .invalid("initialBackoffMs must not exceed maxBackoffMs")
        }
        return configuration
    }
}

/// Removes the API key from any text before it is logged, returned, recorded or used as a metric label.
public struct Redactor: Sendable {
    public let key: String

    public init(_ key: String) { self.key = key }

    public static let placeholder = "<redacted>"

    /// `text` with every occurrence of the key replaced and every `apiKey=` query value removed.
    public func clean(_ text: String) -> String {
        var text = text
        if !key.isEmpty, text.contains(key) { text = text.replacing(key, with: Self.placeholder) }
        return Self.stripQueryKey(text)
    }

    /// Replaces the value of any `apiKey=` parameter (any letter case), whatever it is.
    public static func stripQueryKey(_ text: String) -> String {
        let bytes = Array(text.utf8)
        let needle = Array("apikey=".utf8)
        guard bytes.count >= needle.count else { return text }
        func lower(_ byte: UInt8) -> UInt8 { byte >= 65 && byte <= 90 ? byte + 32 : byte }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        var changed = false
        while index < bytes.count {
            if index + needle.count <= bytes.count,
                (0..<needle.count).allSatisfy({ lower(bytes[index + $0]) == needle[$0] })
            {
                out.append(contentsOf: bytes[index..<index + needle.count])
                out.append(contentsOf: placeholder.utf8)
                index += needle.count
                while index < bytes.count, ![UInt8(ascii: "&"), 32, 34, 35, 39, 10].contains(bytes[index]) {
                    index += 1
                }
                changed = true
                continue
            }
            out.append(bytes[index])
            index += 1
        }
        return changed ? String(decoding: out, as: UTF8.self) : text
    }
}
