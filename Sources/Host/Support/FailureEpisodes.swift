import Logging
import Synchronization

/// Logs a failure that repeats (a write retried every few seconds while the cache is down, a backfill refused
/// while the upstream rate-limits) once when it starts and once when the same operation succeeds again; the
/// attempts in between are logged at debug level. One fault, two lines, however long it lasts.
final class FailureEpisodes: Sendable {
    let logger: Logger
    private let failing = Mutex<Set<String>>([])

    init(logger: Logger) {
        self.logger = logger
    }

    /// Reports a failed attempt of operation `key`: a warning for the first one of an episode, debug after.
    func failed(_ key: String, _ message: @autoclosure () -> Logger.Message, metadata: Logger.Metadata = [:]) {
        let first = failing.withLock { $0.insert(key).inserted }
        logger.log(level: first ? .warning : .debug, message(), metadata: metadata)
    }

    /// Reports a successful attempt of operation `key`: a notice when it ends an episode, nothing otherwise.
    func succeeded(_ key: String, _ message: @autoclosure () -> Logger.Message) {
        guard failing.withLock({ $0.remove(key) != nil }) else { return }
        logger.notice(message())
    }
}
