import Synchronization

/// Shares one in-flight computation among concurrent callers with the same key, and bounds how many distinct
/// keys run at once. Used so 1,000 identical chart requests make one provider call.
///
/// With a `linger`, a finished result also goes to callers with the same key for that long afterwards: a caller
/// that decided to fetch while the leader was still working (it read the cache before the leader stored its
/// answer) but asks just after the leader finished is still part of the same burst, and gets the same answer.
public final class SingleFlight<Value: Sendable>: Sendable {
    private struct State {
        var inFlight: [String: Task<Value, Never>] = [:]
        var finished: [String: (value: Value, at: Int64)] = [:]
        var running = 0
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    public let maximumConcurrent: Int
    let lingerMilliseconds: Int64
    let now: @Sendable () -> Int64
    /// Most finished results kept for lingering; older ones are dropped first.
    static var maximumFinished: Int { 1_024 }

    public init(
        maximumConcurrent: Int, lingerMilliseconds: Int64 = 0, now: @escaping @Sendable () -> Int64 = { 0 }
    ) {
        self.maximumConcurrent = max(1, maximumConcurrent)
        self.lingerMilliseconds = max(0, lingerMilliseconds)
        self.now = now
    }

    /// Runs `work` for `key` unless a call for the same key is already running, in which case this waits for
    /// that call's result. Returns the value and whether this caller ran the work.
    public func run(_ key: String, _ work: @escaping @Sendable () async -> Value) async -> (value: Value, leader: Bool)
    {
        let current = lingerMilliseconds > 0 ? now() : 0
        let joined = state.withLock { state -> (task: Task<Value, Never>?, value: Value?, leader: Bool) in
            if let existing = state.inFlight[key] { return (existing, nil, false) }
            if lingerMilliseconds > 0, let recent = state.finished[key] {
                if current - recent.at < lingerMilliseconds { return (nil, recent.value, false) }
                state.finished[key] = nil
            }
            let task = Task { [self] in
                await acquire()
                let value = await work()
                release(key, value)
                return value
            }
            state.inFlight[key] = task
            return (task, nil, true)
        }
        if let value = joined.value { return (value, false) }
        guard let task = joined.task else { preconditionFailure("a flight has a task or a lingering value") }
        return (await task.value, joined.leader)
    }

    /// Keys running or waiting for a slot.
    public var inFlightCount: Int { state.withLock { $0.inFlight.count } }

    private func acquire() async {
        let admitted = state.withLock { state -> Bool in
            guard state.running < maximumConcurrent else { return false }
            state.running += 1
            return true
        }
        if admitted { return }
        await withCheckedContinuation { continuation in
            let admittedNow = state.withLock { state -> Bool in
                if state.running < maximumConcurrent {
                    state.running += 1
                    return true
                }
                state.waiting.append(continuation)
                return false
            }
            if admittedNow { continuation.resume() }
        }
    }

    private func release(_ key: String, _ value: Value) {
        let finishedAt = lingerMilliseconds > 0 ? now() : 0
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.inFlight.removeValue(forKey: key)
            if lingerMilliseconds > 0 {
                if state.finished.count >= Self.maximumFinished {
                    state.finished = state.finished.filter { finishedAt - $0.value.at < lingerMilliseconds }
                    if state.finished.count >= Self.maximumFinished { state.finished.removeAll() }
                }
                state.finished[key] = (value, finishedAt)
            }
            if state.waiting.isEmpty {
                state.running -= 1
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
