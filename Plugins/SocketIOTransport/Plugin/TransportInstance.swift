import Dispatch
import Logging
import NIOCore
import NIOPosix
import PluginAPI
import PluginKit
import ServiceLifecycle
import SocketIOProtocol
import SocketIOServer
import Synchronization

/// One transport plugin instance: a `SocketIOServer` on its own event loop group, bridged to the host.
///
/// ### Threading
/// `start`/`stop` are [control] calls and may block briefly (they wait for the listener to bind or for the
/// server to finish); they never run on an event loop. Everything else is [any] thread and non-blocking.
final class TransportInstance: SocketIOServerDelegate {
    let host: PluginHost
    let callbacks: HostCallbacks
    let configuration: SocketIOServerConfiguration
    let logger: Logger
    /// How long a forwarded HTTP request may wait for the host's `respond`.
    let responseTimeout: TimeAmount = .seconds(30)
    /// How often statistics are reported through `mh_host_api.metric`.
    let metricsInterval: Duration

    private struct Running {
        let group: MultiThreadedEventLoopGroup
        let server: SocketIOServer
        let services: ServiceGroup
        let finished: DispatchSemaphore
        let sweeper: RepeatedTask
    }

    private enum Phase {
        case created
        case running(Running)
        case stopped
    }

    private let phase = Mutex<Phase>(.created)
    /// A forwarded request waiting for the host, and when it stops waiting. One repeating sweep per instance
    /// answers the overdue ones: a timer armed and cancelled per request cost a cross-thread event-loop wake-up
    /// each (about 5 % of the server's CPU time under load).
    private struct Pending {
        let continuation: CheckedContinuation<ForwardedResponse, Never>
        let deadline: NIODeadline
    }

    /// How often overdue requests are looked for: a request times out after `responseTimeout` plus at most this.
    let sweepInterval: TimeAmount = .seconds(1)

    private let pending = Mutex<[UInt64: Pending]>([:])
    private let requestIDs = Atomic<UInt64>(0)

    init(
        host: PluginHost, callbacks: HostCallbacks, configuration: SocketIOServerConfiguration,
        metricsInterval: Duration
    ) {
        self.host = host
        self.metricsInterval = metricsInterval
        self.callbacks = callbacks
        self.configuration = configuration
        self.logger = host.logger(label: "markethub.socketio-transport")
    }

    var server: SocketIOServer? {
        phase.withLock { phase in
            if case .running(let running) = phase { return running.server }
            return nil
        }
    }

    // MARK: - Control

    func start() throws(PluginError) {
        let alreadyStarted = phase.withLock { phase -> Bool in
            if case .created = phase { return false }
            return true
        }
        if alreadyStarted { throw .invalid("the transport was already started") }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let hostClock = host
        let clock =
            host.monotonicNanoseconds > 0 ? ServerClock { hostClock.monotonicNanoseconds } : ServerClock.system
        let server = SocketIOServer(
            configuration: configuration, delegate: self, clock: clock, eventLoopGroup: group, logger: logger
        )
        let reporter = MetricsReporter(server: server, host: host, interval: metricsInterval)
        let services = ServiceGroup(
            configuration: .init(services: [server, reporter], gracefulShutdownSignals: [], logger: logger)
        )
        let finished = DispatchSemaphore(value: 0)
        let bound = DispatchSemaphore(value: 0)
        let outcome = ListenOutcome()
        callbacks.open()
        // The service group has no structured parent at the C boundary; `stop` waits for this task to finish.
        Task.detached {
            await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    do {
                        try await services.run()
                    } catch {
                        self.logger.error("transport server failed", metadata: ["error": "\(error)"])
                    }
                }
                tasks.addTask {
                    let result: Result<Int, any Error>
                    do { result = .success(try await server.waitUntilListening()) } catch { result = .failure(error) }
                    outcome.value.withLock { $0 = result }
                    bound.signal()
                }
            }
            finished.signal()
        }
        bound.wait()
        switch outcome.value.withLock({ $0 }) {
        case .success(let port)?:
            let sweeper = group.next().scheduleRepeatedTask(initialDelay: sweepInterval, delay: sweepInterval) {
                [weak self] _ in self?.answerOverdueRequests()
            }
            phase.withLock {
                $0 = .running(
                    Running(group: group, server: server, services: services, finished: finished, sweeper: sweeper))
            }
            logger.info("transport listening", metadata: ["net.host": "\(configuration.host)", "net.port": "\(port)"])
        case .failure(let error)?:
            finished.wait()
            callbacks.close()
            try? group.syncShutdownGracefully()
            phase.withLock { $0 = .stopped }
            throw .unavailable("cannot listen on \(configuration.host):\(configuration.port): \(error)")
        case nil:
            throw .internalError("listener state unknown")
        }
    }

    func stop() {
        let running = phase.withLock { phase -> Running? in
            defer { phase = .stopped }
            if case .running(let running) = phase { return running }
            return nil
        }
        guard let running else {
            callbacks.close()
            return
        }
        running.sweeper.cancel()
        let shutdown = DispatchSemaphore(value: 0)
        Task.detached {
            await running.services.triggerGracefulShutdown()
            shutdown.signal()
        }
        shutdown.wait()
        running.finished.wait()
        answerPendingRequests()
        callbacks.close()
        try? running.group.syncShutdownGracefully()
    }

    func health() -> (mh_health_state, String) {
        guard let server else { return (mh_health_state(MH_HEALTH_DOWN), "not running") }
        let count = server.clientCount
        return (mh_health_state(MH_HEALTH_OK), "\(count) client\(count == 1 ? "" : "s")")
    }

    // MARK: - Host → transport

    func requireServer() throws(PluginError) -> SocketIOServer {
        guard let server else { throw .unavailable("the transport is not running") }
        return server
    }

    func respond(_ requestID: UInt64, _ response: ForwardedResponse) throws(PluginError) {
        guard let waiting = pending.withLock({ $0.removeValue(forKey: requestID) }) else {
            throw .notFound("no pending HTTP request \(requestID)")
        }
        waiting.continuation.resume(returning: response)
    }

    /// Answers 504 to the requests the host has not answered within `responseTimeout`.
    private func answerOverdueRequests() {
        let now = NIODeadline.now()
        let overdue = pending.withLock { pending -> [Pending] in
            let ids = pending.compactMap { $0.value.deadline <= now ? $0.key : nil }
            return ids.compactMap { pending.removeValue(forKey: $0) }
        }
        for entry in overdue {
            entry.continuation.resume(
                returning: .error(status: 504, code: "timeout", message: "the host did not answer in time"))
        }
    }

    private func answerPendingRequests() {
        let waiting = pending.withLock { pending in
            defer { pending.removeAll() }
            return Array(pending.values)
        }
        for entry in waiting {
            entry.continuation.resume(
                returning: .error(status: 503, code: "unavailable", message: "the server is shutting down")
            )
        }
    }

    // MARK: - SocketIOServerDelegate

    func server(_ server: SocketIOServer, clientConnected client: ConnectedClient) {
        callbacks.clientConnected(client)
    }

    func server(_ server: SocketIOServer, clientDisconnected clientID: UInt64, reason: String) {
        callbacks.clientDisconnected(clientID, reason: reason)
    }

    func server(
        _ server: SocketIOServer, client clientID: UInt64, emitted event: String, arguments: EventArguments,
        ackToken: UInt64?
    ) {
        callbacks.clientEvent(clientID, event: event, arguments: arguments.json.jsonBytes, ackToken: ackToken ?? 0)
    }

    func server(_ server: SocketIOServer, handle request: ForwardedRequest) async -> ForwardedResponse {
        let id = requestIDs.add(1, ordering: .relaxed).newValue
        let deadline = NIODeadline.now() + responseTimeout
        return await withCheckedContinuation { continuation in
            // Registered before the request is forwarded: the host may answer before `httpRequest` returns.
            pending.withLock { $0[id] = Pending(continuation: continuation, deadline: deadline) }
            if !callbacks.httpRequest(id, request), let unanswered = pending.withLock({ $0.removeValue(forKey: id) }) {
                unanswered.continuation.resume(
                    returning: .error(status: 503, code: "unavailable", message: "the host is not accepting requests")
                )
            }
        }
    }
}

/// Where the start-up task leaves the listener's port or failure for `start` to read.
private final class ListenOutcome: Sendable {
    let value = Mutex<Result<Int, any Error>?>(nil)
}
