import HTTPTypes
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SocketIOProtocol
import SocketIOServer
import Synchronization
import Testing
import WSClient

/// A test-side Engine.IO WebSocket peer: reads packets, answers pings, writes packets.
struct EnginePeer {
    var iterator: WebSocketInboundMessageStream.AsyncIterator
    let outbound: WebSocketOutboundWriter

    init(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter) {
        iterator = inbound.messages(maxSize: 1 << 22).makeAsyncIterator()
        self.outbound = outbound
    }

    /// The next text or binary message that is not a ping (pings are answered). Nil when the socket closed.
    mutating func next() async throws -> WebSocketMessage? {
        while let message = try await iterator.next() {
            if case .text("2") = message {
                try await outbound.write(.text("3"))
                continue
            }
            return message
        }
        return nil
    }

    /// The next text message, failing on anything else.
    mutating func nextText() async throws -> String {
        guard case .text(let text)? = try await next() else { throw TestFailure("expected a text message") }
        return text
    }

    func send(_ text: String) async throws { try await outbound.write(.text(text)) }
}

let testLogger: Logger = {
    var logger = Logger(label: "socketio-test-client")
    logger.logLevel = .critical
    return logger
}()

/// Connects a WebSocket client and runs `body` with it.
func withWebSocket(
    _ port: Int, query: String = "EIO=4&transport=websocket", path: String = "/socket.io/",
    _ body: @escaping @Sendable (inout EnginePeer) async throws -> Void
) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    do {
        _ = try await WebSocketClient.connect(
            url: "ws://127.0.0.1:\(port)\(path)?\(query)", configuration: .init(maxFrameSize: 1 << 22),
            eventLoopGroup: group, logger: testLogger
        ) { inbound, outbound, _ in
            var peer = EnginePeer(inbound, outbound)
            try await body(&peer)
        }
    } catch {
        try? await group.shutdownGracefully()
        throw error
    }
    try await group.shutdownGracefully()
}

@Suite("Engine.IO and Socket.IO over WebSocket")
struct WebSocketTransportTests {
    @Test("WebSocket-only handshake, connect, events, acks and binary attachments")
    func eventsOverWebSocket() async throws {
        try await withServer { _, port, _ in
            try await withWebSocket(port) { peer in
                let open = try JSONValue.parse(String(try await peer.nextText().dropFirst()))
                #expect(open["upgrades"] == .array([]))
                try await peer.send("40")
                #expect(try await peer.nextText().hasPrefix("40{\"sid\":"))
                #expect(try await peer.nextText() == "42[\"auth\",{}]")
                try await peer.send("42[\"message\",\"hi\"]")
                #expect(try await peer.nextText() == "42[\"message-back\",\"hi\"]")
                try await peer.send("427[\"message-with-ack\",{\"a\":1}]")
                #expect(try await peer.nextText() == "437[{\"a\":1}]")
                try await peer.send("451-[\"message\",{\"_placeholder\":true,\"num\":0}]")
                try await peer.outbound.write(.binary(ByteBuffer(bytes: [1, 2, 3])))
                #expect(try await peer.nextText() == "451-[\"message-back\",{\"_placeholder\":true,\"num\":0}]")
                #expect(try await peer.next() == .binary(ByteBuffer(bytes: [1, 2, 3])))
                try await peer.send("451-9[\"message-with-ack\",{\"_placeholder\":true,\"num\":0}]")
                try await peer.outbound.write(.binary(ByteBuffer(bytes: [9])))
                #expect(try await peer.nextText() == "461-9[{\"_placeholder\":true,\"num\":0}]")
                #expect(try await peer.next() == .binary(ByteBuffer(bytes: [9])))
            }
        }
    }

    @Test("leaving a custom namespace keeps the connection; leaving the last namespace closes it")
    func namespaceDisconnects() async throws {
        try await withServer(config { $0.namespaces = ["/", "/custom"] }) { _, port, _ in
            try await withWebSocket(port) { peer in
                _ = try await peer.nextText()
                try await peer.send("40")
                _ = try await peer.nextText()
                _ = try await peer.nextText()
                try await peer.send("40/custom,{\"token\":\"abc\"}")
                #expect(try await peer.nextText().hasPrefix("40/custom,{\"sid\":"))
                #expect(try await peer.nextText() == "42/custom,[\"auth\",{\"token\":\"abc\"}]")
                try await peer.send("41/custom,")
                try await peer.send("42[\"message\",\"main\"]")
                #expect(try await peer.nextText() == "42[\"message-back\",\"main\"]")
                try await peer.send("41")
                #expect(try await peer.next() == nil)
            }
        }
    }

    @Test("a malformed Socket.IO packet closes the connection and the server stays healthy")
    func malformedPacket() async throws {
        try await withServer { server, port, delegate in
            try await withWebSocket(port) { peer in
                _ = try await peer.nextText()
                try await peer.send("40")
                _ = try await peer.nextText()
                _ = try await peer.nextText()
                try await peer.send("42{\"not\":\"an array\"}")
                while let message = try await peer.next() {
                    // Only the close packet may still arrive before the socket closes.
                    #expect(message == .text("1"))
                }
            }
            let gone = try await delegate.next { if case .disconnected = $0 { true } else { false } }
            guard case .disconnected(_, let reason) = gone else { throw TestFailure("\(gone)") }
            #expect(reason.hasPrefix("parse error"))
            #expect(server.sessionCount == 0)
            #expect(server.statistics.protocolErrors == 1)
            _ = try await pollingHandshake(port)
        }
    }

    @Test("a frame above maxPayload closes the connection")
    func oversizeFrame() async throws {
        try await withServer(config { $0.maxPayload = 2_048 }) { server, port, _ in
            try await withWebSocket(port) { peer in
                _ = try await peer.nextText()
                try await peer.send("4" + String(repeating: "x", count: 5_000))
                while try await peer.next() != nil {}
            }
            try await Task.sleep(for: .milliseconds(100))
            #expect(server.sessionCount == 0)
        }
    }

    @Test("an unknown sid or wrong EIO is refused an upgrade")
    func refusedUpgrade() async throws {
        try await withServer { _, port, _ in
            await #expect(throws: (any Error).self) {
                try await withWebSocket(port, query: "EIO=4&transport=websocket&sid=unknown") { _ in }
            }
            await #expect(throws: (any Error).self) {
                try await withWebSocket(port, query: "EIO=3&transport=websocket") { _ in }
            }
        }
    }

    @Test("upgrade from polling: 2probe/3probe, noop to the pending GET, 5, then traffic moves to the socket")
    func upgrade() async throws {
        try await withServer(config { $0.pingInterval = 5_000 }) { _, port, delegate in
            let sid = try await pollingHandshake(port)
            _ = try await send(port, sid, ["40"])
            _ = try await pollData(port, sid)
            let pending = Task { try await poll(port, sid) }
            try await Task.sleep(for: .milliseconds(100))
            try await withWebSocket(port, query: "EIO=4&transport=websocket&sid=\(sid)") { peer in
                try await peer.send("2probe")
                #expect(try await peer.nextText() == "3probe")
                let released = try await pending.value
                #expect(released.packets == ["6"])
                try await peer.send("5")
                try await peer.send("42[\"message\",\"over ws\"]")
                #expect(try await peer.nextText() == "42[\"message-back\",\"over ws\"]")
                #expect(try await poll(port, sid).status == 400)
                try await peer.send("1")
                while try await peer.next() != nil {}
            }
            let gone = try await delegate.next { if case .disconnected = $0 { true } else { false } }
            #expect({ if case .disconnected(_, "client close") = gone { true } else { false } }())
        }
    }

    @Test("publish reaches room members only, with the same bytes, and leave stops delivery")
    func roomsAndPublish() async throws {
        try await withServer { server, port, delegate in
            try await withWebSocket(port) { member in
                _ = try await member.nextText()
                try await member.send("40")
                _ = try await member.nextText()
                _ = try await member.nextText()
                try await member.send("421[\"join\",\"quotes:AAPL\"]")
                #expect(try await member.nextText() == "431[]")
                let memberID = try await delegate.next { if case .connected = $0 { true } else { false } }
                guard case .connected(let id, _, _) = memberID else { throw TestFailure("\(memberID)") }
                #expect(server.rooms(of: id) == ["quotes:AAPL"])

                try await withWebSocket(port) { outsider in
                    _ = try await outsider.nextText()
                    try await outsider.send("40")
                    _ = try await outsider.nextText()
                    _ = try await outsider.nextText()
                    let count = try server.publish(
                        room: "quotes:AAPL", event: "live:quote", payloadJSON: Array("{\"bid\":1.5}".utf8),
                        conflationKey: "AAPL"
                    )
                    #expect(count == 1)
                    try await outsider.send("42[\"message\",\"ping\"]")
                    #expect(try await outsider.nextText() == "42[\"message-back\",\"ping\"]")
                }
                #expect(try await member.nextText() == "42[\"live:quote\",{\"bid\":1.5}]")
                try server.leave(id, room: "quotes:AAPL")
                #expect(
                    try server.publish(room: "quotes:AAPL", event: "live:quote", payloadJSON: Array("1".utf8)) == 0
                )
                #expect(throws: SocketIOServerError.self) {
                    try server.publish(room: "x", event: "e", payloadJSON: Array("{bad".utf8))
                }
                try server.disconnect(id, reason: "bye")
                #expect(try await member.nextText() == "41")
            }
        }
    }

    @Test("join beyond maxRoomsPerClient is refused with limitExceeded")
    func roomLimit() async throws {
        try await withServer(config { $0.maxRoomsPerClient = 2 }) { server, port, delegate in
            try await withWebSocket(port) { peer in
                _ = try await peer.nextText()
                try await peer.send("40")
                _ = try await peer.nextText()
                let connected = try await delegate.next()
                guard case .connected(let id, _, _) = connected else { throw TestFailure("\(connected)") }
                try server.join(id, room: "a")
                try server.join(id, room: "b")
                try server.join(id, room: "a")
                #expect(throws: SocketIOServerError(.limitExceeded, "client \(id) is already in 2 rooms")) {
                    try server.join(id, room: "c")
                }
                #expect(throws: SocketIOServerError.self) { try server.join(999_999, room: "a") }
            }
        }
    }

    @Test("events beyond the per-client rate limit are refused, with an error ack when one was asked for")
    func rateLimit() async throws {
        try await withServer(
            config {
                $0.eventsPerSecond = 1
                $0.eventBurst = 2
            }
        ) { server, port, _ in
            try await withWebSocket(port) { peer in
                _ = try await peer.nextText()
                try await peer.send("40")
                _ = try await peer.nextText()
                _ = try await peer.nextText()
                try await peer.send("421[\"message-with-ack\",1]")
                try await peer.send("422[\"message-with-ack\",2]")
                try await peer.send("423[\"message-with-ack\",3]")
                #expect(try await peer.nextText() == "431[1]")
                #expect(try await peer.nextText() == "432[2]")
                #expect(try await peer.nextText().hasPrefix("433[{\"error\":\"rate_limited\""))
                #expect(server.statistics.eventsRateLimited == 1)
            }
        }
    }

    @Test("max clients refuses new sessions with 503 while existing ones keep working")
    func maxClients() async throws {
        try await withServer(config { $0.maxClients = 1 }) { _, port, _ in
            let sid = try await pollingHandshake(port)
            let refused = try await http(port, .get, "/socket.io/?EIO=4&transport=polling")
            #expect(refused.status == 503)
            _ = try await send(port, sid, ["40"])
            #expect(try await pollData(port, sid).first?.hasPrefix("40") == true)
        }
    }
}

@Suite("Graceful shutdown")
struct GracefulShutdownTests {
    @Test("shutdown closes open WebSockets and pending polls promptly and tells the delegate why")
    func closesConnections() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let delegate = RecordingDelegate()
        let server = SocketIOServer(
            configuration: config { $0.pingInterval = 10_000 }, delegate: delegate, eventLoopGroup: group,
            logger: testLogger
        )
        let services = ServiceGroup(configuration: .init(services: [server], logger: testLogger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await services.run() }
            let port = try await server.waitUntilListening()
            let sid = try await pollingHandshake(port)
            _ = try await send(port, sid, ["40"])
            _ = try await pollData(port, sid)
            tasks.addTask {
                let pending = try await poll(port, sid)
                #expect(pending.packets == ["6"])
            }
            tasks.addTask {
                try await withWebSocket(port) { peer in
                    _ = try await peer.nextText()
                    try await peer.send("40")
                    _ = try await peer.nextText()
                    while try await peer.next() != nil {}
                }
            }
            _ = try await delegate.next { if case .connected = $0 { true } else { false } }
            _ = try await delegate.next { if case .connected = $0 { true } else { false } }
            // Let the polling GET reach the server and start waiting.
            try await Task.sleep(for: .milliseconds(300))
            let started = ContinuousClock.now
            await services.triggerGracefulShutdown()
            try await tasks.waitForAll()
            #expect(ContinuousClock.now - started < .seconds(5))
            for _ in 0..<2 {
                let gone = try await delegate.next { if case .disconnected = $0 { true } else { false } }
                #expect({ if case .disconnected(_, "server shutting down") = gone { true } else { false } }())
            }
        }
        try await group.shutdownGracefully()
    }
}

@Suite("Slow consumers")
struct SlowConsumerTests {
    @Test("a client that stops reading is disconnected with a reason while a reading client gets every message")
    func slowClientIsDisconnected() async throws {
        let configuration = config {
            $0.maxQueuedMessages = 16
            $0.slowClientGrace = 200
            $0.pingInterval = 10_000
            $0.pingTimeout = 10_000
        }
        try await withServer(configuration) { server, port, delegate in
            let payload = "{\"blob\":\"" + String(repeating: "q", count: 32 * 1_024) + "\"}"
            let total = 600
            try await withThrowingTaskGroup(of: Int.self) { clients in
                @Sendable func join(_ peer: inout EnginePeer) async throws {
                    _ = try await peer.nextText()
                    try await peer.send("40")
                    _ = try await peer.nextText()
                    _ = try await peer.nextText()
                    try await peer.send("421[\"join\",\"feed\"]")
                    #expect(try await peer.nextText() == "431[]")
                }
                let isJoin: @Sendable (Observed) -> Bool = { if case .event(_, "join", _) = $0 { true } else { false } }
                clients.addTask {
                    let received = Counter()
                    try await withWebSocket(port) { fast in
                        try await join(&fast)
                        while received.value < total {
                            guard case .text(let text)? = try await fast.next() else { break }
                            if text.hasPrefix("42[\"tick\",") { received.increment() }
                        }
                    }
                    return received.value
                }
                guard case .event(let fastID, _, _) = try await delegate.next(where: isJoin) else { return }
                clients.addTask {
                    try await withWebSocket(port) { slow in
                        try await join(&slow)
                        // From here on this client reads nothing; the test cancels it once the server gave up.
                        try await Task.sleep(for: .seconds(30))
                    }
                    return -1
                }
                _ = try await delegate.next(where: isJoin)
                for _ in 0..<total {
                    try server.publish(room: "feed", event: "tick", payloadJSON: Array(payload.utf8))
                    try await Task.sleep(for: .milliseconds(1))
                }
                let gone = try await delegate.next(timeout: .seconds(10)) {
                    if case .disconnected = $0 { true } else { false }
                }
                guard case .disconnected(let goneID, let reason) = gone else { throw TestFailure("\(gone)") }
                #expect(reason.hasPrefix("slow consumer"))
                #expect(goneID != fastID)
                #expect(server.statistics.slowConsumerDisconnects == 1)
                #expect(try await clients.next() == total)
                clients.cancelAll()
            }
        }
    }
}

/// A thread-safe counter for test tasks.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func increment() { count.add(1, ordering: .relaxed) }
}
