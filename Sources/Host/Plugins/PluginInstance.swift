import Logging
import PluginAPI
import PluginKit

/// What every plugin instance offers the host regardless of kind.
public protocol PluginInstance: AnyObject, Sendable {
    var descriptor: PluginDescriptor { get }
    /// [control] Starts the instance. Blocking: call from `runBlocking` or a setup thread.
    func start() throws(PluginError)
    /// [control] Stops the instance; after it returns the plugin makes no more callbacks. Idempotent.
    func stop()
    /// [control] Frees the instance, after stop. Idempotent.
    func destroy()
    /// [any] Current health.
    func health() -> PluginHealth
}

/// A plugin's health as it reports it.
public struct PluginHealth: Sendable, Equatable {
    public enum State: String, Sendable, Comparable {
        case ok
        case degraded
        case down

        var rank: Int {
            switch self {
            case .ok: 0
            case .degraded: 1
            case .down: 2
            }
        }

        public static func < (lhs: State, rhs: State) -> Bool { lhs.rank < rhs.rank }

        init(_ raw: mh_health_state) {
            switch Int(raw) {
            case Int(MH_HEALTH_OK): self = .ok
            case Int(MH_HEALTH_DEGRADED): self = .degraded
            default: self = .down
            }
        }
    }

    public var state: State
    public var detail: String

    public init(state: State, detail: String) {
        self.state = state
        self.detail = detail
    }
}

/// The lifecycle functions every vtable has, copied out of it.
struct LifecycleCalls {
    typealias Start = @convention(c) (UnsafeMutableRawPointer?, mh_errbuf) -> mh_status
    typealias Stop = @convention(c) (UnsafeMutableRawPointer?) -> Void
    typealias Health = @convention(c) (UnsafeMutableRawPointer?, mh_errbuf) -> mh_health_state

    var start: Start
    var stop: Stop
    var destroy: Stop
    var health: Health
}

/// The part of a plugin instance's lifecycle that all kinds share: the create/start/stop/destroy/health calls
/// and the host services table that must outlive the instance.
final class InstanceLifecycle: @unchecked Sendable {
    // @unchecked: `instance` is written once by create before the object is shared; the flags are atomic.
    let descriptor: PluginDescriptor
    let services: PluginServices
    let calls: LifecycleCalls
    nonisolated(unsafe) var instance: UnsafeMutableRawPointer?
    private let stopped = AtomicFlag()
    private let destroyed = AtomicFlag()

    init(descriptor: PluginDescriptor, services: PluginServices, calls: LifecycleCalls) {
        self.descriptor = descriptor
        self.services = services
        self.calls = calls
    }

    /// Runs the plugin's create function and turns a refusal into a load error naming the plugin.
    func create(
        slot: String, _ body: (mh_errbuf, UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> mh_status
    ) throws(PluginLoadError) {
        let error = ErrorBuffer()
        var out: UnsafeMutableRawPointer?
        let status = body(error.errbuf, &out)
        guard status == mh_status(MH_OK), let out else {
            let message = error.message.isEmpty ? "no reason given" : error.message
            throw PluginLoadError(
                .configRejected, plugin: descriptor.id,
                "refused its configuration in '\(slot).config' (\(StatusName.of(status))): \(message)",
                fix: "correct '\(slot).config' as the message says (see the plugin's documentation)"
            )
        }
        instance = out
    }

    func start() throws(PluginError) {
        guard let instance else { throw PluginError.internalError("\(descriptor.id) was not created") }
        let error = ErrorBuffer()
        let status = calls.start(instance, error.errbuf)
        guard status == mh_status(MH_OK) else {
            throw PluginError(status, error.message.isEmpty ? "start failed (\(StatusName.of(status)))" : error.message)
        }
    }

    func stop() {
        guard let instance, stopped.setOnce() else { return }
        calls.stop(instance)
    }

    /// Stops (if still running) and frees the instance, then closes its host services. Idempotent.
    func destroy() {
        stop()
        guard let instance, destroyed.setOnce() else { return }
        calls.destroy(instance)
        services.close()
    }

    func health() -> PluginHealth {
        guard let instance, !destroyed.isSet else { return PluginHealth(state: .down, detail: "not running") }
        let detail = ErrorBuffer(capacity: 512)
        let state = calls.health(instance, detail.errbuf)
        return PluginHealth(state: PluginHealth.State(state), detail: detail.message)
    }
}

/// A plugin wrapper whose lifecycle is an `InstanceLifecycle`: the PluginInstance requirements follow from it.
protocol LifecycleBacked: PluginInstance {
    var lifecycle: InstanceLifecycle { get }
}

extension LifecycleBacked {
    public var descriptor: PluginDescriptor { lifecycle.descriptor }
    public func start() throws(PluginError) { try lifecycle.start() }
    public func stop() { lifecycle.stop() }
    public func destroy() { lifecycle.destroy() }
    public func health() -> PluginHealth { lifecycle.health() }
}

extension PluginInstance {
    /// Starts the instance from async code. Plugin [control] calls may block (a plugin may wait for its own
    /// threads), so they run on a Dispatch thread, never on Swift's cooperative pool.
    public func startAsync() async throws(PluginError) {
        let result: Result<Void, PluginError> = await runBlocking {
            do throws(PluginError) {
                try self.start()
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    /// Stops and destroys the instance from async code, off the cooperative pool.
    public func destroyAsync() async {
        await runBlocking { self.destroy() }
    }
}
