import Dispatch
import FakeMassive
import Foundation
import Logging
import MassiveClient
import PluginAPI
import PluginKit
import Recording
import ReplayEngine
import Synchronization
import Testing

/// Timers on a dispatch queue, wall time from the system: enough to replay a short recording quickly.
final class QueueScheduler: ReplayScheduler {
    let queue = DispatchQueue(label: "massive-replay-timers")
    var wallNanoseconds: Int64 { SystemStreamClock().wallMilliseconds * 1_000_000 }
    var monotonicNanoseconds: Int64 { Int64(DispatchTime.now().uptimeNanoseconds) }
    func schedule(afterNanoseconds delay: Int64, _ action: @escaping @Sendable () -> Void) -> Bool {
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(max(0, delay))), execute: action)
        return true
    }
}

/// `recordTo`: what the provider receives goes into the recording format, and the recorded provider replays it.
@Suite("Massive recording", .serialized)
struct MassiveRecordingTests {
    @Test("record REST and stream, never the key; the replay answers the same bars and streams the same quotes")
    func roundTrip() async throws {
        let directory = NSTemporaryDirectory() + "massive-recording-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/session.jsonl"
        let fake = try await RunningFake.start()
        let sink = CollectingSink()
        let logs = LogLines()
        let observer = CollectingObserver()
        let core = makeCore(fake.configuration { $0.recordTo = path }, sink: sink, logs: logs, observer: observer)
        let from = MassiveRESTTests.firstBar - 30 * MassiveRESTTests.day
        let to = MassiveRESTTests.firstBar + 6 * MassiveRESTTests.day
        let request = MassiveRESTTests.aggregates("SPY", from: from, to: to)
        let live = await core.lookup(request)
        #expect(live.isOK && live.bars.count > 10, "\(live.message)")
        let chain = await core.lookup(LookupRequest(kind: UInt32(MH_REQUEST_CHAIN_SNAPSHOT), ticker: "SPY", limit: 10))
        #expect(chain.isOK)
        // A failed exchange is recorded too (and must not carry the key either).
        let wrong = await core.lookup(LookupRequest(kind: UInt32(MH_REQUEST_LAST_TRADE), ticker: "NOPE"))
        #expect(wrong.status == mh_status(MH_NOT_FOUND))
        try core.subscribe(["SPY"], channels: [.quotes, .trades])
        try await eventually("subscribed") { core.feed(.stocks)?.acknowledgedItems.count == 2 }
        let now = SystemStreamClock().wallMilliseconds
        for index in 0..<3 {
            fake.server.publish(
                feed: "stocks",
                events: [
                    MassiveStreamTests.quote("SPY", t: now + Int64(index), bid: 600 + Double(index), q: Int64(index))
                ])
        }
        try await eventually("three quotes") { sink.snapshot.quotes.count == 3 }
        await core.stopAsync()
        #expect(core.recorder?.entryCount ?? 0 >= 6)

        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(!text.contains(testKey), "the key never reaches a recording")
        #expect(!text.contains("\"auth\""), "the client's auth message is not recorded")
        let recording = try RecordingReader.read(path: path)
        #expect(recording.header.source == "massive")
        #expect(recording.header.symbols.contains("SPY"))
        #expect(recording.issues.isEmpty, "\(recording.issues)")
        let frames = recording.entries.filter { if case .frame = $0 { true } else { false } }
        let exchanges = recording.entries.compactMap { entry -> RESTExchange? in
            if case .rest(let exchange) = entry { exchange } else { nil }
        }
        #expect(frames.count >= 4, "connected/auth/subscribe acks and the quotes")
        #expect(exchanges.contains { $0.status == 404 })
        #expect(exchanges.contains { $0.path.hasPrefix("/v2/aggs/ticker/SPY/range/1/day/") })

        // Replay it with the recorded provider's engine.
        let configuration = try ReplayConfiguration.parse(
            Array(#"{"source":"file","path":"\#(path)","speed":0,"timeShift":"none"}"#.utf8))
        let replaySink = CollectingSink()
        let engine = ReplayEngine(
            recording: recording, configuration: configuration, extraFaults: FaultScript(),
            scheduler: QueueScheduler(), sink: replaySink, logger: Logger(label: "replay"))
        let replayed = await withCheckedContinuation { (continuation: CheckedContinuation<OperationResult, Never>) in
            do throws(PluginError) {
                try engine.request(request) { continuation.resume(returning: $0) }
            } catch {
                continuation.resume(returning: OperationResult(error: error))
            }
        }
        #expect(replayed.isOK, "\(replayed.message)")
        #expect(replayed.bars.map(\.startMilliseconds) == live.bars.map(\.startMilliseconds))
        #expect(replayed.bars.map(\.close) == live.bars.map(\.close))
        try engine.subscribe(["SPY"], channels: [.quotes])
        engine.start()
        try await eventually("replayed quotes") { replaySink.snapshot.quotes.count == 3 }
        #expect(
            replaySink.snapshot.quotes.map(\.timestampNanoseconds) == sink.snapshot.quotes.map(\.timestampNanoseconds))
        #expect(replaySink.snapshot.quotes.map(\.bidPrice) == [600, 601, 602])
        engine.stop()

        // The key appears in no log line and no metric label either.
        #expect(!logs.all.contains { $0.contains(testKey) })
        #expect(!observer.all.contains { $0.contains(testKey) })
        await fake.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
