import Logging
import PluginAPI
import PluginKit
import SocketIOServer

/// The plugin's C surface: the descriptor, the transport vtable and the one exported entry point.
enum SocketIOTransportPlugin {
    // nonisolated(unsafe): written once by the lazy static initialiser, never mutated, never freed.
    nonisolated(unsafe) static let descriptor: UnsafePointer<mh_plugin> = PluginExport.makeDescriptor(
        kind: mh_kind(MH_KIND_TRANSPORT), id: "markethub.socketio-transport", version: "0.1.0",
        description: "Socket.IO v5 / Engine.IO v4 server with REST forwarding and static files (Hummingbird)",
        vtable: PluginExport.permanent(vtable)
    )

    static func instance(_ pointer: UnsafeMutableRawPointer?) -> TransportInstance? {
        pointer.map { Unmanaged<TransportInstance>.fromOpaque($0).takeUnretainedValue() }
    }

    static func status(_ body: () throws -> Void) -> mh_status {
        catchingStatus(mh_errbuf(buf: nil, cap: 0), body)
    }

    static func map(_ error: SocketIOServerError) -> PluginError {
        switch error.code {
        case .notFound: .notFound(error.message)
        case .invalid: .invalid(error.message)
        case .limitExceeded: .limitExceeded(error.message)
        default: .unavailable(error.message)
        }
    }

    /// Runs a server call at the boundary, mapping its errors to statuses.
    static func serverCall(
        _ pointer: UnsafeMutableRawPointer?, _ body: (SocketIOServer) throws(SocketIOServerError) -> Void
    ) -> mh_status {
        status {
            guard let instance = instance(pointer) else { throw PluginError.invalid("no instance") }
            let server = try instance.requireServer()
            do throws(SocketIOServerError) { try body(server) } catch { throw map(error) }
        }
    }

    static let vtable = mh_transport_vtable(
        struct_size: UInt32(MemoryLayout<mh_transport_vtable>.stride),
        create: { host, config, callbacks, out, err in
            catchingStatus(err) {
                guard let host, let callbacks, let out else {
                    throw PluginError.invalid("create needs host, callbacks and out")
                }
                let (configuration, metricsInterval, unknown) = try SocketIOServerConfiguration.fromPluginJSON(
                    String(config)
                )
                let instance = TransportInstance(
                    host: PluginHost(host), callbacks: HostCallbacks(callbacks), configuration: configuration,
                    metricsInterval: .milliseconds(metricsInterval)
                )
                if !unknown.isEmpty {
                    instance.logger.warning(
                        "ignoring unknown config keys", metadata: ["config.keys": "\(unknown.joined(separator: ","))"]
                    )
                }
                out.pointee = Unmanaged.passRetained(instance).toOpaque()
            }
        },
        start: { pointer, err in
            catchingStatus(err) {
                guard let instance = instance(pointer) else { throw PluginError.invalid("no instance") }
                try instance.start()
            }
        },
        stop: { pointer in instance(pointer)?.stop() },
        destroy: { pointer in
            guard let pointer else { return }
            Unmanaged<TransportInstance>.fromOpaque(pointer).release()
        },
        health: { pointer, detail in
            guard let instance = instance(pointer) else {
                detail.write("no instance")
                return mh_health_state(MH_HEALTH_DOWN)
            }
            let (state, text) = instance.health()
            detail.write(text)
            return state
        },
        publish: { pointer, room, event, payload, key in
            let (room, event, payload, key) = (String(room), String(event), payload.array, String(key))
            return serverCall(pointer) { server throws(SocketIOServerError) in
                _ = try server.publish(
                    room: room, event: event, payloadJSON: payload, conflationKey: key.isEmpty ? nil : key
                )
            }
        },
        send: { pointer, client, event, payload in
            let (event, payload) = (String(event), payload.array)
            return serverCall(pointer) { server throws(SocketIOServerError) in
                try server.send(to: client, event: event, payloadJSON: payload)
            }
        },
        join: { pointer, client, room in
            let room = String(room)
            return serverCall(pointer) { server throws(SocketIOServerError) in try server.join(client, room: room) }
        },
        leave: { pointer, client, room in
            let room = String(room)
            return serverCall(pointer) { server throws(SocketIOServerError) in try server.leave(client, room: room) }
        },
        disconnect: { pointer, client, reason in
            let reason = String(reason)
            return serverCall(pointer) { server throws(SocketIOServerError) in
                try server.disconnect(client, reason: reason.isEmpty ? "server disconnect" : reason)
            }
        },
        ack: { pointer, token, arguments in
            let arguments = arguments.array
            return serverCall(pointer) { server throws(SocketIOServerError) in
                try server.ack(token, argumentsJSON: arguments)
            }
        },
        respond: { pointer, requestID, response in
            status {
                guard let instance = instance(pointer) else { throw PluginError.invalid("no instance") }
                guard let response, response.pointee.struct_size >= 8 else {
                    throw PluginError.invalid("respond needs a response")
                }
                try instance.respond(requestID, ForwardedResponse(copying: response))
            }
        },
        get_extension: { _, _ in nil }
    )
}

extension ForwardedResponse {
    /// Copies a borrowed C response, reading only the fields inside its struct_size.
    init(copying pointer: UnsafePointer<mh_http_response>) {
        var copy = mh_http_response()
        let size = min(Int(pointer.pointee.struct_size), MemoryLayout<mh_http_response>.size)
        withUnsafeMutableBytes(of: &copy) { destination in
            destination.copyMemory(from: UnsafeRawBufferPointer(start: UnsafeRawPointer(pointer), count: size))
        }
        var headers: [(name: String, value: String)] = []
        if let base = copy.headers, copy.header_count > 0 {
            let stride = Int(base.pointee.struct_size)
            if stride >= MemoryLayout<mh_header>.size {
                for index in 0..<copy.header_count {
                    let record = UnsafeRawPointer(base).advanced(by: stride * index)
                        .assumingMemoryBound(to: mh_header.self)
                    headers.append((String(record.pointee.name), String(record.pointee.value)))
                }
            }
        }
        self.init(status: Int(copy.status), headers: headers, body: copy.body.array)
    }
}

/// The plugin's one exported symbol.
@c(markethub_plugin_entry_v1)
public func markethubPluginEntry(_ major: UInt16, _ minor: UInt16) -> UnsafePointer<mh_plugin>? {
    PluginExport.entry(hostMajor: major, descriptor: SocketIOTransportPlugin.descriptor)
}
