import ServiceLifecycle

/// Tells clients when a streamed symbol goes quiet: every `intervalMilliseconds` it asks the quote router to
/// republish, marked `stale`, the last quote of each subscribed symbol silent for longer than
/// `host.live.staleAfterMs`.
public struct StaleQuoteSweeper: Service {
    let router: QuoteRouter
    let clock: any HostClock
    let intervalMilliseconds: Int64

    public init(router: QuoteRouter, clock: any HostClock, intervalMilliseconds: Int64 = 1_000) {
        self.router = router
        self.clock = clock
        self.intervalMilliseconds = max(100, intervalMilliseconds)
    }

    public func run() async throws {
        // Cancelled on graceful shutdown, which also wakes the sleep at once.
        await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                await clock.sleep(nanoseconds: intervalMilliseconds * 1_000_000)
                router.publishStale()
            }
        }
    }
}
