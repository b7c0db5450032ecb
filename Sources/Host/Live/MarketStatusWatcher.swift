import ServiceLifecycle

/// Keeps the quote router's view of the market current: every `intervalMilliseconds` it reads the market status
/// (the provider's, cached by `MarketStatusService`, with the calendar as fallback) and tells the router whether
/// the market is closed, so streamed and recalled quotes are marked `frozen` on holidays and scripted closes too.
public struct MarketStatusWatcher: Service {
    let status: MarketStatusService
    let router: QuoteRouter
    let clock: any HostClock
    let intervalMilliseconds: Int64

    public init(
        status: MarketStatusService, router: QuoteRouter, clock: any HostClock, intervalMilliseconds: Int64 = 15_000
    ) {
        self.status = status
        self.router = router
        self.clock = clock
        self.intervalMilliseconds = intervalMilliseconds
    }

    /// Reads the status once and passes it on. Returns whether the market is closed.
    @discardableResult
    public func refresh() async -> Bool {
        let closed = await status.current().isClosed
        router.setMarketClosed(closed)
        return closed
    }

    public func run() async throws {
        // Cancelled on graceful shutdown, which also wakes the sleep at once.
        await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                await refresh()
                await clock.sleep(nanoseconds: intervalMilliseconds * 1_000_000)
            }
        }
    }
}
