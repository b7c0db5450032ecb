import Dispatch
import Foundation
import MassiveWire
import PluginAPI
import PluginKit
import Recording
import ReplayEngine
import Synchronization
import Testing

/// Real threads and real timers: what a host does. Checks that concurrent calls neither deadlock nor crash and
/// that nothing reaches the sink after `stop` returns.
final class DispatchScheduler: ReplayScheduler {
    let queue = DispatchQueue(label: "replay-test-timers", attributes: .concurrent)
    let origin = DispatchTime.now().uptimeNanoseconds

    var wallNanoseconds: Int64 { SampleRecording.open * 1_000_000 + monotonicNanoseconds }
    var monotonicNanoseconds: Int64 { Int64(DispatchTime.now().uptimeNanoseconds - origin) }

    func schedule(afterNanoseconds delay: Int64, _ action: @escaping @Sendable () -> Void) -> Bool {
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(max(0, delay))), execute: action)
        return true
    }
}

/// A counter that closures on several threads can share.
final class Counter: Sendable {
    let value = Atomic<Int>(0)
    func add() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

/// Counts sink calls and notes any that arrive after the test declared the provider stopped.
final class GuardSink: ReplaySink {
    let calls = Atomic<Int>(0)
    let afterStop = Atomic<Int>(0)
    let stopped = Atomic<Bool>(false)

    private func note() {
        calls.add(1, ordering: .relaxed)
        if stopped.load(ordering: .acquiring) { afterStop.add(1, ordering: .relaxed) }
    }

    func quotes(_ quotes: [Quote]) { note() }
    func trades(_ trades: [Trade]) { note() }
    func bars(_ bars: [Bar]) { note() }
    func state(_ state: StreamStateEvent) { note() }
    func subscriptionError(symbol: String, channels: Channels, status: mh_status, message: String) { note() }
}

@Suite struct ReplayConcurrencyTests {
    @Test func concurrentCallsWhileReplayingThenStop() async throws {
        var configuration = ReplayConfiguration()
        configuration.speed = 0
        configuration.loop = true
        let sink = GuardSink()
        let engine = ReplayEngine(
            recording: try SampleRecording.recording(), configuration: configuration, scheduler: DispatchScheduler(),
            sink: sink, logger: quietLogger)
        try engine.subscribe(["SPY"], channels: .all)
        engine.start()
        // The replay is running on the timer threads before the concurrent callers start.
        for _ in 0..<200 where sink.calls.load(ordering: .relaxed) <= 10 {
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        #expect(sink.calls.load(ordering: .relaxed) > 10)
        let completions = Counter()
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for round in 0..<300 {
                        switch (worker + round) % 6 {
                        case 0: try? engine.subscribe([SampleRecording.option, "NOPE"], channels: .quotes)
                        case 1: engine.unsubscribe([SampleRecording.option], channels: .quotes)
                        case 2:
                            try? engine.request(LookupRequest(kind: UInt32(MH_REQUEST_CHAIN_SNAPSHOT), ticker: "SPY")) {
                                _ in
                                completions.add()
                            }
                        case 3: try? engine.seek(toOffset: Int64(round % 10) * 1_000)
                        case 4:
                            engine.pause()
                            engine.resume()
                        default: _ = engine.statusJSON()
                        }
                    }
                }
            }
        }
        engine.stop()
        sink.stopped.store(true, ordering: .releasing)
        try await Task.sleep(nanoseconds: 200_000_000)
        #expect(sink.afterStop.load(ordering: .relaxed) == 0)
        #expect(completions.count == 200)
        #expect(throws: PluginError.self) { try engine.request(LookupRequest(kind: 9, ticker: "")) { _ in } }
    }
}
