import Dispatch

/// Runs a blocking call (a plugin's [control] function, a C library call) on a Dispatch thread, so it never
/// blocks an event loop or Swift's cooperative thread pool.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: body()) }
    }
}
