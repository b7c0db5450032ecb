import PluginAPI
import PluginKit
import ReplayEngine
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Time and randomness for the stream: the plugin passes the host clock and timers, tests pass their own, so
/// reconnect backoff and batching are paced by a clock the caller controls.
public protocol StreamClock: Sendable {
    /// Wall time, UTC milliseconds.
    var wallMilliseconds: Int64 { get }
    /// Returns after `milliseconds` (or earlier when the task is cancelled).
    func sleep(milliseconds: Int64) async
    /// A uniform value in [0, 1) for backoff jitter.
    func random() -> Double
}

/// Exponential backoff with "equal jitter": half the exponential delay is fixed, half random, so clients that
/// lost the same server at the same moment do not come back in lockstep.
public enum Backoff {
    public static func delay(attempt: Int, initial: Int64, maximum: Int64, random: Double) -> Int64 {
        let exponent = min(max(attempt, 0), 30)
        let (scaled, overflow) = initial.multipliedReportingOverflow(by: Int64(1) << exponent)
        let base = overflow ? maximum : min(maximum, scaled)
        let half = base / 2
        return half + Int64((Double(base - half) * min(max(random, 0), 0.999_999)).rounded(.down))
    }
}

/// Makes "no sink or completion calls after stop returns" true: every call goes through `run`, and `close`
/// waits (on a control thread) until the calls in flight have returned.
public final class SinkGate: Sendable {
    private struct State {
        var open = true
        var active = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Runs `body` unless the gate is closed; returns whether it ran.
    @discardableResult
    public func run(_ body: () -> Void) -> Bool {
        let entered = state.withLock { state -> Bool in
            guard state.open else { return false }
            state.active += 1
            return true
        }
        guard entered else { return false }
        body()
        state.withLock { $0.active -= 1 }
        return true
    }

    public var isOpen: Bool { state.withLock { $0.open } }

    /// Closes the gate and waits for calls in flight (blocking; a control thread only). Must not be called from
    /// inside `run`.
    public func close() {
        state.withLock { $0.open = false }
        while state.withLock({ $0.active }) > 0 { usleep(500) }
    }
}

/// A sink that drops everything once its gate is closed.
public struct GatedSink: ReplaySink {
    public let sink: any ReplaySink
    public let gate: SinkGate

    public init(sink: any ReplaySink, gate: SinkGate) {
        self.sink = sink
        self.gate = gate
    }

    public func quotes(_ quotes: [Quote]) { gate.run { sink.quotes(quotes) } }
    public func trades(_ trades: [Trade]) { gate.run { sink.trades(trades) } }
    public func bars(_ bars: [Bar]) { gate.run { sink.bars(bars) } }
    public func state(_ state: StreamStateEvent) { gate.run { sink.state(state) } }
    public func subscriptionError(symbol: String, channels: Channels, status: mh_status, message: String) {
        gate.run { sink.subscriptionError(symbol: symbol, channels: channels, status: status, message: message) }
    }
}

/// A clock on the process's own time (for tools and tests that do not inject one).
public struct SystemStreamClock: StreamClock {
    public init() {}

    public var wallMilliseconds: Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000 + Int64(spec.tv_nsec) / 1_000_000
    }

    public func sleep(milliseconds: Int64) async {
        try? await Task.sleep(for: .milliseconds(max(0, milliseconds)))
    }

    public func random() -> Double { Double.random(in: 0..<1) }
}
