import SocketIOProtocol
import Synchronization

/// One Engine.IO session (one `sid`): its transport, polling bookkeeping, heartbeat and the Socket.IO
/// namespaces connected over it.
///
/// ### Threading
/// Mutable state is behind a mutex; methods return what to do and the server acts after the lock is released.
final class EngineSession: Sendable {
    enum Transport: String, Sendable {
        case polling
        case websocket
    }

    /// What the heartbeat tick wants done.
    enum TickAction: Equatable {
        case none
        case sendPing
        case close(String)
    }

    struct State {
        var transport: Transport
        var upgrading = false
        var hasWebSocket = false
        var pollingGET = false
        var pollingPOST = false
        var closed = false
        var nextPingAt: Int64
        var awaitingPongSince: Int64?
        var connectDeadline: Int64?
        var sockets: [String: UInt64] = [:]
        var assembler = SocketIOPacketAssembler()
    }

    let sid: String
    /// True for sessions of the plain Engine.IO echo endpoint (no Socket.IO layer).
    let echo: Bool
    let remoteAddress: String
    let queue: OutboundQueue
    let state: Mutex<State>

    init(
        sid: String, echo: Bool, transport: Transport, remoteAddress: String, queue: OutboundQueue, now: Int64,
        pingInterval: Int64, connectTimeout: Int64
    ) {
        self.sid = sid
        self.echo = echo
        self.remoteAddress = remoteAddress
        self.queue = queue
        self.state = Mutex(
            State(
                transport: transport, hasWebSocket: transport == .websocket, nextPingAt: now + pingInterval,
                connectDeadline: echo ? nil : now + connectTimeout
            )
        )
    }

    var transport: Transport { state.withLock { $0.transport } }
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Marks the session closed; returns false if it already was.
    func markClosed() -> Bool {
        state.withLock { state in
            guard !state.closed else { return false }
            state.closed = true
            return true
        }
    }

    /// Decides whether a ping is due or the peer timed out. Times in nanoseconds.
    func tick(now: Int64, pingInterval: Int64, pingTimeout: Int64) -> TickAction {
        state.withLock { state in
            guard !state.closed else { return .none }
            if let deadline = state.connectDeadline, now >= deadline, state.sockets.isEmpty {
                return .close("connect timeout")
            }
            if let since = state.awaitingPongSince {
                return now - since > pingTimeout ? .close("ping timeout") : .none
            }
            guard now >= state.nextPingAt else { return .none }
            state.awaitingPongSince = now
            return .sendPing
        }
    }

    /// A pong arrived: schedule the next ping.
    func receivedPong(now: Int64, pingInterval: Int64) {
        state.withLock { state in
            guard state.awaitingPongSince != nil else { return }
            state.awaitingPongSince = nil
            state.nextPingAt = now + pingInterval
        }
    }
}
