import SocketIOProtocol

/// What the server tells its owner. Every method may be called on any thread, concurrently for different
/// clients; for one client, connect, events and disconnect arrive in order. Implementations must not block.
public protocol SocketIOServerDelegate: Sendable {
    /// A client completed its Socket.IO CONNECT on a namespace.
    func server(_ server: SocketIOServer, clientConnected client: ConnectedClient)
    /// A client is gone (namespace disconnect, transport close, timeout, limit or server shutdown).
    func server(_ server: SocketIOServer, clientDisconnected clientID: UInt64, reason: String)
    /// A client emitted an event. When `ackToken` is set, answer once with `SocketIOServer.ack(_:arguments:)`.
    func server(
        _ server: SocketIOServer, client clientID: UInt64, emitted event: String, arguments: EventArguments,
        ackToken: UInt64?
    )
    /// An HTTP request under `/api/`, or for `/health`, `/metrics`, `/openapi.yaml`.
    func server(_ server: SocketIOServer, handle request: ForwardedRequest) async -> ForwardedResponse
}

/// A client that has just connected to a namespace.
public struct ConnectedClient: Sendable {
    /// Unique for the life of the process, never 0.
    public let id: UInt64
    public let namespace: String
    /// The Socket.IO socket id sent to the client (distinct from the Engine.IO session id).
    public let socketID: String
    /// The CONNECT auth payload, or an empty object.
    public let auth: JSONValue
    public let remoteAddress: String
    /// `websocket` or `polling`, at connect time.
    public let transport: String
    /// Who authenticated (`bearer` when a token was checked, empty when auth is off).
    public let subject: String

    /// `{"auth":…,"remoteAddress":…,"transport":…,"subject":…}` as the host ABI expects it.
    public var metadataJSON: JSONValue {
        .object([
            JSONMember("auth", auth),
            JSONMember("remoteAddress", .string(remoteAddress)),
            JSONMember("transport", .string(transport)),
            JSONMember("subject", .string(subject)),
            JSONMember("namespace", .string(namespace)),
        ])
    }
}

/// The arguments of a client event: JSON values, with binary data as placeholders into `attachments`.
public struct EventArguments: Sendable, Equatable {
    public var values: [JSONValue]
    public var attachments: [[UInt8]]

    public init(_ values: [JSONValue], attachments: [[UInt8]] = []) {
        self.values = values
        self.attachments = attachments
    }

    /// The arguments as one JSON array.
    public var json: JSONValue { .array(values) }
}

/// An HTTP request handed to the delegate. Everything is copied; the body is complete.
public struct ForwardedRequest: Sendable {
    public var method: String
    /// Decoded path, e.g. `/api/market/aggs`.
    public var path: String
    /// Raw query without `?`.
    public var query: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var remoteAddress: String
    /// Who the bearer token identified; empty when auth is off.
    public var authSubject: String
}

/// The delegate's answer to a `ForwardedRequest`.
public struct ForwardedResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON error body `{"error": code, "message": message}`.
    public static func error(status: Int, code: String, message: String) -> ForwardedResponse {
        let body = JSONValue.object([JSONMember("error", .string(code)), JSONMember("message", .string(message))])
        return ForwardedResponse(
            status: status, headers: [("Content-Type", "application/json")], body: body.jsonBytes
        )
    }
}
