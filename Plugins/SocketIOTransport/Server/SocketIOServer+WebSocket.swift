import HTTPTypes
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import SocketIOProtocol
import Synchronization

extension SocketIOServer {
    /// How many bytes the WebSocket writer takes from a client's queue at a time (at least one message).
    static let webSocketBatchBytes = 64 * 1_024

    /// Splits `path?query` into the path and its decoded query parameters.
    static func splitTarget(_ target: String) -> (path: String, query: [String: String]) {
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var query: [String: String] = [:]
        if parts.count == 2 {
            for pair in parts[1].split(separator: "&") {
                let keyValue = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = String(keyValue[0])
                if query[key] == nil { query[key] = keyValue.count == 2 ? String(keyValue[1]) : "" }
            }
        }
        return (String(parts.first ?? ""), query)
    }

    /// Decides whether an HTTP upgrade request becomes an Engine.IO WebSocket. Refused requests continue as
    /// ordinary HTTP requests and get the polling handler's 400 answer.
    func shouldUpgrade(
        _ head: HTTPRequest, channel: any Channel, remoteAddress: String
    ) -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        let (path, query) = Self.splitTarget(head.path ?? "")
        let trimmed = Self.trimmed(path)
        let echo = trimmed == echoPath
        guard trimmed == enginePath || echo, query["EIO"] == "4", query["transport"] == "websocket" else {
            return .dontUpgrade
        }
        if !configuration.corsOrigins.isEmpty, !configuration.corsOrigins.contains("*"),
            let origin = head.headerFields[.origin], !configuration.corsOrigins.contains(origin)
        {
            return .dontUpgrade
        }
        if let sid = query["sid"] {
            guard let session = session(sid), session.echo == echo else { return .dontUpgrade }
            let claimed = session.state.withLock { state -> Bool in
                guard !state.closed, state.transport == .polling, !state.hasWebSocket else { return false }
                state.hasWebSocket = true
                return true
            }
            guard claimed else { return .dontUpgrade }
            return .upgrade([:]) { inbound, outbound, _ in
                await self.serveWebSocket(
                    inbound, outbound, channel: channel, upgrading: session, echo: echo, remoteAddress: remoteAddress
                )
            }
        }
        return .upgrade([:]) { inbound, outbound, _ in
            await self.serveWebSocket(
                inbound, outbound, channel: channel, upgrading: nil, echo: echo, remoteAddress: remoteAddress)
        }
    }

    private enum Phase {
        case awaitingProbe
        case awaitingUpgrade
        case open
    }

    private func serveWebSocket(
        _ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, channel: any Channel,
        upgrading: EngineSession?, echo: Bool, remoteAddress: String
    ) async {
        let session: EngineSession
        var phase: Phase
        if let upgrading {
            session = upgrading
            phase = .awaitingProbe
        } else {
            guard let created = openSession(transport: .websocket, remoteAddress: remoteAddress, echo: echo) else {
                try? await outbound.close(.unexpectedServerError, reason: "server is full or stopping")
                return
            }
            session = created
            phase = .open
            let open = handshake(for: session, upgrades: []).packet.encodedForPolling()
            do {
                try await outbound.write(
                    .custom(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: open))))
            } catch {
                closeSession(session, reason: "transport error")
                return
            }
        }
        let (gate, openGate) = AsyncStream<Void>.makeStream()
        if phase == .open { openGate.finish() }

        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in gate {}
                if session.transport == .websocket { await self.drain(session, to: outbound, channel: channel) }
            }
            do {
                for try await message in inbound.messages(maxSize: configuration.maxPayload) {
                    let decoded: EnginePacket?
                    switch message {
                    case .text(let text):
                        do throws(ProtocolError) {
                            decoded = try EnginePacket.decodeText(Array(text.utf8))
                        } catch {
                            counters.add(.protocolErrors)
                            closeSession(session, reason: "parse error: \(error.message)", final: .text("1"))
                            decoded = nil
                        }
                    case .binary(let buffer): decoded = .binary(Array(buffer.readableBytesView))
                    }
                    guard let packet = decoded else { break }
                    switch phase {
                    case .awaitingProbe:
                        guard packet == EnginePacket(.ping, text: "probe") else { break }
                        try await outbound.write(.text("3probe"))
                        session.state.withLock { $0.upgrading = true }
                        // Releases the pending (or next) polling GET so the client can pause polling.
                        enqueue(OutboundMessage(.text("6")), to: session)
                        phase = .awaitingUpgrade
                    case .awaitingUpgrade:
                        if packet.type == .upgrade {
                            session.state.withLock { state in
                                state.transport = .websocket
                                state.upgrading = false
                            }
                            session.queue.wakeConsumer()
                            phase = .open
                            openGate.finish()
                        } else if !handle(packet, from: session) {
                            return
                        }
                    case .open:
                        guard handle(packet, from: session) else { break }
                    }
                    if session.isClosed { break }
                }
            } catch {
                logger.debug(
                    "websocket closed with error", metadata: ["sio.sid": "\(session.sid)", "error": "\(error)"])
                if phase == .open { closeSession(session, reason: "transport error", final: .text("1")) }
            }
            if phase == .open {
                closeSession(session, reason: "transport close")
            } else {
                // A failed upgrade leaves the polling session as it was.
                session.state.withLock { state in
                    state.hasWebSocket = false
                    state.upgrading = false
                }
            }
            openGate.finish()
            await group.waitForAll()
        }
    }

    /// Writes the session's queue to the socket until the queue closes, then closes the socket. Takes small
    /// batches so a backlog stays in the queue, where it is conflated and counted against the client's limit.
    ///
    /// Each batch goes to the channel in one event-loop turn with a single flush (one `writev` for many
    /// frames), and the next batch is taken only once the socket has accepted this one: that wait is the
    /// backpressure that lets a slow client's backlog build up in its queue. Writing frame by frame through the
    /// outbound writer costs a hop to the event loop and a system call per frame, which capped fan-out at about
    /// a quarter of the target. The direct writes bypass WebSocket extensions; the server negotiates none (a
    /// compression extension would need `coalesceWebSocketWrites` off).
    private func drain(_ session: EngineSession, to outbound: WebSocketOutboundWriter, channel: any Channel) async {
        do {
            while let batch = await session.queue.next(maxBytes: Self.webSocketBatchBytes) {
                guard !batch.isEmpty else { continue }
                if configuration.coalesceWebSocketWrites {
                    try await Self.write(batch, to: channel)
                } else {
                    for message in batch {
                        for frame in message.frames {
                            try await outbound.write(.custom(frame.webSocketFrame))
                        }
                    }
                }
            }
        } catch {
            closeSession(session, reason: "transport error")
        }
        try? await outbound.close(.normalClosure, reason: nil)
    }

    /// Writes every frame of `batch` on the channel's event loop, flushes once, and waits until the last frame
    /// has been written to the socket.
    static func write(_ batch: [OutboundMessage], to channel: any Channel) async throws {
        let eventLoop = channel.eventLoop
        let written = eventLoop.makePromise(of: Void.self)
        eventLoop.execute {
            let pipeline = channel.pipeline.syncOperations
            var remaining = batch.reduce(0) { $0 + $1.frames.count }
            guard remaining > 0 else { return written.succeed() }
            for message in batch {
                for frame in message.frames {
                    remaining -= 1
                    pipeline.write(NIOAny(frame.webSocketFrame), promise: remaining == 0 ? written : nil)
                }
            }
            pipeline.flush()
        }
        try await written.futureResult.get()
    }
}

extension OutboundFrame {
    var webSocketFrame: WebSocketFrame {
        WebSocketFrame(fin: true, opcode: isBinary ? .binary : .text, data: bytes)
    }
}
