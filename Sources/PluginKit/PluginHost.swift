import Logging
import PluginAPI

/// The host's services as a plugin sees them: a Sendable wrapper over the `mh_host_api` table the host passed
/// to `create`. Valid until the plugin instance's `destroy` returns.
public struct PluginHost: @unchecked Sendable {
    // @unchecked: the table is immutable and owned by the host for the instance's lifetime; every function in
    // it is documented [any] thread.
    public let api: UnsafePointer<mh_host_api>

    public init(_ api: UnsafePointer<mh_host_api>) { self.api = api }

    private func has(_ field: PartialKeyPath<mh_host_api>) -> Bool {
        guard let offset = MemoryLayout<mh_host_api>.offset(of: field) else { return false }
        return Int(api.pointee.struct_size) >= offset + MemoryLayout<UInt>.size
    }

    /// Logs through the host. `metadata` becomes a JSON object of string fields.
    public func log(_ level: mh_log_level, _ message: String, metadata: [String: String] = [:]) {
        guard has(\.log), let log = api.pointee.log else { return }
        let json = metadata.isEmpty ? "" : JSONText.object(metadata)
        withMHString(message) { message in
            withMHString(json) { json in log(api.pointee.ctx, level, message, json) }
        }
    }

    /// Host wall clock, UTC nanoseconds since the epoch.
    public var nowNanoseconds: Int64 {
        guard has(\.now_ns), let now = api.pointee.now_ns else { return 0 }
        return now(api.pointee.ctx)
    }

    /// Host wall clock in milliseconds.
    public var nowMilliseconds: Int64 { nowNanoseconds / 1_000_000 }

    /// Host monotonic clock, nanoseconds.
    public var monotonicNanoseconds: Int64 {
        guard has(\.monotonic_ns), let monotonic = api.pointee.monotonic_ns else { return 0 }
        return monotonic(api.pointee.ctx)
    }

    /// Runs `action` once after `delayNanoseconds` of host time. Returns a timer id (0 when refused).
    @discardableResult
    public func schedule(afterNanoseconds delay: Int64, _ action: @escaping @Sendable () -> Void) -> UInt64 {
        guard has(\.schedule), let schedule = api.pointee.schedule else { return 0 }
        let box = Unmanaged.passRetained(TimerBox(action)).toOpaque()
        let id = schedule(
            api.pointee.ctx, delay,
            { arg in
                guard let arg else { return }
                Unmanaged<TimerBox>.fromOpaque(arg).takeRetainedValue().action()
            }, box)
        if id == 0 { Unmanaged<TimerBox>.fromOpaque(box).release() }
        return id
    }

    /// Cancels a timer; returns true when its action will not run. The action's memory is then leaked by one
    /// small box, which is why long-lived plugins should prefer letting timers fire and checking state.
    @discardableResult
    public func cancel(timer id: UInt64) -> Bool {
        guard has(\.cancel), let cancel = api.pointee.cancel else { return false }
        return cancel(api.pointee.ctx, id) == 1
    }

    /// Reports a metric to the host.
    public func metric(_ kind: mh_metric_kind, _ name: String, labels: [(String, String)] = [], value: Double) {
        guard has(\.metric), let metric = api.pointee.metric else { return }
        let arena = StringArena(labels.flatMap { [$0.0, $0.1] })
        withMHString(name) { name in
            arena.withStrings { strings in
                let records = labels.indices.map {
                    mh_label(
                        struct_size: UInt32(MemoryLayout<mh_label>.stride), name: strings[2 * $0],
                        value: strings[2 * $0 + 1]
                    )
                }
                records.withUnsafeBufferPointer { metric(api.pointee.ctx, kind, name, $0.baseAddress, $0.count, value) }
            }
        }
    }

    /// A swift-log Logger whose output goes through the host. Never bootstraps the plugin's LoggingSystem.
    public func logger(label: String) -> Logger {
        Logger(label: label) { _ in HostLogHandler(host: self) }
    }
}

private final class TimerBox {
    let action: @Sendable () -> Void
    init(_ action: @escaping @Sendable () -> Void) { self.action = action }
}

/// A swift-log handler that forwards to the host's log function, so one logging setup covers everything.
public struct HostLogHandler: LogHandler {
    public let host: PluginHost
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public init(host: PluginHost) { self.host = host }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (key, value) in metadata { fields[key] = "\(value)" }
        for (key, value) in event.metadata ?? [:] { fields[key] = "\(value)" }
        host.log(Self.level(event.level), "\(event.message)", metadata: fields)
    }

    static func level(_ level: Logger.Level) -> mh_log_level {
        switch level {
        case .trace: mh_log_level(MH_LOG_TRACE)
        case .debug: mh_log_level(MH_LOG_DEBUG)
        case .info: mh_log_level(MH_LOG_INFO)
        case .notice: mh_log_level(MH_LOG_NOTICE)
        case .warning: mh_log_level(MH_LOG_WARNING)
        case .error: mh_log_level(MH_LOG_ERROR)
        case .critical: mh_log_level(MH_LOG_CRITICAL)
        }
    }
}
