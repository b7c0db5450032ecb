import PluginKit

/// Runs async critical sections one at a time, in arrival order. SQLite has one writer and this cache one
/// connection, so every statement sequence (a transaction, a read) goes through here.
actor AsyncSerializer {
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func run<T: Sendable>(_ body: @Sendable () async throws(PluginError) -> T) async throws(PluginError) -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func release() {
        if waiters.isEmpty {
            busy = false
        } else {
            waiters.removeFirst().resume()
        }
    }
}
