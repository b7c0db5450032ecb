import Dispatch
import HTTPTypes
import PluginAPI
import PluginKit
import SocketIOProtocol
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What the test host saw through the transport callbacks.
final class HostRecorder: Sendable {
    let lines = Mutex<[String]>([])
    let logs = Mutex<[String]>([])
    let metrics = Mutex<[String]>([])
    /// Set by the test: the vtable and instance to answer HTTP requests and acks with.
    let respondTarget = Mutex<PluginTarget?>(nil)

    func record(_ line: String) { lines.withLock { $0.append(line) } }

    /// The `occurrence`-th line (1-based) starting with `prefix`, waiting for it.
    func wait(for prefix: String, occurrence: Int = 1, timeout: Duration = .seconds(5)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let matches = lines.withLock { $0.filter { $0.hasPrefix(prefix) } }
            if matches.count >= occurrence { return matches[occurrence - 1] }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestFailure("no host callback starting with \(prefix); saw \(lines.withLock { $0 })")
    }
}

/// The plugin instance the test host answers through.
/// Safety: `@unchecked Sendable` because the vtable is immutable static storage and the instance pointer is only
/// passed back to the plugin's [any]-thread functions.
struct PluginTarget: @unchecked Sendable {
    let vtable: UnsafePointer<mh_transport_vtable>
    let instance: UnsafeMutableRawPointer
}

private func hostRecorder(_ ctx: UnsafeMutableRawPointer?) -> HostRecorder {
    Unmanaged<HostRecorder>.fromOpaque(ctx!).takeUnretainedValue()
}

/// Loads the built plugin library next to the test binary.
func loadTransportPlugin() throws -> UnsafePointer<mh_plugin>? {
    var buffer = [CChar](repeating: 0, count: 4_096)
    let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    let executable = String(decoding: buffer[0..<max(0, length)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    var directory = executable
    while !directory.isEmpty, directory.last != "/" { directory.removeLast() }
    let path = directory + "libSocketIOTransport.so"
    guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
        throw TestFailure("cannot load \(path): \(String(cString: dlerror()))")
    }
    guard let symbol = dlsym(handle, MH_ENTRY_SYMBOL) else { throw TestFailure("no entry symbol") }
    let entry = unsafeBitCast(symbol, to: mh_entry_fn.self)
    #expect(entry(2, 0) == nil)
    return entry(1, 0)
}

/// Runs a plugin [control] call on a Dispatch thread, as the host does: those calls may block while the
/// plugin waits for its own tasks, which must never happen on Swift's cooperative pool.
func offPool<T: Sendable>(_ body: @escaping () -> T) async -> T {
    // The caller awaits the call's end, so the captured plugin pointers are never used concurrently.
    nonisolated(unsafe) let body = body
    return await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: body()) }
    }
}

@Suite("SocketIOTransport plugin through the C ABI")
struct TransportPluginTests {
    @Test("create/start/serve/stop through the vtable, with every host callback and no callback after stop")
    func lifecycle() async throws {
        let descriptor = try #require(try loadTransportPlugin())
        #expect(String(cString: descriptor.pointee.id) == "markethub.socketio-transport")
        #expect(descriptor.pointee.kind == mh_kind(MH_KIND_TRANSPORT))
        let vtable = descriptor.pointee.vtable.assumingMemoryBound(to: mh_transport_vtable.self)

        let recorder = HostRecorder()
        let context = Unmanaged.passRetained(recorder).toOpaque()
        defer { Unmanaged<HostRecorder>.fromOpaque(context).release() }
        var api = mh_host_api()
        api.struct_size = UInt32(MemoryLayout<mh_host_api>.stride)
        api.abi_major = UInt16(MH_ABI_MAJOR)
        api.ctx = context
        api.log = { ctx, _, message, _ in hostRecorder(ctx).logs.withLock { $0.append(String(message)) } }
        api.monotonic_ns = { _ in Int64(DispatchTime.now().uptimeNanoseconds) }
        api.metric = { ctx, kind, name, _, _, value in
            hostRecorder(ctx).metrics.withLock { $0.append("\(kind) \(String(name)) \(value)") }
        }
        var callbacks = mh_transport_host()
        callbacks.struct_size = UInt32(MemoryLayout<mh_transport_host>.stride)
        callbacks.ctx = context
        callbacks.on_client_connected = { ctx, id, meta in
            hostRecorder(ctx).record("connected \(id) \(String(decoding: meta.array, as: UTF8.self))")
        }
        callbacks.on_client_disconnected = { ctx, id, reason in
            hostRecorder(ctx).record("disconnected \(id) \(String(reason))")
        }
        callbacks.on_client_event = { ctx, id, event, args, ack in
            let host = hostRecorder(ctx)
            host.record("event \(id) \(String(event)) \(String(decoding: args.array, as: UTF8.self)) ack=\(ack)")
            guard ack != 0, let target = host.respondTarget.withLock({ $0 }) else { return }
            let status = withMHBytes(Array("[\"done\"]".utf8)) { target.vtable.pointee.ack(target.instance, ack, $0) }
            host.record("ack status \(status)")
        }
        callbacks.on_http_request = { ctx, id, request in
            let host = hostRecorder(ctx)
            guard let request else { return }
            host.record(
                "http \(String(request.pointee.method)) \(String(request.pointee.path)) \(String(request.pointee.auth_subject))"
            )
            guard let target = host.respondTarget.withLock({ $0 }) else { return }
            // Answer from another thread, as a real host would after an asynchronous look-up.
            DispatchQueue.global().async {
                let body = Array("{\"ok\":true}".utf8)
                withMHString("Content-Type") { name in
                    withMHString("application/json") { value in
                        let header = mh_header(
                            struct_size: UInt32(MemoryLayout<mh_header>.stride), name: name, value: value)
                        withUnsafePointer(to: header) { headerPointer in
                            withMHBytes(body) { bytes in
                                var response = mh_http_response(
                                    struct_size: UInt32(MemoryLayout<mh_http_response>.stride), status: 201,
                                    headers: headerPointer, header_count: 1, body: bytes
                                )
                                _ = target.vtable.pointee.respond(target.instance, id, &response)
                            }
                        }
                    }
                }
            }
        }

        let errors = ErrorBuffer()
        var instance: UnsafeMutableRawPointer?
        // A bad config is refused with a message.
        let bad = withMHString("{\"port\":\"eighty\"}") {
            vtable.pointee.create(&api, $0, &callbacks, &instance, errors.errbuf)
        }
        #expect(bad == mh_status(MH_INVALID))
        #expect(errors.message.contains("port"))

        let port = try freePort()
        let config =
            "{\"port\":\(port),\"pingInterval\":300,\"pingTimeout\":200,\"token\":\"tk\",\"somethingElse\":1,"
            + "\"metricsInterval\":100}"
        try #require(
            withMHString(config) { vtable.pointee.create(&api, $0, &callbacks, &instance, errors.errbuf) }
                == mh_status(MH_OK))
        let plugin = try #require(instance)
        let target = PluginTarget(vtable: vtable, instance: plugin)
        recorder.respondTarget.withLock { $0 = target }
        #expect(vtable.pointee.health(plugin, errors.errbuf) == mh_health_state(MH_HEALTH_DOWN))
        let started = await offPool { vtable.pointee.start(plugin, errors.errbuf) }
        try #require(started == mh_status(MH_OK), "\(errors.message)")
        #expect(recorder.logs.withLock { $0.contains { $0.contains("unknown config keys") } })

        // A second instance on the same port fails to start with a message.
        var other: UnsafeMutableRawPointer?
        #expect(
            withMHString(config) { vtable.pointee.create(&api, $0, &callbacks, &other, errors.errbuf) }
                == mh_status(MH_OK))
        let clash = await offPool { vtable.pointee.start(other, errors.errbuf) }
        #expect(clash == mh_status(MH_UNAVAILABLE))
        #expect(!errors.message.isEmpty)
        await offPool { vtable.pointee.stop(other) }
        vtable.pointee.destroy(other)

        try await withWebSocket(port) { peer in
            _ = try await peer.nextText()
            try await peer.send("40{\"token\":\"tk\"}")
            #expect(try await peer.nextText().hasPrefix("40{\"sid\":"))
        }
        let connected = try await recorder.wait(for: "connected")
        #expect(connected.contains("\"auth\":{\"token\":\"tk\"}"))
        #expect(connected.contains("\"transport\":\"websocket\""))
        #expect(connected.contains("\"subject\":\"bearer\""))
        _ = try await recorder.wait(for: "disconnected")

        try await withWebSocket(port) { peer in
            _ = try await peer.nextText()
            try await peer.send("40{\"token\":\"tk\"}")
            _ = try await peer.nextText()
            try await peer.send("425[\"live:subscribe\",{\"symbol\":\"AAPL\"}]")
            #expect(try await peer.nextText() == "435[\"done\"]")
        }
        let event = try await recorder.wait(for: "event")
        #expect(event.hasSuffix("live:subscribe [{\"symbol\":\"AAPL\"}] ack=\(event.split(separator: "=").last ?? "")"))
        #expect(!event.hasSuffix("ack=0"))
        #expect(try await recorder.wait(for: "ack status") == "ack status 0")

        // join + publish through the vtable reach the client.
        try await withWebSocket(port) { peer in
            _ = try await peer.nextText()
            try await peer.send("40{\"token\":\"tk\"}")
            _ = try await peer.nextText()
            let line = try await recorder.wait(for: "connected", occurrence: 3)
            let id = UInt64(line.split(separator: " ")[1])!
            #expect(withMHString("quotes") { target.vtable.pointee.join(target.instance, id, $0) } == mh_status(MH_OK))
            #expect(
                withMHString("quotes") { target.vtable.pointee.join(target.instance, 999, $0) }
                    == mh_status(MH_NOT_FOUND))
            var health = ErrorBuffer()
            #expect(target.vtable.pointee.health(target.instance, health.errbuf) == mh_health_state(MH_HEALTH_OK))
            #expect(health.message == "1 client")
            health = ErrorBuffer()
            let published = withMHString("quotes") { room in
                withMHString("live:quote") { event in
                    withMHBytes(Array("{\"s\":\"AAPL\"}".utf8)) { payload in
                        withMHString("AAPL") { key in
                            target.vtable.pointee.publish(target.instance, room, event, payload, key)
                        }
                    }
                }
            }
            #expect(published == mh_status(MH_OK))
            #expect(try await peer.nextText() == "42[\"live:quote\",{\"s\":\"AAPL\"}]")
            let invalid = withMHString("quotes") { room in
                withMHString("x") { event in
                    withMHBytes(Array("{".utf8)) {
                        target.vtable.pointee.publish(target.instance, room, event, $0, mh_str())
                    }
                }
            }
            #expect(invalid == mh_status(MH_INVALID))
            #expect(
                withMHString("bye") { target.vtable.pointee.disconnect(target.instance, id, $0) } == mh_status(MH_OK))
            #expect(try await peer.nextText() == "41")
        }

        // REST: the token is checked, the request reaches the host, the host's answer reaches the client.
        #expect(try await http(port, .get, "/api/market/status").status == 401)
        let answered = try await http(port, .get, "/api/market/status", headers: [.authorization: "Bearer tk"])
        #expect(answered.status == 201)
        #expect(answered.body == "{\"ok\":true}")
        #expect(try await recorder.wait(for: "http") == "http GET /api/market/status bearer")

        // Statistics reach the host as metrics.
        let metrics = recorder.metrics.withLock { $0 }
        #expect(metrics.contains { $0.hasPrefix("\(MH_METRIC_GAUGE_SET) socketio_clients ") })
        #expect(metrics.contains { $0.hasPrefix("\(MH_METRIC_COUNTER_ADD) socketio_messages_queued_total ") })

        await offPool { vtable.pointee.stop(plugin) }
        let seen = recorder.lines.withLock { $0.count }
        let metricsSeen = recorder.metrics.withLock { $0.count }
        // After stop: nothing listens and no callback is made.
        await #expect(throws: (any Error).self) { _ = try await http(port, .get, "/health") }
        try await Task.sleep(for: .milliseconds(300))
        #expect(recorder.lines.withLock { $0.count } == seen)
        #expect(recorder.metrics.withLock { $0.count } == metricsSeen)
        await offPool { vtable.pointee.stop(plugin) }
        vtable.pointee.destroy(plugin)
    }
}

/// A port that was free a moment ago.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw TestFailure("cannot find a free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}
