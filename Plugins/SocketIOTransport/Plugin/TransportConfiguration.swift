import PluginKit
import SocketIOProtocol
import SocketIOServer

/// Configuration sections are parsed with the project's shared JSON type; SocketIOProtocol keeps its own
/// text-preserving JSON for relaying client payloads verbatim.
private typealias ConfigJSON = PluginKit.JSONValue

extension SocketIOServerConfiguration {
    /// Reads the plugin's JSON config section (keys documented on `SocketIOServerConfiguration`, plus
    /// `metricsInterval` in ms, default 5000, for statistics reported to the host) and validates it.
    /// Unknown keys are returned so the caller can warn about them.
    static func fromPluginJSON(
        _ text: String
    ) throws(PluginError) -> (Self, metricsInterval: Int, unknownKeys: [String]) {
        var configuration = SocketIOServerConfiguration()
        var metricsInterval = 5_000
        guard !text.isEmpty else { return (configuration, metricsInterval, []) }
        let root: ConfigJSON
        do throws(JSONError) {
            root = try ConfigJSON.parse(text)
        } catch {
            throw .invalid("config is not valid JSON: \(error.message)")
        }
        guard case .object(let members) = root else { throw .invalid("config must be a JSON object") }

        func string(_ key: String, _ value: ConfigJSON) throws(PluginError) -> String {
            guard case .string(let text) = value else { throw .invalid("\(key) must be a string") }
            return text
        }
        func integer(_ key: String, _ value: ConfigJSON) throws(PluginError) -> Int {
            guard let number = value.int64, let exact = Int(exactly: number) else {
                throw .invalid("\(key) must be an integer")
            }
            return exact
        }
        func double(_ key: String, _ value: ConfigJSON) throws(PluginError) -> Double {
            guard let number = value.double else { throw .invalid("\(key) must be a number") }
            return number
        }
        func strings(_ key: String, _ value: ConfigJSON) throws(PluginError) -> [String] {
            guard case .array(let elements) = value else { throw .invalid("\(key) must be an array of strings") }
            var result: [String] = []
            for element in elements { result.append(try string(key, element)) }
            return result
        }

        var unknown: [String] = []
        for (key, value) in members {
            if value == .null { continue }
            switch key {
            case "host": configuration.host = try string(key, value)
            case "port": configuration.port = try integer(key, value)
            case "path": configuration.path = try string(key, value)
            case "pingInterval": configuration.pingInterval = try integer(key, value)
            case "pingTimeout": configuration.pingTimeout = try integer(key, value)
            case "maxPayload": configuration.maxPayload = try integer(key, value)
            case "connectTimeout": configuration.connectTimeout = try integer(key, value)
            case "namespaces": configuration.namespaces = try strings(key, value)
            case "token": configuration.token = try string(key, value)
            case "corsOrigins": configuration.corsOrigins = try strings(key, value)
            case "maxClients": configuration.maxClients = try integer(key, value)
            case "maxRoomsPerClient", "maxSubscriptionsPerClient":
                configuration.maxRoomsPerClient = try integer(key, value)
            case "eventsPerSecond": configuration.eventsPerSecond = try double(key, value)
            case "eventBurst": configuration.eventBurst = try integer(key, value)
            case "maxBodyBytes": configuration.maxBodyBytes = try integer(key, value)
            case "webRoot": configuration.webRoot = try string(key, value)
            case "maxQueuedMessages": configuration.maxQueuedMessages = try integer(key, value)
            case "slowClientGrace": configuration.slowClientGrace = try integer(key, value)
            case "socketSendBuffer": configuration.socketSendBuffer = try integer(key, value)
            case "responseCacheEntries": configuration.responseCacheEntries = try integer(key, value)
            case "responseCacheBytes": configuration.responseCacheBytes = try integer(key, value)
            case "responseCacheMaxAge": configuration.responseCacheMaxAge = try integer(key, value)
            case "tls":
                guard case .object(let tlsMembers) = value else {
                    throw .invalid("tls must be an object {certificate, privateKey}")
                }
                for (tlsKey, tlsValue) in tlsMembers {
                    switch tlsKey {
                    case "certificate": configuration.tlsCertificatePath = try string("tls.certificate", tlsValue)
                    case "privateKey": configuration.tlsPrivateKeyPath = try string("tls.privateKey", tlsValue)
                    default: unknown.append("tls.\(tlsKey)")
                    }
                }
            case "metricsInterval": metricsInterval = try integer(key, value)
            default: unknown.append(key)
            }
        }
        do {
            try configuration.validate()
        } catch {
            throw .invalid(error.message)
        }
        guard metricsInterval >= 100 else { throw .invalid("metricsInterval must be at least 100 ms") }
        return (configuration, metricsInterval, unknown)
    }
}
