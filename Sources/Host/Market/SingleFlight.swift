import Synchronization

/// Shares one in-flight computation among concurrent callers with the same key, and bounds how many distinct
/// keys run at once. Used so 1,000 identical chart requests make one provider call.
public final class SingleFlight<Value: Sendable>: Sendable {
    private struct State {
        var inFlight: [String: Task<Value, Never>] = [:]
        var running = 0
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    public let maximumConcurrent: Int

    public init(maximumConcurrent: Int) {
        self.maximumConcurrent = max(1, maximumConcurrent)
    }

    /// Runs `work` for `key` unless a call for the same key is already running, in which case this waits for
    /// that call's result. Returns the value and whether this caller ran the work.
    public func run(_ key: String, _ work: @escaping @Sendable () async -> Value) async -> (value: Value, leader: Bool)
    {
        let (task, leader) = state.withLock { state -> (Task<Value, Never>, Bool) in
            if let existing = state.inFlight[key] { return (existing, false) }
            let task = Task { [self] in
                await acquire()
                let value = await work()
                release(key)
                return value
            }
            state.inFlight[key] = task
            return (task, true)
        }
        return (await task.value, leader)
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

    private func release(_ key: String) {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.inFlight.removeValue(forKey: key)
            if state.waiting.isEmpty {
                state.running -= 1
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
