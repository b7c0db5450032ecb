import Logging
import NIOCore
import SocketIOProtocol
import Synchronization

extension SocketIOServer {
    /// Handles one Engine.IO packet from a client, whatever the transport. Returns false when the packet was a
    /// protocol violation and the session has been closed.
    @discardableResult
    func handle(_ packet: EnginePacket, from session: EngineSession) -> Bool {
        switch (packet.type, packet.payload) {
        case (.pong, _):
            session.receivedPong(now: clock.now(), pingInterval: pingIntervalNanoseconds)
            return true
        case (.message, let payload) where session.echo:
            let frame: OutboundFrame
            switch payload {
            case .text(let bytes):
                frame = .text(ByteBuffer(bytes: EnginePacket(.message, textBytes: bytes).encodedForPolling()))
            case .binary(let bytes): frame = .binary(ByteBuffer(bytes: bytes))
            }
            enqueue(OutboundMessage(frame), to: session)
            return true
        case (.message, let payload):
            return receiveSocketIO(payload, from: session)
        case (.close, _):
            closeSession(session, reason: "client close", final: .text("6"))
            return true
        case (.noop, _):
            return true
        default:
            counters.add(.protocolErrors)
            closeSession(session, reason: "parse error: unexpected \(packet.type) packet", final: .text("1"))
            return false
        }
    }

    private func receiveSocketIO(_ payload: EnginePacket.Payload, from session: EngineSession) -> Bool {
        let result: Result<SocketIOPacket?, ProtocolError> = session.state.withLock { state in
            do throws(ProtocolError) {
                switch payload {
                case .text(let bytes): return .success(try state.assembler.receive(text: bytes))
                case .binary(let bytes): return .success(try state.assembler.receive(binary: bytes))
                }
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .failure(let error):
            counters.add(.protocolErrors)
            logger.debug("malformed Socket.IO packet", metadata: ["sio.sid": "\(session.sid)", "error": "\(error)"])
            closeSession(session, reason: "parse error: \(error.message)", final: .text("1"))
            return false
        case .success(nil):
            return true
        case .success(let packet?):
            dispatch(packet, from: session)
            return true
        }
    }

    private func dispatch(_ packet: SocketIOPacket, from session: EngineSession) {
        switch packet.type {
        case .connect:
            connect(session, namespace: packet.namespace, auth: packet.data ?? .object([]))
        case .disconnect:
            let (clientID, remaining) = session.state.withLock { state in
                (state.sockets.removeValue(forKey: packet.namespace), state.sockets.count)
            }
            guard let clientID, registry.withLock({ Self.removeClientRecord(clientID, from: &$0) }) else { return }
            delegate.server(self, clientDisconnected: clientID, reason: "client namespace disconnect")
            // Like the reference server: a connection left with no namespace is closed.
            if remaining == 0 { closeSession(session, reason: "client namespace disconnect") }
        case .event, .binaryEvent:
            receiveEvent(packet, from: session)
        case .ack, .binaryAck, .connectError:
            // This server never asks clients for acknowledgements, and CONNECT_ERROR only flows server → client.
            break
        }
    }

    private func connect(_ session: EngineSession, namespace: String, auth: JSONValue) {
        func refuse(_ message: String) {
            let data = JSONValue.object([JSONMember("message", .string(message))])
            enqueue(encode(SocketIOPacket(.connectError, namespace: namespace, data: data)), to: session)
        }
        guard configuration.namespaces.contains(namespace) else { return refuse("Invalid namespace") }
        var subject = ""
        if let token = configuration.token {
            guard let given = auth["token"]?.stringValue, Self.constantTimeEquals(given, token) else {
                return refuse("Unauthorized: a valid auth token is required")
            }
            subject = "bearer"
        }
        let id = makeIdentifier()
        let socketID = Self.randomID()
        let now = clock.now()
        let added = session.state.withLock { state -> Bool in
            guard !state.closed, state.sockets[namespace] == nil else { return false }
            state.sockets[namespace] = id
            state.connectDeadline = nil
            return true
        }
        guard added else { return }
        let transport = session.transport
        let registered = registry.withLock { registry -> Bool in
            guard !session.isClosed else { return false }
            registry.clients[id] = ClientRecord(
                id: id, namespace: namespace, session: session,
                bucket: TokenBucket(rate: configuration.eventsPerSecond, burst: configuration.eventBurst, now: now)
            )
            return true
        }
        guard registered else { return }
        let data = JSONValue.object([JSONMember("sid", .string(socketID))])
        enqueue(encode(SocketIOPacket(.connect, namespace: namespace, data: data)), to: session)
        delegate.server(
            self,
            clientConnected: ConnectedClient(
                id: id, namespace: namespace, socketID: socketID, auth: auth, remoteAddress: session.remoteAddress,
                transport: transport.rawValue, subject: subject
            )
        )
    }

    private func receiveEvent(_ packet: SocketIOPacket, from session: EngineSession) {
        guard let name = packet.eventName,
            let clientID = session.state.withLock({ $0.sockets[packet.namespace] })
        else { return }
        let now = clock.now()
        let (allowed, token): (Bool, UInt64?) = registry.withLock { registry in
            guard var client = registry.clients[clientID] else { return (false, nil) }
            let allowed = client.bucket.take(now: now)
            registry.clients[clientID] = client
            guard allowed, let ackID = packet.ackId else { return (allowed, nil) }
            let token = makeIdentifier()
            registry.acks[token] = PendingAck(
                clientID: clientID, namespace: packet.namespace, ackID: ackID, session: session
            )
            return (true, token)
        }
        guard allowed else {
            counters.add(.eventsRateLimited)
            logger.debug("event rate limit exceeded", metadata: ["sio.client": "\(clientID)"])
            if let ackID = packet.ackId {
                let error = JSONValue.object([
                    JSONMember("error", .string("rate_limited")),
                    JSONMember("message", .string("too many events; slow down")),
                ])
                let ack = SocketIOPacket(.ack, namespace: packet.namespace, ackId: ackID, data: .array([error]))
                enqueue(encode(ack), to: session)
            }
            return
        }
        delegate.server(
            self, client: clientID, emitted: name,
            arguments: EventArguments(packet.arguments, attachments: packet.attachments), ackToken: token
        )
    }

    static func removeClientRecord(_ clientID: UInt64, from registry: inout Registry) -> Bool {
        guard let client = registry.clients.removeValue(forKey: clientID) else { return false }
        for room in client.rooms {
            registry.rooms[client.namespace]?[room]?[clientID] = nil
            if registry.rooms[client.namespace]?[room]?.isEmpty == true {
                registry.rooms[client.namespace]?[room] = nil
            }
        }
        registry.acks = registry.acks.filter { $0.value.clientID != clientID }
        return true
    }

    static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        let a = Array(lhs.utf8)
        let b = Array(rhs.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}
