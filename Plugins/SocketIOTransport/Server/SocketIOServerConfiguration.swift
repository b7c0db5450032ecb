/// Everything a `SocketIOServer` can be told. Durations are in milliseconds, sizes in bytes.
///
/// ## Configuration keys (as the plugin reads them from JSON)
/// - `host` (string, default `127.0.0.1`), `port` (int, default 8080; 0 picks a free port).
/// - `path` (string, default `/socket.io/`): where Engine.IO listens.
/// - `pingInterval` (ms, default 25000), `pingTimeout` (ms, default 20000), `maxPayload` (bytes, default 1000000).
/// - `connectTimeout` (ms, default 45000): an Engine.IO session with no namespace connected by then is closed.
/// - `namespaces` (strings, default `["/"]`): namespaces clients may connect to.
/// - `token` (string, optional, secret): bearer token required on REST and as `auth.token` in CONNECT.
/// - `corsOrigins` (strings, default empty = no CORS headers; `"*"` allows any origin).
/// - `maxClients` (int, default 10000), `maxRoomsPerClient` (int, default 1000).
/// - `eventsPerSecond` (double, default 50) and `eventBurst` (int, default 100): per-client inbound event limit.
/// - `maxBodyBytes` (int, default 1048576): HTTP body limit for forwarded requests.
/// - `webRoot` (string, optional): folder served at `/`.
/// - `tls` (object, optional; default none = plain HTTP and WebSocket): `{"certificate": PEM file (the chain,
///   leaf first), "privateKey": PEM file}`. With it the listener speaks only HTTPS and WSS.
/// - `maxQueuedMessages` (int, default 1024) and `slowClientGrace` (ms, default 5000): a client whose unsent
///   messages stay above the limit for the grace period (or reach four times the limit) is disconnected.
/// - `socketSendBuffer` (bytes, default 65536; 0 leaves the kernel's own sizing): the kernel send buffer of each
///   WebSocket connection. Small, so a slow client's backlog stays in its queue, where quotes conflate and the
///   limit counts it, instead of megabytes of stale frames waiting in the kernel.
/// - `responseCacheEntries` (int, default 512; 0 turns it off), `responseCacheBytes` (bytes, default 33554432)
///   and `responseCacheMaxAge` (ms, default 5000): the shared cache for forwarded `GET` answers the host marks
///   `Cache-Control: s-maxage=N` (see `SharedResponseCache`).
public struct SocketIOServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var path = "/socket.io/"
    /// When set, a plain Engine.IO endpoint at this path echoes every message back (for the official
    /// Engine.IO conformance suite); it has no Socket.IO layer.
    public var echoPath: String?
    public var pingInterval = 25_000
    public var pingTimeout = 20_000
    public var maxPayload = 1_000_000
    public var connectTimeout = 45_000
    public var namespaces: [String] = ["/"]
    public var token: String?
    public var corsOrigins: [String] = []
    public var maxClients = 10_000
    public var maxRoomsPerClient = 1_000
    public var eventsPerSecond = 50.0
    public var eventBurst = 100
    public var maxBodyBytes = 1_048_576
    public var webRoot: String?
    /// PEM files for TLS; both set or both nil.
    public var tlsCertificatePath: String?
    public var tlsPrivateKeyPath: String?
    public var maxQueuedMessages = 1_024
    public var slowClientGrace = 5_000
    public var socketSendBuffer = 65_536
    public var responseCacheEntries = 512
    public var responseCacheBytes = 33_554_432
    public var responseCacheMaxAge = 5_000
    /// Whether the WebSocket writer hands each batch of queued frames to the socket with one flush (the default)
    /// rather than one write and flush per frame. Not a plugin key: the fan-out benchmark turns it off to show
    /// the difference in the same run.
    public var coalesceWebSocketWrites = true

    public init() {}

    /// Checks ranges; throws a `ConfigurationError` naming the first bad key.
    public func validate() throws(ConfigurationError) {
        func require(_ condition: Bool, _ key: String, _ rule: String) throws(ConfigurationError) {
            if !condition { throw ConfigurationError(key: key, message: "\(key) \(rule)") }
        }
        try require(!host.isEmpty, "host", "must not be empty")
        try require((0...65_535).contains(port), "port", "must be between 0 and 65535")
        try require(path.hasPrefix("/"), "path", "must start with '/'")
        try require(
            echoPath.map { $0.hasPrefix("/") && $0 != path } ?? true, "echoPath",
            "must start with '/' and differ from path")
        try require(pingInterval > 0, "pingInterval", "must be positive")
        try require(pingTimeout > 0, "pingTimeout", "must be positive")
        try require(maxPayload >= 1_024, "maxPayload", "must be at least 1024")
        try require(connectTimeout > 0, "connectTimeout", "must be positive")
        try require(
            !namespaces.isEmpty && namespaces.allSatisfy { $0.hasPrefix("/") }, "namespaces",
            "must list names starting with '/'")
        try require(token.map { !$0.isEmpty } ?? true, "token", "must not be empty when set")
        try require(maxClients > 0, "maxClients", "must be positive")
        try require(maxRoomsPerClient > 0, "maxRoomsPerClient", "must be positive")
        try require(eventsPerSecond > 0 && eventBurst > 0, "eventsPerSecond", "and eventBurst must be positive")
        try require(maxBodyBytes > 0, "maxBodyBytes", "must be positive")
        try require(maxQueuedMessages > 0, "maxQueuedMessages", "must be positive")
        try require(slowClientGrace >= 0, "slowClientGrace", "must not be negative")
        try require(
            (0...Int(Int32.max / 2)).contains(socketSendBuffer), "socketSendBuffer", "must be 0 to \(Int32.max / 2)")
        try require(responseCacheEntries >= 0, "responseCacheEntries", "must not be negative")
        try require(responseCacheBytes >= 0, "responseCacheBytes", "must not be negative")
        try require(responseCacheMaxAge >= 0, "responseCacheMaxAge", "must not be negative")
        try require(
            (tlsCertificatePath == nil) == (tlsPrivateKeyPath == nil), "tls",
            "needs both certificate and privateKey (PEM file paths)")
        try require(
            tlsCertificatePath.map { !$0.isEmpty } ?? true && tlsPrivateKeyPath.map { !$0.isEmpty } ?? true, "tls",
            "file paths must not be empty")
    }
}

/// A configuration value that is out of range or of the wrong type.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let key: String
    public let message: String

    public init(key: String, message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { message }
}
