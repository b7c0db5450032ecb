import Dispatch
import Synchronization

/// Runs async work to completion from a synchronous ABI entry point.
///
/// The host calls [control] functions (`start`, `stop`) on its own blocking threads, never on an event loop or
/// Swift's cooperative pool, so waiting there for async work (binding a server, closing connections) is safe.
/// Never call this from async code or from an event loop: it blocks the calling thread.
public enum ControlCalls {
    public static func wait<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let outcome = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            let result: Result<T, any Error>
            do {
                result = .success(try await body())
            } catch {
                result = .failure(error)
            }
            outcome.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        return try outcome.withLock { $0! }.get()
    }
}
