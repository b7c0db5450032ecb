import PluginAPI
import PluginKit
import ReplayEngine

/// The host's clock and timers as the replay's scheduler.
struct HostScheduler: ReplayScheduler {
    let host: PluginHost

    var wallNanoseconds: Int64 { host.nowNanoseconds }
    var monotonicNanoseconds: Int64 { host.monotonicNanoseconds }

    func schedule(afterNanoseconds delay: Int64, _ action: @escaping @Sendable () -> Void) -> Bool {
        host.schedule(afterNanoseconds: delay, action) != 0
    }
}
