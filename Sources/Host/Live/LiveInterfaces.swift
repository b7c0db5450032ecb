import PluginKit

/// What the live services need from the provider: upstream subscriptions.
public protocol UpstreamSubscriptions: AnyObject, Sendable {
    func subscribe(_ symbols: [String], channels: Channels) throws(PluginError)
    func unsubscribe(_ symbols: [String], channels: Channels) throws(PluginError)
}

extension ProviderPlugin: UpstreamSubscriptions {}

/// Where the live services send events: a transport (rooms are per transport, so publishing goes to each).
public protocol LiveOutput: AnyObject, Sendable {
    @discardableResult
    func publish(room: String, event: String, payload: [UInt8], conflationKey: String) -> PluginError?
    @discardableResult
    func send(clientID: UInt64, event: String, payload: [UInt8]) -> PluginError?
    @discardableResult
    func join(clientID: UInt64, room: String) -> PluginError?
    @discardableResult
    func leave(clientID: UInt64, room: String) -> PluginError?
}

extension TransportPlugin: LiveOutput {}

/// One client of one transport.
struct ClientKey: Hashable, Sendable {
    let output: ObjectIdentifier
    let id: UInt64

    init(_ output: any LiveOutput, _ id: UInt64) {
        self.output = ObjectIdentifier(output)
        self.id = id
    }
}

/// The error payload every live service sends: `{symbol, code, message}`.
enum LiveError {
    static func payload(symbol: String, code: String, message: String) -> JSONValue {
        .object([("symbol", .string(symbol)), ("code", .string(code)), ("message", .string(message))])
    }

    /// A bounded, machine-readable code for a plugin status.
    static func code(_ error: PluginError) -> String { error.statusName }
}
