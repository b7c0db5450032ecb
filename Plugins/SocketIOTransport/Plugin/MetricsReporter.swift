import PluginAPI
import PluginKit
import ServiceLifecycle
import SocketIOServer

/// Reports the server's statistics to the host every `interval`: gauges for clients and sessions, counter
/// increments for queued and conflated messages, slow-consumer disconnects, rate-limited events, protocol
/// errors and answers from the shared response cache. Ends (after a last report) on graceful shutdown.
struct MetricsReporter: Service {
    let server: SocketIOServer
    let host: PluginHost
    let interval: Duration

    func run() async throws {
        var previous = SocketIOServerStatistics.zero
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            previous = report(since: previous)
        }
    }

    /// Sends one report and returns the statistics it was based on.
    func report(since previous: SocketIOServerStatistics) -> SocketIOServerStatistics {
        let now = server.statistics
        let gauge = mh_metric_kind(MH_METRIC_GAUGE_SET)
        let counter = mh_metric_kind(MH_METRIC_COUNTER_ADD)
        host.metric(gauge, "socketio_clients", value: Double(now.clients))
        host.metric(gauge, "socketio_sessions", value: Double(now.sessions))
        let increments: [(String, UInt64, UInt64)] = [
            ("socketio_messages_queued_total", now.messagesQueued, previous.messagesQueued),
            ("socketio_messages_conflated_total", now.messagesConflated, previous.messagesConflated),
            ("socketio_slow_consumer_disconnects_total", now.slowConsumerDisconnects, previous.slowConsumerDisconnects),
            ("socketio_events_rate_limited_total", now.eventsRateLimited, previous.eventsRateLimited),
            ("socketio_protocol_errors_total", now.protocolErrors, previous.protocolErrors),
            ("socketio_http_cache_hits_total", now.httpCacheHits, previous.httpCacheHits),
        ]
        for (name, current, before) in increments where current > before {
            host.metric(counter, name, value: Double(current - before))
        }
        return now
    }
}
