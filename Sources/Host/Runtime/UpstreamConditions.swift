import Logging
import PluginAPI
import PluginKit
import Synchronization

/// What the host itself has seen of the upstream, whichever provider plugin is loaded: feeds that are not live
/// (dropped and reconnecting, degraded, failed) and rate limiting of look-ups. `/health` merges it into the
/// provider's entry, so an outage shows there for as long as it lasts even when the plugin's own health does
/// not say so. Rate limiting is logged once when it starts and once when look-ups are answered again (the
/// services that pause for a cooldown do not log each refused request).
public final class UpstreamConditions: Sendable {
    private struct Feed {
        var kind: StreamState.Kind
        var reason: String
        var sinceMilliseconds: Int64
    }

    private struct State {
        var feeds: [String: Feed] = [:]
        /// Set while a rate-limit episode is open: when it began.
        var rateLimitedSince: Int64?
        var cooldownUntil: Int64 = 0
    }

    /// The pause assumed after a 429 that did not say how long (the aggregates service's default too).
    public static let defaultCooldownMilliseconds: Int64 = 60_000

    let clock: any HostClock
    let logger: Logger
    let metrics: MetricsRegistry
    private let state = Mutex(State())

    public init(clock: any HostClock, logger: Logger, metrics: MetricsRegistry) {
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
    }

    /// Records a stream state change of one feed.
    public func streamStateChanged(_ stream: StreamState) {
        let now = clock.nowMilliseconds
        let down = state.withLock { state -> Int in
            switch stream.kind {
            case .live, .stopped:
                state.feeds[stream.feed] = nil
            case .connecting, .degraded, .rateLimited, .failed:
                let since = state.feeds[stream.feed]?.sinceMilliseconds ?? now
                state.feeds[stream.feed] = Feed(kind: stream.kind, reason: stream.reason, sinceMilliseconds: since)
            }
            return state.feeds.count
        }
        metrics.set(
            "markethub_upstream_feeds_not_live", to: Double(down),
            help: "Provider feeds currently not live (reconnecting, degraded or failed)")
    }

    /// Records the outcome of one provider look-up (only answers that reached the provider).
    public func lookupCompleted(_ result: OperationResult) {
        let now = clock.nowMilliseconds
        if result.status == mh_status(MH_RATE_LIMITED) {
            let wait = result.retryAfterMilliseconds ?? Self.defaultCooldownMilliseconds
            let started = state.withLock { state -> Bool in
                state.cooldownUntil = max(state.cooldownUntil, now + wait)
                guard state.rateLimitedSince == nil else { return false }
                state.rateLimitedSince = now
                return true
            }
            guard started else { return }
            metrics.increment("markethub_upstream_rate_limits_total", help: "Rate-limit episodes of provider look-ups")
            metrics.set("markethub_upstream_rate_limited", to: 1, help: "1 while provider look-ups are rate limited")
            logger.warning(
                "upstream rate limited look-ups; pausing them for a cooldown",
                metadata: ["retry.ms": "\(wait)", "message": "\(result.message)"])
            return
        }
        // Only a real answer ends the episode (a host timeout or cancellation says nothing about the vendor).
        guard result.isOK || result.status == mh_status(MH_NOT_FOUND) else { return }
        let began = state.withLock { state -> Int64? in
            defer { state.rateLimitedSince = nil }
            return state.rateLimitedSince
        }
        guard let began else { return }
        metrics.set("markethub_upstream_rate_limited", to: 0, help: "1 while provider look-ups are rate limited")
        logger.notice("upstream look-ups answered again after rate limiting", metadata: ["after.ms": "\(now - began)"])
    }

    /// The host's view of the upstream as a health entry, or nil when nothing is wrong.
    public func health() -> PluginHealth? {
        let now = clock.nowMilliseconds
        let snapshot = state.withLock { $0 }
        var worst = PluginHealth.State.ok
        var details: [String] = []
        for feed in snapshot.feeds.keys.sorted() {
            guard let entry = snapshot.feeds[feed] else { continue }
            worst = max(worst, entry.kind == .failed ? .down : .degraded)
            let seconds = max(0, now - entry.sinceMilliseconds) / 1_000
            let name = feed.isEmpty ? "stream" : "stream \(feed)"
            details.append("\(name) \(entry.kind) for \(seconds) s: \(entry.reason)")
        }
        if snapshot.cooldownUntil > now {
            worst = max(worst, .degraded)
            let seconds = max(1, (snapshot.cooldownUntil - now + 999) / 1_000)
            details.append("rate limited by the upstream; look-ups paused for \(seconds) s")
        }
        guard worst != .ok else { return nil }
        return PluginHealth(state: worst, detail: details.joined(separator: "; "))
    }

    /// The plugin's own health with the host's view merged in (the worse state; both details).
    func merged(with own: PluginHealth) -> PluginHealth {
        guard let seen = health() else { return own }
        let detail = own.detail.isEmpty ? seen.detail : own.detail + "; " + seen.detail
        return PluginHealth(state: max(own.state, seen.state), detail: detail)
    }
}
