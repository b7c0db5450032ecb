import Logging
import PluginAPI
import PluginKit

/// An HTTP request a transport forwarded to the host.
public struct HTTPRequest: Sendable {
    public var method: String
    public var path: String
    public var query: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    public var remoteAddress: String
    public var authSubject: String

    public init(
        method: String, path: String, query: String = "", headers: [(String, String)] = [], body: [UInt8] = [],
        remoteAddress: String = "", authSubject: String = ""
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
        self.authSubject = authSubject
    }

    /// The first value of a header, case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// The host's answer to an HTTP request.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response.
    public static func json(_ value: JSONValue, status: Int = 200) -> HTTPResponse {
        HTTPResponse(
            status: status, headers: [("Content-Type", "application/json; charset=utf-8")], body: value.bytes)
    }

    /// The JSON error shape every route uses: `{"error": code, "message": text}`.
    public static func error(
        _ status: Int, _ code: String, _ message: String, headers: [(String, String)] = []
    ) -> HTTPResponse {
        var response = json(.object([("error", .string(code)), ("message", .string(message))]), status: status)
        response.headers.append(contentsOf: headers)
        return response
    }
}

/// What the host does with a transport's events. Called on transport threads; must not block.
public protocol TransportEventHandler: AnyObject, Sendable {
    func clientConnected(_ transport: TransportPlugin, clientID: UInt64, meta: JSONValue)
    func clientDisconnected(_ transport: TransportPlugin, clientID: UInt64, reason: String)
    /// `arguments` is the event's JSON array; reply with `transport.ack(ackID, ...)` when ackID != 0.
    func clientEvent(_ transport: TransportPlugin, clientID: UInt64, event: String, arguments: JSONValue, ackID: UInt64)
    /// Answer with `transport.respond(requestID, ...)` exactly once.
    func httpRequest(_ transport: TransportPlugin, requestID: UInt64, request: HTTPRequest)
}

/// A loaded transport instance: the host's typed face of `mh_transport_vtable`.
public final class TransportPlugin: LifecycleBacked, @unchecked Sendable {
    // @unchecked: the vtable copy is immutable; lifecycle state is in `InstanceLifecycle`; the callback bridge is
    // immutable after init and only weakly refers back to this object.
    let lifecycle: InstanceLifecycle
    let table: mh_transport_vtable
    private let bridge: TransportBridge

    public init(
        plugin: LoadedPlugin, config: JSONValue, slot: String, handler: any TransportEventHandler, clock: any HostClock,
        logger: Logger, metrics: MetricsRegistry
    ) throws(PluginLoadError) {
        table = plugin.vtable.assumingMemoryBound(to: mh_transport_vtable.self).pointee
        let services = PluginServices(pluginID: plugin.descriptor.id, logger: logger, clock: clock, metrics: metrics)
        lifecycle = InstanceLifecycle(
            descriptor: plugin.descriptor, services: services,
            calls: LifecycleCalls(
                start: table.start!, stop: table.stop!, destroy: table.destroy!, health: table.health!)
        )
        bridge = TransportBridge(handler: handler, logger: services.logger)
        let create = table.create!
        let hostAPI = services.hostAPI
        let callbacks = bridge.hostTable
        try lifecycle.create(slot: slot) { error, out in
            withMHString(config.text) { json in create(hostAPI, json, callbacks, out, error) }
        }
        bridge.transport = self
    }

    @discardableResult
    private func call(_ body: (UnsafeMutableRawPointer) -> mh_status) -> PluginError? {
        guard let instance = lifecycle.instance else { return .internalError("transport not created") }
        let status = body(instance)
        return status == mh_status(MH_OK) ? nil : PluginError(status, StatusName.of(status))
    }

    /// Publishes `payload` (one JSON value) as `event` to everyone in `room`, encoded once by the transport.
    @discardableResult
    public func publish(room: String, event: String, payload: [UInt8], conflationKey: String = "") -> PluginError? {
        let publish = table.publish!
        return call { instance in
            withMHString(room) { room in
                withMHString(event) { event in
                    withMHBytes(payload) { payload in
                        withMHString(conflationKey) { publish(instance, room, event, payload, $0) }
                    }
                }
            }
        }
    }

    @discardableResult
    public func send(clientID: UInt64, event: String, payload: [UInt8]) -> PluginError? {
        let send = table.send!
        return call { instance in
            withMHString(event) { event in withMHBytes(payload) { send(instance, clientID, event, $0) } }
        }
    }

    @discardableResult
    public func join(clientID: UInt64, room: String) -> PluginError? {
        let join = table.join!
        return call { instance in withMHString(room) { join(instance, clientID, $0) } }
    }

    @discardableResult
    public func leave(clientID: UInt64, room: String) -> PluginError? {
        let leave = table.leave!
        return call { instance in withMHString(room) { leave(instance, clientID, $0) } }
    }

    @discardableResult
    public func disconnect(clientID: UInt64, reason: String) -> PluginError? {
        let disconnect = table.disconnect!
        return call { instance in withMHString(reason) { disconnect(instance, clientID, $0) } }
    }

    @discardableResult
    public func ack(_ ackID: UInt64, arguments: [UInt8]) -> PluginError? {
        let ack = table.ack!
        return call { instance in withMHBytes(arguments) { ack(instance, ackID, $0) } }
    }

    @discardableResult
    public func respond(_ requestID: UInt64, _ response: HTTPResponse) -> PluginError? {
        let respond = table.respond!
        let arena = StringArena(response.headers.flatMap { [$0.0, $0.1] })
        return call { instance in
            arena.withStrings { strings in
                let headers = response.headers.indices.map {
                    mh_header(
                        struct_size: UInt32(MemoryLayout<mh_header>.stride), name: strings[2 * $0],
                        value: strings[2 * $0 + 1]
                    )
                }
                return headers.withUnsafeBufferPointer { headerBuffer in
                    withMHBytes(response.body) { body in
                        var record = mh_http_response()
                        record.struct_size = UInt32(MemoryLayout<mh_http_response>.stride)
                        record.status = Int32(response.status)
                        record.headers = headerBuffer.baseAddress
                        record.header_count = headerBuffer.count
                        record.body = body
                        return respond(instance, requestID, &record)
                    }
                }
            }
        }
    }
}

/// The `mh_transport_host` table given to a transport.
final class TransportBridge: @unchecked Sendable {
    // @unchecked: `transport` is set once right after the transport's create, before start lets callbacks flow.
    let handler: any TransportEventHandler
    let logger: Logger
    weak var transport: TransportPlugin?
    let table: UnsafeMutablePointer<mh_transport_host>

    init(handler: any TransportEventHandler, logger: Logger) {
        self.handler = handler
        self.logger = logger
        table = .allocate(capacity: 1)
        table.initialize(to: mh_transport_host())
        table.pointee.struct_size = UInt32(MemoryLayout<mh_transport_host>.stride)
        table.pointee.ctx = Unmanaged.passUnretained(self).toOpaque()
        table.pointee.on_client_connected = { ctx, clientID, meta in
            guard let bridge = TransportBridge.from(ctx), let transport = bridge.transport else { return }
            let value = (try? JSONValue.parse(meta.array)) ?? .object([])
            bridge.handler.clientConnected(transport, clientID: clientID, meta: value)
        }
        table.pointee.on_client_disconnected = { ctx, clientID, reason in
            guard let bridge = TransportBridge.from(ctx), let transport = bridge.transport else { return }
            bridge.handler.clientDisconnected(transport, clientID: clientID, reason: String(reason))
        }
        table.pointee.on_client_event = { ctx, clientID, event, args, ackID in
            guard let bridge = TransportBridge.from(ctx), let transport = bridge.transport else { return }
            let arguments: JSONValue
            do {
                arguments = try JSONValue.parse(args.array)
            } catch {
                bridge.logger.warning(
                    "transport passed an event with invalid JSON arguments; ignored",
                    metadata: ["event": "\(String(event))"])
                return
            }
            bridge.handler.clientEvent(
                transport, clientID: clientID, event: String(event), arguments: arguments, ackID: ackID)
        }
        table.pointee.on_http_request = { ctx, requestID, record in
            guard let bridge = TransportBridge.from(ctx), let transport = bridge.transport else { return }
            guard
                let copy = Records.read(UnsafeRawPointer(record), count: 1, as: mh_http_request.self, minimumSize: 8)?
                    .first,
                let headerRecords = Records.read(
                    UnsafeRawPointer(copy.headers), count: copy.header_count, as: mh_header.self)
            else {
                transport.respond(requestID, .error(500, "internal", "transport passed a malformed request"))
                return
            }
            let request = HTTPRequest(
                method: String(copy.method), path: String(copy.path), query: String(copy.query),
                headers: headerRecords.map { (String($0.name), String($0.value)) }, body: copy.body.array,
                remoteAddress: String(copy.remote_address), authSubject: String(copy.auth_subject)
            )
            bridge.handler.httpRequest(transport, requestID: requestID, request: request)
        }
    }

    deinit {
        table.deinitialize(count: 1)
        table.deallocate()
    }

    var hostTable: UnsafePointer<mh_transport_host> { UnsafePointer(table) }

    static func from(_ ctx: UnsafeMutableRawPointer?) -> TransportBridge? {
        guard let ctx else { return nil }
        return Unmanaged<TransportBridge>.fromOpaque(ctx).takeUnretainedValue()
    }
}
