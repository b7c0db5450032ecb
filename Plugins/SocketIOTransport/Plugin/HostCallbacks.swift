import PluginAPI
import PluginKit
import SocketIOProtocol
import SocketIOServer
import Synchronization

/// The host's `mh_transport_host` callbacks, copied at `create` and guarded so that none is made after `stop`.
///
/// ### Safety
/// `@unchecked Sendable`: the table is copied into immutable storage; the host documents every callback as
/// [any] thread and its `ctx` as valid until `destroy`. The gate counts calls in flight so `close()` can wait
/// for them to finish before `stop` returns.
final class HostCallbacks: @unchecked Sendable {
    private let table: mh_transport_host
    private let gate = Mutex<(open: Bool, inFlight: Int)>((false, 0))

    init(_ pointer: UnsafePointer<mh_transport_host>) {
        // Copy only the fields the host's struct_size says it wrote; the rest stay NULL.
        var table = mh_transport_host()
        let size = min(Int(pointer.pointee.struct_size), MemoryLayout<mh_transport_host>.size)
        withUnsafeMutableBytes(of: &table) { destination in
            destination.copyMemory(from: UnsafeRawBufferPointer(start: UnsafeRawPointer(pointer), count: size))
        }
        self.table = table
    }

    func open() { gate.withLock { $0.open = true } }

    /// Refuses new callbacks and waits for the ones in flight.
    func close() {
        gate.withLock { $0.open = false }
        while gate.withLock({ $0.inFlight }) > 0 { sleepBriefly() }
    }

    private func enter() -> Bool {
        gate.withLock { state in
            guard state.open else { return false }
            state.inFlight += 1
            return true
        }
    }

    private func leave() { gate.withLock { $0.inFlight -= 1 } }

    /// Runs `body` with the table only while open. Returns false when the call was suppressed.
    @discardableResult
    private func call(_ body: (mh_transport_host) -> Void) -> Bool {
        guard enter() else { return false }
        defer { leave() }
        body(table)
        return true
    }

    func clientConnected(_ client: ConnectedClient) {
        let meta = client.metadataJSON.jsonBytes
        call { table in
            guard let function = table.on_client_connected else { return }
            withMHBytes(meta) { function(table.ctx, client.id, $0) }
        }
    }

    func clientDisconnected(_ id: UInt64, reason: String) {
        call { table in
            guard let function = table.on_client_disconnected else { return }
            withMHString(reason) { function(table.ctx, id, $0) }
        }
    }

    func clientEvent(_ id: UInt64, event: String, arguments: [UInt8], ackToken: UInt64) {
        call { table in
            guard let function = table.on_client_event else { return }
            withMHString(event) { event in withMHBytes(arguments) { function(table.ctx, id, event, $0, ackToken) } }
        }
    }

    /// Forwards a request; returns false when the host could not be called (stopped or no callback).
    func httpRequest(_ id: UInt64, _ request: ForwardedRequest) -> Bool {
        var delivered = false
        call { table in
            guard let function = table.on_http_request else { return }
            var arena = StringArena()
            let method = arena.append(request.method)
            let path = arena.append(request.path)
            let query = arena.append(request.query)
            let remote = arena.append(request.remoteAddress)
            let subject = arena.append(request.authSubject)
            let headerIndices = request.headers.map { (arena.append($0.name), arena.append($0.value)) }
            arena.withStrings { strings in
                let headers = headerIndices.map { name, value in
                    mh_header(
                        struct_size: UInt32(MemoryLayout<mh_header>.stride), name: strings[name], value: strings[value]
                    )
                }
                headers.withUnsafeBufferPointer { headerBuffer in
                    withMHBytes(request.body) { body in
                        var record = mh_http_request(
                            struct_size: UInt32(MemoryLayout<mh_http_request>.stride), reserved0: 0,
                            method: strings[method], path: strings[path], query: strings[query],
                            headers: headerBuffer.baseAddress, header_count: headerBuffer.count, body: body,
                            remote_address: strings[remote], auth_subject: strings[subject]
                        )
                        withUnsafePointer(to: &record) { function(table.ctx, id, $0) }
                        delivered = true
                    }
                }
            }
        }
        return delivered
    }
}

#if canImport(Glibc)
    import Glibc

    private func sleepBriefly() { usleep(1_000) }
#elseif canImport(Darwin)
    import Darwin

    private func sleepBriefly() { usleep(1_000) }
#endif
