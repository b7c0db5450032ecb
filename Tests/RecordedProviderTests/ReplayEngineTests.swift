import MarketCalendar
import MassiveWire
import PluginAPI
import PluginKit
import Recording
import ReplayEngine
import Synchronization
import Testing

@Suite struct ReplayEngineTests {
    let option = SampleRecording.option

    @Test func identicalRunsGiveIdenticalSinkCalls() throws {
        var digests: [UInt64] = []
        var counts: [Int] = []
        for _ in 0..<2 {
            let (engine, scheduler, sink) = makeEngine(try SampleRecording.recording())
            try engine.subscribe(["SPY", option], channels: .all)
            engine.start()
            for _ in 0..<25 { scheduler.advance(by: 500_000_000) }
            digests.append(sink.digest)
            counts.append(sink.lines.withLock { $0.count })
        }
        #expect(digests[0] == digests[1])
        #expect(counts[0] == counts[1] && counts[0] > 30)
        // A different subscription gives a different sequence, so the digest is sensitive.
        let (engine, scheduler, sink) = makeEngine(try SampleRecording.recording())
        try engine.subscribe(["SPY"], channels: .all)
        engine.start()
        for _ in 0..<25 { scheduler.advance(by: 500_000_000) }
        #expect(sink.digest != digests[0])
    }

    @Test func deliversOnlySubscribedSymbolsAndChannels() throws {
        let (engine, scheduler, sink) = makeEngine(try SampleRecording.recording(), speed: 0)
        try engine.subscribe(["SPY"], channels: .quotes)
        try engine.subscribe([option], channels: [.quotes, .trades])
        engine.start()
        scheduler.runUntilIdle()
        let quotes = sink.quotes.withLock { $0 }
        #expect(quotes.count == 20)
        #expect(Set(quotes.map(\.symbol)) == ["SPY", option])
        #expect(sink.trades.withLock { $0 }.isEmpty && sink.bars.withLock { $0 }.isEmpty)
        // Stock sizes arrive in shares, ticks in nanoseconds of the recorded session.
        #expect(quotes[0].bidSize == 300 && quotes[0].timestampNanoseconds == SampleRecording.open * 1_000_000)
        let states = sink.states.withLock { $0 }
        #expect(states.prefix(4).map(\.kind) == [.connecting, .connecting, .live, .live])
        #expect(states.last?.kind == .degraded && states.last?.reason == "the recording has ended")
    }

    @Test func pacesByTheInjectedClock() throws {
        let (engine, scheduler, sink) = makeEngine(try SampleRecording.recording())
        try engine.subscribe(["SPY"], channels: .trades)
        engine.start()
        scheduler.advance(by: 2_600_000_000)
        // Trades at offsets 1, 1001, 2001 ms (their frames) have been delivered; the next is due at 3001.
        #expect(sink.trades.withLock { $0.count } == 3)
        try engine.setSpeed(10)
        scheduler.advance(by: 500_000_000)
        #expect(sink.trades.withLock { $0.count } == 8)
        try engine.setSpeed(0)
        scheduler.runUntilIdle()
        #expect(sink.trades.withLock { $0.count } == 10)
    }

    @Test func unknownSymbolsAndTheQuoteCapAreRefused() throws {
        let (engine, scheduler, sink) = makeEngine(try SampleRecording.recording())
        engine.start()
        try engine.subscribe(["NOPE", "SPY"], channels: .quotes)
        #expect(sink.subscriptionErrors.withLock { $0.map(\.0) } == ["NOPE"])
        #expect(sink.subscriptionErrors.withLock { $0.first?.1 } == mh_status(MH_NOT_FOUND))
        let contracts = (0..<1_001).map {
            OptionTicker(root: "SPY", expiration: SampleRecording.date, right: .call, strike: Double(100 + $0))
                .description
        }
        try engine.subscribe(contracts, channels: [.quotes, .trades])
        let errors = sink.subscriptionErrors.withLock { $0 }
        #expect(errors.count == 2 && errors[1].0 == contracts.last && errors[1].1 == mh_status(MH_LIMIT_EXCEEDED))
        #expect(throws: PluginError.self) { try engine.subscribe([""], channels: .quotes) }
        #expect(throws: PluginError.self) { try engine.subscribe(["SPY"], channels: []) }
        scheduler.runUntilIdle()
    }

    @Test func unsubscribeStopsDelivery() throws {
        let (engine, scheduler, sink) = makeEngine(try SampleRecording.recording())
        try engine.subscribe(["SPY"], channels: [.quotes, .aggSecond])
        engine.start()
        scheduler.advance(by: 3_500_000_000)
        engine.unsubscribe(["SPY"], channels: .quotes)
        let quotesBefore = sink.quotes.withLock { $0.count }
        scheduler.runUntilIdle()
        #expect(sink.quotes.withLock { $0.count } == quotesBefore)
        #expect(sink.bars.withLock { $0.count } == 10)
    }

    @Test func stopEndsAllCallbacks() throws {
        let (engine, scheduler, sink) = makeEngine(
            try SampleRecording.recording(),
            faults: FaultScript([
                Fault(kind: .latency, offsetMilliseconds: 0, durationMilliseconds: 60_000, latencyMilliseconds: 1_000)
            ]))
        try engine.subscribe(["SPY"], channels: .all)
        engine.start()
        scheduler.advance(by: 1_500_000_000)
        let cancelled = Mutex<OperationResult?>(nil)
        try engine.request(LookupRequest(kind: UInt32(MH_REQUEST_MARKET_STATUS), ticker: "")) { result in
            cancelled.withLock { $0 = result }
        }
        #expect(cancelled.withLock { $0 } == nil)
        engine.stop()
        #expect(cancelled.withLock { $0?.status } == mh_status(MH_CANCELLED))
        #expect(sink.states.withLock { $0.suffix(2).map(\.kind) } == [.stopped, .stopped])
        let lines = sink.lines.withLock { $0.count }
        scheduler.runUntilIdle()
        #expect(sink.lines.withLock { $0.count } == lines)
        #expect(throws: PluginError.self) { try engine.request(LookupRequest(kind: 9, ticker: "")) { _ in } }
        engine.stop()
    }

    @Test func loopsAsTheNextTradingDay() throws {
        let (engine, scheduler, sink) = makeEngine(try SampleRecording.recording(), speed: 0, loop: true)
        try engine.subscribe(["SPY"], channels: .trades)
        engine.start()
        for _ in 0..<3 { scheduler.runNextTimer() }
        let trades = sink.trades.withLock { $0 }
        #expect(trades.count >= 20)
        // 2025-12-08 is a Monday; the second pass is Tuesday 2025-12-09, one day later.
        #expect(trades[10].timestampNanoseconds - trades[0].timestampNanoseconds == 86_400_000 * 1_000_000)
        engine.stop()
    }
}

@Suite struct ReplayFaultTests {
    @Test func streamDropReportsTheGap() throws {
        let drop = Fault(kind: .streamDrop, offsetMilliseconds: 2_500, durationMilliseconds: 3_000, feed: "stocks")
        let (engine, scheduler, sink) = makeEngine(
            try SampleRecording.recording(), speed: 0, faults: FaultScript([drop]))
        try engine.subscribe(["SPY", SampleRecording.option], channels: .quotes)
        engine.start()
        scheduler.runUntilIdle()
        let states = sink.states.withLock { $0 }.filter { $0.feed == "stocks" }
        #expect(states.map(\.kind) == [.connecting, .live, .connecting, .live, .degraded])
        let recovery = states[3]
        #expect(recovery.gapFromMilliseconds == SampleRecording.open + 2_500)
        #expect(recovery.gapToMilliseconds == SampleRecording.open + 5_500)
        // SPY quote frames at offsets 3001, 4001, 5001 are lost; option frames (other feed) are not.
        let spy = sink.quotes.withLock { $0 }.filter { $0.symbol == "SPY" }
        #expect(spy.count == 7)
        #expect(sink.quotes.withLock { $0 }.filter { $0.symbol != "SPY" }.count == 10)
        // The recovery comes after the last quote before the gap and before the first after it.
        let lines = sink.lines.withLock { $0 }
        let recoveryLine = try #require(lines.firstIndex { $0.hasPrefix("S live stocks reconnected") })
        #expect(
            lines[(recoveryLine + 1)...].contains { $0.contains("SPY@\((SampleRecording.open + 6_000) * 1_000_000)") })
    }

    @Test func rateLimitWindowWithAndWithoutRetryAfter() throws {
        let faults = FaultScript([
            Fault(
                kind: .rateLimit, offsetMilliseconds: 1_000, durationMilliseconds: 2_000, retryAfterMilliseconds: 1_500),
            Fault(kind: .rateLimit, offsetMilliseconds: 5_000, durationMilliseconds: 1_000),
        ])
        let (engine, scheduler, _) = makeEngine(try SampleRecording.recording(), faults: faults)
        engine.start()
        let status = LookupRequest(kind: UInt32(MH_REQUEST_MARKET_STATUS), ticker: "")
        #expect(try lookup(engine, status).isOK)
        scheduler.advance(by: 1_200_000_000)
        let limited = try lookup(engine, status)
        #expect(limited.status == mh_status(MH_RATE_LIMITED) && limited.retryAfterMilliseconds == 1_500)
        scheduler.advance(by: 2_000_000_000)
        #expect(try lookup(engine, status).isOK)
        scheduler.advance(by: 2_000_000_000)
        let unknown = try lookup(engine, status)
        #expect(unknown.status == mh_status(MH_RATE_LIMITED) && unknown.retryAfterMilliseconds == nil)
        engine.stop()
    }

    @Test func serverErrorsAndLatency() throws {
        let faults = FaultScript([
            Fault(kind: .serverError, offsetMilliseconds: 0, durationMilliseconds: 1_000, httpStatus: 502),
            Fault(kind: .latency, offsetMilliseconds: 1_000, durationMilliseconds: 5_000, latencyMilliseconds: 750),
        ])
        let (engine, scheduler, _) = makeEngine(try SampleRecording.recording(), faults: faults)
        engine.start()
        let request = LookupRequest(kind: UInt32(MH_REQUEST_LAST_TRADE), ticker: "SPY")
        let failed = try lookup(engine, request)
        #expect(failed.status == mh_status(MH_UNAVAILABLE) && failed.message.contains("502"))
        scheduler.advance(by: 1_600_000_000)
        let result = Mutex<OperationResult?>(nil)
        try engine.request(request) { answer in result.withLock { $0 = answer } }
        scheduler.advance(by: 700_000_000)
        #expect(result.withLock { $0 } == nil)
        scheduler.advance(by: 100_000_000)
        #expect(result.withLock { $0?.trades.first?.symbol } == "SPY")
        engine.stop()
    }

    @Test func stallHoldsFramesThenBursts() throws {
        let stall = Fault(kind: .stall, offsetMilliseconds: 2_000, durationMilliseconds: 3_000)
        let (engine, scheduler, sink) = makeEngine(try SampleRecording.recording(), faults: FaultScript([stall]))
        try engine.subscribe(["SPY"], channels: .trades)
        engine.start()
        scheduler.advance(by: 4_900_000_000)
        #expect(sink.trades.withLock { $0.count } == 2)
        scheduler.advance(by: 200_000_000)
        // The three held trades arrive at the end of the stall, then the one due at 5001 ms.
        #expect(sink.trades.withLock { $0.count } == 6)
        engine.stop()
    }

    @Test func malformedFrameIsSkippedAndTheStreamContinues() throws {
        let bad = Fault(kind: .malformedFrame, offsetMilliseconds: 1_500, payload: "[{\"ev\":\"Q\",\"sym\":")
        let corruptFrame = RecordingLines.frame(
            atMilliseconds: SampleRecording.open + 2_500, feed: "stocks",
            frame: Array(#"[{"ev":"T","sym":"SPY","p":"x"}]"#.utf8))
        let (engine, scheduler, sink) = makeEngine(
            try SampleRecording.recording(extraLines: [String(corruptFrame.dropLast())]), speed: 0,
            faults: FaultScript([bad]))
        try engine.subscribe(["SPY"], channels: .trades)
        engine.start()
        scheduler.runUntilIdle()
        #expect(sink.trades.withLock { $0.count } == 10)
        #expect(engine.statusJSON().contains(#""malformedFrames":2"#))
    }

    @Test func authFailureIsFatalForTheStreamAndREST() throws {
        let auth = Fault(kind: .authFailure, offsetMilliseconds: 3_500)
        let (engine, scheduler, sink) = makeEngine(
            try SampleRecording.recording(), speed: 0, faults: FaultScript([auth]))
        try engine.subscribe(["SPY"], channels: .trades)
        engine.start()
        scheduler.runUntilIdle()
        #expect(sink.trades.withLock { $0.count } == 4)
        #expect(sink.states.withLock { $0 }.contains { $0.kind == .failed && $0.reason.contains("auth_failed") })
        let answer = try lookup(engine, LookupRequest(kind: UInt32(MH_REQUEST_MARKET_STATUS), ticker: ""))
        #expect(answer.status == mh_status(MH_UNAUTHORIZED))
        #expect(engine.health().0 == mh_health_state(MH_HEALTH_DOWN))
    }

    @Test func marketCloseSilencesTheStreamAndTheStatus() throws {
        let close = Fault(kind: .marketClose, offsetMilliseconds: 5_000)
        let (engine, scheduler, sink) = makeEngine(try SampleRecording.recording(), faults: FaultScript([close]))
        try engine.subscribe(["SPY"], channels: .trades)
        engine.start()
        let status = LookupRequest(kind: UInt32(MH_REQUEST_MARKET_STATUS), ticker: "")
        scheduler.advance(by: 1_000_000_000)
        #expect(String(decoding: try lookup(engine, status).json, as: UTF8.self).hasPrefix(#"{"market":"open""#))
        scheduler.advance(by: 10_000_000_000)
        #expect(String(decoding: try lookup(engine, status).json, as: UTF8.self).hasPrefix(#"{"market":"closed""#))
        #expect(sink.trades.withLock { $0.count } == 5)
    }
}

@Suite struct ReplayControlTests {
    @Test func pauseResumeSeekAndStatus() throws {
        let (engine, scheduler, sink) = makeEngine(try SampleRecording.recording())
        try engine.subscribe(["SPY"], channels: .trades)
        engine.start()
        scheduler.advance(by: 2_200_000_000)
        #expect(sink.trades.withLock { $0.count } == 3)
        engine.pause()
        #expect(engine.statusJSON().contains(#""state":"paused""#))
        scheduler.advance(by: 5_000_000_000)
        #expect(sink.trades.withLock { $0.count } == 3)
        engine.resume()
        scheduler.advance(by: 1_000_000_000)
        #expect(sink.trades.withLock { $0.count } == 4)
        try engine.seek(toOffset: 0)
        scheduler.advance(by: 1_100_000_000)
        #expect(sink.trades.withLock { $0.count } == 6)
        try engine.seek(toOffset: 8_000)
        scheduler.advance(by: 0)
        let status = try JSONValue.parse(engine.statusJSON())
        #expect(status["positionMs"]?.int64 == 8_000)
        #expect(status["replayTimeMs"]?.int64 == SampleRecording.open + 8_000)
        #expect(status["speed"]?.double == 1 && status["state"]?.string == "playing")
        scheduler.runUntilIdle()
        #expect(sink.trades.withLock { $0.count } == 8)
        #expect(try JSONValue.parse(engine.statusJSON())["state"]?.string == "ended")
        #expect(throws: PluginError.self) { try engine.seek(toOffset: -1) }
        #expect(throws: PluginError.self) { try engine.setSpeed(.infinity) }
    }
}

/// A sink that calls back into the engine from inside its callbacks, as a host might.
final class ReentrantSink: ReplaySink {
    let inner = CollectingSink()
    let engine = Mutex<ReplayEngine?>(nil)
    let calls = Mutex(0)

    func quotes(_ quotes: [Quote]) {
        inner.quotes(quotes)
        let count = calls.withLock {
            $0 += 1
            return $0
        }
        guard let engine = engine.withLock({ $0 }) else { return }
        if count == 1 { try? engine.subscribe(["NOPE"], channels: .quotes) }
        if count == 3 { engine.stop() }
    }

    func trades(_ trades: [Trade]) { inner.trades(trades) }
    func bars(_ bars: [Bar]) { inner.bars(bars) }
    func state(_ state: StreamStateEvent) { inner.state(state) }
    func subscriptionError(symbol: String, channels: Channels, status: mh_status, message: String) {
        inner.subscriptionError(symbol: symbol, channels: channels, status: status, message: message)
    }
}

@Suite struct ReplayReentrancyTests {
    @Test func sinkCallbacksMayCallBackIntoTheEngine() throws {
        var configuration = ReplayConfiguration()
        configuration.speed = 1
        let scheduler = ManualScheduler(wallMilliseconds: SampleRecording.open)
        let sink = ReentrantSink()
        let engine = ReplayEngine(
            recording: try SampleRecording.recording(), configuration: configuration, scheduler: scheduler, sink: sink,
            logger: quietLogger)
        sink.engine.withLock { $0 = engine }
        try engine.subscribe(["SPY"], channels: .quotes)
        engine.start()
        scheduler.runUntilIdle()
        // The re-entrant subscribe reported its error without deadlocking; the re-entrant stop ended delivery.
        #expect(sink.inner.subscriptionErrors.withLock { $0.map(\.0) } == ["NOPE"])
        #expect(sink.inner.quotes.withLock { $0.count } == 3)
        #expect(try JSONValue.parse(engine.statusJSON())["state"]?.string == "stopped")
    }
}
