import Logging
import PluginAPI
import Synchronization
import Testing

@testable import Host

private let firedTimers = Atomic<Int>(0)

@Suite("Host timers for plugins")
struct HostTimerTests {
    @Test("zero-delay timers always fire, even when one fires before schedule returns")
    func zeroDelayTimersFire() async throws {
        let services = PluginServices(
            pluginID: "test.timers", logger: Logger(label: "test"), clock: SystemClock(), metrics: MetricsRegistry())
        let api = services.hostAPI.pointee
        firedTimers.store(0, ordering: .relaxed)
        let count = 5_000
        for _ in 0..<count {
            let id = api.schedule(api.ctx, 0, { _ in firedTimers.add(1, ordering: .relaxed) }, nil)
            #expect(id != 0)
        }
        for _ in 0..<200 where firedTimers.load(ordering: .relaxed) < count {
            try await Task.sleep(for: .milliseconds(25))
        }
        #expect(firedTimers.load(ordering: .relaxed) == count, "every scheduled timer fires exactly once")
        services.close()
    }
}
