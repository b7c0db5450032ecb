import Logging
import MassiveClient
import PluginAPI
import PluginKit
import ReplayEngine
import Synchronization

/// The host's clock and timers as the stream's clock, so tests and replays control reconnect pacing.
struct HostStreamClock: StreamClock {
    let host: PluginHost
    /// Closed at stop: from then on the host is not called (its tables go away at destroy).
    let gate: SinkGate

    var wallMilliseconds: Int64 {
        var now: Int64 = 0
        if !gate.run({ now = host.nowMilliseconds }) { now = SystemStreamClock().wallMilliseconds }
        return now
    }

    func sleep(milliseconds: Int64) async {
        let fired = AtomicFlag()
        let key = ObjectIdentifier(fired)
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let box = ContinuationBox(continuation, fired: fired)
                cancelBoxes.withLock { $0[key] = box }
                if Task.isCancelled {
                    box.resume()
                    return
                }
                var id: UInt64 = 0
                gate.run { id = host.schedule(afterNanoseconds: max(0, milliseconds) * 1_000_000) { box.resume() } }
                if id == 0 { box.resume() }
            }
            _ = cancelBoxes.withLock { $0.removeValue(forKey: key) }
        } onCancel: {
            cancelBoxes.withLock { $0.removeValue(forKey: key) }?.resume()
        }
    }

    func random() -> Double { Double.random(in: 0..<1) }
}

/// Resumes a continuation at most once (the timer and a cancellation may race).
final class ContinuationBox: Sendable {
    let continuation: CheckedContinuation<Void, Never>
    let fired: AtomicFlag

    init(_ continuation: CheckedContinuation<Void, Never>, fired: AtomicFlag) {
        self.continuation = continuation
        self.fired = fired
    }

    func resume() { if fired.setOnce() { continuation.resume() } }
}

/// Sleeps that a cancellation can cut short, by the flag that identifies them.
let cancelBoxes = Mutex<[ObjectIdentifier: ContinuationBox]>([:])

/// REST and stream observations as host metrics (bounded labels only; never a URL or a key).
struct HostMetrics: RESTObserver, StreamObserver {
    let host: PluginHost
    let gate: SinkGate

    func exchange(endpoint: String, outcome: String, seconds: Double) {
        gate.run {
            host.metric(
                mh_metric_kind(MH_METRIC_COUNTER_ADD), "markethub_massive_rest_requests_total",
                labels: [("endpoint", endpoint), ("outcome", outcome)], value: 1)
            host.metric(
                mh_metric_kind(MH_METRIC_HISTOGRAM), "markethub_massive_rest_seconds",
                labels: [("endpoint", endpoint)], value: seconds)
        }
    }

    func reconnect(feed: String) {
        gate.run {
            host.metric(
                mh_metric_kind(MH_METRIC_COUNTER_ADD), "markethub_massive_reconnects_total", labels: [("feed", feed)],
                value: 1)
        }
    }

    func malformedFrame(feed: String) {
        gate.run {
            host.metric(
                mh_metric_kind(MH_METRIC_COUNTER_ADD), "markethub_massive_malformed_frames_total",
                labels: [("feed", feed)], value: 1)
        }
    }
}

/// The host's log function behind the gate: lines logged after stop (a connection closing late) are dropped
/// instead of calling into a host table that may be gone.
struct GatedHostLogHandler: LogHandler {
    var inner: HostLogHandler
    let gate: SinkGate

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) { gate.run { inner.log(event: event) } }
}
