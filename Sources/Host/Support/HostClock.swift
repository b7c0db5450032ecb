import Dispatch
import Foundation
import Synchronization

/// The host's clock: wall time, monotonic time and one-shot timers. Everything in the host and every plugin
/// takes time from here, so tests and replays control it.
public protocol HostClock: Sendable {
    /// UTC nanoseconds since the Unix epoch.
    var nowNanoseconds: Int64 { get }
    /// Monotonic nanoseconds, arbitrary origin.
    var monotonicNanoseconds: Int64 { get }
    /// Runs `action` once after `delayNanoseconds`. Returns a non-zero id, or 0 when the clock is shut down.
    @discardableResult
    func schedule(afterNanoseconds delayNanoseconds: Int64, _ action: @escaping @Sendable () -> Void) -> UInt64
    /// Cancels a timer; true when its action will not run.
    @discardableResult
    func cancel(_ timerID: UInt64) -> Bool
}

extension HostClock {
    public var nowMilliseconds: Int64 { nowNanoseconds / 1_000_000 }

    /// Suspends the calling task for `nanoseconds` of this clock's time (cancellation resumes it early).
    public func sleep(nanoseconds: Int64) async {
        let waiter = SleepWaiter()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                waiter.install(continuation)
                let id = schedule(afterNanoseconds: nanoseconds) { waiter.resume() }
                if id == 0 { waiter.resume() } else { waiter.timerID = id }
            }
        } onCancel: {
            if let id = waiter.timerID { cancel(id) }
            waiter.resume()
        }
    }
}

/// Resumes a sleeping task exactly once, whichever of timer, cancellation or install comes first.
private final class SleepWaiter: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Void, Never>?
        var resumed = false
        var timerID: UInt64?
    }

    private let state = Mutex(State())

    var timerID: UInt64? {
        get { state.withLock { $0.timerID } }
        set { state.withLock { $0.timerID = newValue } }
    }

    func install(_ continuation: CheckedContinuation<Void, Never>) {
        let resumeNow = state.withLock { state -> Bool in
            if state.resumed { return true }
            state.continuation = continuation
            return false
        }
        if resumeNow { continuation.resume() }
    }

    func resume() {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.resumed = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume()
    }
}

/// The real clock: system time, timers on a Dispatch queue.
public final class SystemClock: HostClock {
    private struct State {
        var nextID: UInt64 = 1
        var pending: Set<UInt64> = []
    }

    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "markethub.clock", attributes: .concurrent)

    public init() {}

    public var nowNanoseconds: Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }

    public var monotonicNanoseconds: Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }

    public func schedule(afterNanoseconds delayNanoseconds: Int64, _ action: @escaping @Sendable () -> Void) -> UInt64 {
        let id = state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.pending.insert(id)
            return id
        }
        let delay = max(0, delayNanoseconds)
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(min(delay, Int64(Int.max))))) {
            let due = self.state.withLock { $0.pending.remove(id) != nil }
            if due { action() }
        }
        return id
    }

    public func cancel(_ timerID: UInt64) -> Bool {
        state.withLock { $0.pending.remove(timerID) != nil }
    }
}

/// A clock that only moves when told to. Timers fire, in deadline order, on the thread that advances it.
public final class ManualClock: HostClock {
    private struct Timer {
        var id: UInt64
        var deadline: Int64
        var action: @Sendable () -> Void
    }

    private struct State {
        var wallOrigin: Int64
        var monotonic: Int64 = 1_000_000_000
        var nextID: UInt64 = 1
        var timers: [Timer] = []
    }

    private let state: Mutex<State>

    /// Starts at `wallNanoseconds` (UTC epoch nanoseconds).
    public init(wallNanoseconds: Int64) {
        state = Mutex(State(wallOrigin: wallNanoseconds - 1_000_000_000))
    }

    public var nowNanoseconds: Int64 { state.withLock { $0.wallOrigin + $0.monotonic } }
    public var monotonicNanoseconds: Int64 { state.withLock { $0.monotonic } }

    /// Number of timers waiting to fire.
    public var pendingTimers: Int { state.withLock { $0.timers.count } }

    public func schedule(afterNanoseconds delayNanoseconds: Int64, _ action: @escaping @Sendable () -> Void) -> UInt64 {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.timers.append(Timer(id: id, deadline: state.monotonic + max(0, delayNanoseconds), action: action))
            return id
        }
    }

    public func cancel(_ timerID: UInt64) -> Bool {
        state.withLock { state in
            guard let index = state.timers.firstIndex(where: { $0.id == timerID }) else { return false }
            state.timers.remove(at: index)
            return true
        }
    }

    /// Moves time forward by `nanoseconds`, firing every timer that falls due (including ones scheduled by
    /// timers that fire during the advance) in deadline order.
    public func advance(byNanoseconds nanoseconds: Int64) {
        let target = state.withLock { $0.monotonic + max(0, nanoseconds) }
        while true {
            let next: Timer? = state.withLock { state in
                guard
                    let index = state.timers.indices.filter({ state.timers[$0].deadline <= target })
                        .min(by: {
                            (state.timers[$0].deadline, state.timers[$0].id) < (
                                state.timers[$1].deadline, state.timers[$1].id
                            )
                        })
                else { return nil }
                let timer = state.timers.remove(at: index)
                state.monotonic = max(state.monotonic, timer.deadline)
                return timer
            }
            guard let next else { break }
            next.action()
        }
        state.withLock { $0.monotonic = target }
    }

    public func advance(byMilliseconds milliseconds: Int64) { advance(byNanoseconds: milliseconds * 1_000_000) }

    /// Sets the wall clock without moving monotonic time (a jump, as when an operator fixes the system clock).
    public func setWall(nanoseconds: Int64) {
        state.withLock { $0.wallOrigin = nanoseconds - $0.monotonic }
    }
}
