import Logging
import PluginAPI
import PluginKit
import Synchronization

/// The `mh_host_api` table given to one plugin instance: logging labelled with the plugin's id, the host
/// clock and timers, metrics. It stays allocated until the instance is destroyed; timers still pending then
/// are cancelled so no callback reaches freed plugin state.
final class PluginServices: Sendable {
    let pluginID: String
    let logger: Logger
    let clock: any HostClock
    let metrics: MetricsRegistry
    /// The table handed to the plugin. Immutable after init.
    nonisolated(unsafe) let table: UnsafeMutablePointer<mh_host_api>
    private let timers = Mutex<Set<UInt64>>([])
    private let closed = AtomicFlag()

    init(pluginID: String, logger: Logger, clock: any HostClock, metrics: MetricsRegistry) {
        self.pluginID = pluginID
        var logger = logger
        logger[metadataKey: "plugin"] = .string(pluginID)
        self.logger = logger
        self.clock = clock
        self.metrics = metrics
        table = .allocate(capacity: 1)
        table.initialize(to: mh_host_api())
        table.pointee.struct_size = UInt32(MemoryLayout<mh_host_api>.stride)
        table.pointee.abi_major = UInt16(MH_ABI_MAJOR)
        table.pointee.abi_minor = UInt16(MH_ABI_MINOR)
        table.pointee.ctx = Unmanaged.passUnretained(self).toOpaque()
        table.pointee.log = { ctx, level, message, metadata in
            PluginServices.from(ctx)?.log(level: level, message: String(message), metadataJSON: String(metadata))
        }
        table.pointee.now_ns = { ctx in PluginServices.from(ctx)?.clock.nowNanoseconds ?? 0 }
        table.pointee.monotonic_ns = { ctx in PluginServices.from(ctx)?.clock.monotonicNanoseconds ?? 0 }
        table.pointee.schedule = { ctx, delay, fn, arg in
            guard let services = PluginServices.from(ctx), let fn else { return 0 }
            return services.schedule(delay: delay, fn: fn, arg: arg)
        }
        table.pointee.cancel = { ctx, id in
            guard let services = PluginServices.from(ctx) else { return 0 }
            return services.cancel(id) ? 1 : 0
        }
        table.pointee.get_extension = { _, _ in nil }
        table.pointee.metric = { ctx, kind, name, labels, count, value in
            PluginServices.from(ctx)?.metric(kind: kind, name: String(name), labels: labels, count: count, value: value)
        }
    }

    deinit {
        table.deinitialize(count: 1)
        table.deallocate()
    }

    var hostAPI: UnsafePointer<mh_host_api> { UnsafePointer(table) }

    static func from(_ ctx: UnsafeMutableRawPointer?) -> PluginServices? {
        guard let ctx else { return nil }
        return Unmanaged<PluginServices>.fromOpaque(ctx).takeUnretainedValue()
    }

    private func log(level: mh_log_level, message: String, metadataJSON: String) {
        var metadata: Logger.Metadata = [:]
        if !metadataJSON.isEmpty {
            if case .object(let members)? = try? JSONValue.parse(metadataJSON) {
                for (key, value) in members { metadata[key] = .string(value.string ?? value.text) }
            } else {
                metadata["metadata"] = .string(metadataJSON)
            }
        }
        logger.log(level: Self.level(level), "\(message)", metadata: metadata)
    }

    static func level(_ level: mh_log_level) -> Logger.Level {
        switch Int(level) {
        case ..<Int(MH_LOG_DEBUG): .trace
        case Int(MH_LOG_DEBUG): .debug
        case Int(MH_LOG_INFO): .info
        case Int(MH_LOG_NOTICE): .notice
        case Int(MH_LOG_WARNING): .warning
        case Int(MH_LOG_ERROR): .error
        default: .critical
        }
    }

    private struct TimerCall: @unchecked Sendable {
        // @unchecked: `arg` is the plugin's opaque pointer, only ever handed back to the plugin's own callback.
        let fn: mh_timer_fn
        let arg: UnsafeMutableRawPointer?
    }

    private func schedule(delay: Int64, fn: mh_timer_fn, arg: UnsafeMutableRawPointer?) -> UInt64 {
        guard !closed.isSet else { return 0 }
        let call = TimerCall(fn: fn, arg: arg)
        let idBox = Mutex<UInt64>(0)
        // The timer is registered under the same lock its action takes, so an action that fires before
        // `schedule` returns (a zero delay on another thread) still finds its id. Without this a short timer
        // could fire, not find itself, and be dropped: a replay at speed > 1 stalled that way.
        return timers.withLock { timers in
            let id = clock.schedule(afterNanoseconds: delay) { [weak self] in
                guard let self else { return }
                let live = self.timers.withLock { timers in
                    let id = idBox.withLock { $0 }
                    return id != 0 && timers.remove(id) != nil
                }
                if live { call.fn(call.arg) }
            }
            guard id != 0 else { return 0 }
            idBox.withLock { $0 = id }
            timers.insert(id)
            return id
        }
    }

    private func cancel(_ id: UInt64) -> Bool {
        let known = timers.withLock { $0.remove(id) != nil }
        if known { clock.cancel(id) }
        return known
    }

    /// Stops handing out timers and cancels every pending one. Called once the instance is destroyed.
    func close() {
        _ = closed.setOnce()
        let pending = timers.withLock { timers in
            defer { timers.removeAll() }
            return timers
        }
        for id in pending { clock.cancel(id) }
    }

    private func metric(kind: mh_metric_kind, name: String, labels: UnsafePointer<mh_label>?, count: Int, value: Double)
    {
        let pairs = Records.read(UnsafeRawPointer(labels), count: count, as: mh_label.self)?.map {
            (String($0.name), String($0.value))
        }
        guard let pairs else { return }
        switch Int(kind) {
        case Int(MH_METRIC_COUNTER_ADD): metrics.increment(name, by: value, labels: pairs)
        case Int(MH_METRIC_GAUGE_SET): metrics.set(name, to: value, labels: pairs)
        case Int(MH_METRIC_HISTOGRAM): metrics.observe(name, value, labels: pairs)
        default: logger.debug("ignored a metric of unknown kind \(kind)")
        }
    }
}
