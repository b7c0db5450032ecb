import Logging
import PluginAPI
import PluginKit
import Synchronization

/// Bridges the ABI's exactly-once completion callbacks to Swift async calls.
///
/// The `done_ctx` handed to a plugin is an operation id, not a pointer to host memory, so a plugin that
/// completes twice (or after a timeout) cannot make the host touch freed memory: the late call finds no
/// operation and is logged as a plugin misbehaving. Every operation has a timeout on the host clock.
public final class PendingOperations: Sendable {
    static let shared = PendingOperations()

    private struct Entry {
        var resume: @Sendable (OperationResult) -> Void
        var timer: UInt64
        var clock: any HostClock
    }

    private struct State {
        var nextID: UInt64 = 1
        var entries: [UInt64: Entry] = [:]
        var lateCompletions: UInt64 = 0
    }

    private let state = Mutex(State())

    /// The C completion function given to every plugin operation.
    static let done: mh_done_fn = { context, result in
        let id = UInt64(UInt(bitPattern: context))
        PendingOperations.shared.complete(id: id, OperationResult(result))
    }

    /// Completions that arrived for no pending operation (twice, or after a timeout).
    var lateCompletions: UInt64 { state.withLock { $0.lateCompletions } }

    /// Completions, process-wide, that arrived for no pending operation: each is a plugin bug.
    public static var lateCompletionCount: UInt64 { shared.lateCompletions }

    var pendingCount: Int { state.withLock { $0.entries.count } }

    /// Runs `start` with a completion context and waits for the plugin to complete it, or for the timeout.
    /// `start` returns the plugin's synchronous status: anything but MH_OK means no completion will come.
    func perform(
        clock: any HostClock, timeoutNanoseconds: Int64, what: String,
        _ start: (mh_done_fn, UnsafeMutableRawPointer?) -> mh_status
    ) async -> OperationResult {
        await withCheckedContinuation { (continuation: CheckedContinuation<OperationResult, Never>) in
            let id = state.withLock { state -> UInt64 in
                let id = state.nextID
                state.nextID += 1
                return id
            }
            let timer = clock.schedule(afterNanoseconds: timeoutNanoseconds) { [self] in
                complete(
                    id: id,
                    OperationResult(
                        status: mh_status(MH_UNAVAILABLE),
                        message: "\(what) did not complete within \(timeoutNanoseconds / 1_000_000) ms"
                    ),
                    fromTimer: true
                )
            }
            state.withLock {
                $0.entries[id] = Entry(resume: { continuation.resume(returning: $0) }, timer: timer, clock: clock)
            }
            let status = start(Self.done, UnsafeMutableRawPointer(bitPattern: UInt(id)))
            if status != mh_status(MH_OK) {
                let entry = state.withLock { $0.entries.removeValue(forKey: id) }
                if let entry {
                    entry.clock.cancel(entry.timer)
                    entry.resume(
                        OperationResult(status: status, message: "\(what) was refused (\(StatusName.of(status)))")
                    )
                }
            }
        }
    }

    private func complete(id: UInt64, _ result: OperationResult, fromTimer: Bool = false) {
        let entry = state.withLock { state -> Entry? in
            let entry = state.entries.removeValue(forKey: id)
            if entry == nil, !fromTimer { state.lateCompletions += 1 }
            return entry
        }
        guard let entry else {
            if !fromTimer {
                let count = lateCompletions
                if count <= 10 || count.isMultiple(of: 1_000) {
                    Logger(label: "markethub.plugins").warning(
                        "a plugin completed an operation that was already complete or timed out; ignored (plugin bug)",
                        metadata: ["late.completions": "\(count)"]
                    )
                }
            }
            return
        }
        if !fromTimer { entry.clock.cancel(entry.timer) }
        entry.resume(result)
    }
}
