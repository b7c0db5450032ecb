import Foundation
import Logging
import MarketCalendar
import MassiveWire
import PluginAPI
import PluginKit
import Recording
import Synchronization

/// Replays a recording (captured or synthetic) as a provider: paces frames with the injected scheduler,
/// delivers only what is subscribed, applies fault scripts, answers look-ups from the recording and the
/// stream so far, and offers QA controls (pause, resume, seek, speed).
///
/// Threading: every public method may be called from any thread. Sink calls never overlap and stop after
/// `stop()` returns. Given the same recording, configuration and sequence of scheduler callbacks, the sink
/// sees byte-identical calls.
public final class ReplayEngine: Sendable {
    /// Frames dispatched per scheduler callback when playing as fast as possible (keeps host timers short).
    public static let fastBatchSize = 4_096
    /// The vendor's cap on option contracts subscribed for quotes on one connection.
    public static let optionQuoteCap = 1_000

    struct FrameEntry: Sendable {
        let offset: Int64
        let feed: String
        let bytes: [UInt8]
    }

    enum StepKind: Sendable {
        case frame(Int)
        case dropStart(Fault)
        case dropEnd(Fault)
        case malformed(Fault)
        case authFailure(Fault)
    }

    struct Step: Sendable {
        let due: Int64
        let kind: StepKind
    }

    enum Phase: String, Sendable {
        case created
        case playing
        case ended
        case stopped
    }

    struct State: Sendable {
        var phase = Phase.created
        var paused = false
        var speed: Double
        var nextStep = 0
        /// Recording time (ms from the clock origin) that has been replayed.
        var position: Int64 = 0
        var anchorPosition: Int64 = 0
        var anchorMonotonic: Int64 = 0
        var generation: UInt64 = 0
        var loops = 0
        var shift: TimeShift
        var subscriptions: [String: Channels] = [:]
        var subscriptionVersion: UInt64 = 0
        var pendingSubscriptionErrors: [(String, Channels, mh_status, String)] = []
        var pending: [UInt64: @Sendable (OperationResult) -> Void] = [:]
        var nextPendingID: UInt64 = 1
        var framesDispatched = 0
        var eventsDelivered = 0
        var malformedFrames = 0
        var authFailed = false
    }

    let header: RecordingHeader
    let frames: [FrameEntry]
    let steps: [Step]
    let data: RecordedData
    let faults: FaultScript
    let feeds: [String]
    let duration: Int64
    let loop: Bool
    let baseShift: TimeShift
    /// Recording offset the replay starts at (`startAt`); what lies before it is history.
    let initialPosition: Int64
    /// A session of today that runs out is the market closing, not a fault: it ends without a degraded state.
    let endsQuietly: Bool
    let knownSymbols: Set<String>
    let knownRoots: Set<String>
    let recordingIssues: [RecordingIssue]
    let truncated: Bool
    let calendar: MarketCalendar
    let scheduler: any ReplayScheduler
    let sink: any ReplaySink
    let logger: Logger

    let state: Mutex<State>
    let market = Mutex(MarketState())
    /// Held for the whole of every batch of sink calls, so calls never overlap and `stop` can wait them out.
    let dispatchLock = Mutex(())
    /// The thread holding `dispatchLock` (0 when none): a sink callback that calls back into the provider
    /// (subscribe, stop) runs on it and must neither wait for itself nor be outlived by the batch.
    let dispatchingThread = Atomic<UInt>(0)
    /// Set by `stop`; checked before every sink call.
    let stopped = AtomicFlag()

    public init(
        recording: Recording, configuration: ReplayConfiguration, extraFaults: FaultScript = FaultScript(),
        scheduler: any ReplayScheduler, sink: any ReplaySink, logger: Logger, calendar: MarketCalendar = .nyse
    ) {
        header = recording.header
        recordingIssues = recording.issues
        truncated = recording.truncated
        self.calendar = calendar
        self.scheduler = scheduler
        self.sink = sink
        self.logger = logger
        loop = configuration.loop && configuration.startAt != .now
        endsQuietly = configuration.startAt == .now
        faults = FaultScript(recording.faults.faults + extraFaults.faults)

        let origin = recording.header.clockOrigin
        var frames: [FrameEntry] = []
        var exchanges: [RESTExchange] = []
        var feeds: [String] = []
        for entry in recording.entries {
            switch entry {
            case .frame(let at, let feed, let bytes):
                frames.append(FrameEntry(offset: at - origin, feed: feed, bytes: bytes))
                if !feeds.contains(feed) { feeds.append(feed) }
            case .rest(let exchange): exchanges.append(exchange)
            case .fault: break
            }
        }
        // Frames in recording order of time; equal times keep file order.
        frames = frames.enumerated().sorted { ($0.element.offset, $0.offset) < ($1.element.offset, $1.offset) }.map(
            \.element)
        self.frames = frames
        self.feeds = feeds.isEmpty ? [""] : feeds
        data = RecordedData(exchanges)
        duration = max(recording.header.endMilliseconds - origin, frames.last?.offset ?? 0)
        steps = Self.timeline(frames: frames, faults: faults)

        var symbols = Set(recording.header.symbols)
        symbols.formUnion(data.knownSymbols)
        knownSymbols = symbols
        knownRoots = Set(symbols.filter { !$0.hasPrefix("O:") })

        let recordedDate =
            recording.header.sessionDate.flatMap { CivilDate($0) }
            ?? EasternTime.local(atUTC: recording.header.startMilliseconds).date
        let target: CivilDate?
        switch configuration.timeShift {
        case .none: target = nil
        case .today:
            let today = EasternTime.local(atUTC: scheduler.wallNanoseconds / 1_000_000).date
            target = calendar.isTradingDay(today) ? today : calendar.previousTradingDay(before: today).date
        case .milliseconds(let milliseconds):
            target = recordedDate.adding(days: Int(milliseconds / 86_400_000))
        }
        baseShift = TimeShift(recordedDate: recordedDate, targetDate: target, calendar: calendar)
        let sessionOrigin = origin + baseShift.sessionMilliseconds
        let startOffset: Int64
        switch configuration.startAt {
        case .open: startOffset = 0
        case .now: startOffset = scheduler.wallNanoseconds / 1_000_000 - sessionOrigin
        case .time(let minute):
            let day = baseShift.targetDate ?? recordedDate
            startOffset =
                EasternTime.utcMilliseconds(date: day, hour: minute / 60, minute: minute % 60) - sessionOrigin
        }
        initialPosition = min(max(0, startOffset), duration)
        var initial = State(speed: configuration.speed, shift: baseShift)
        initial.position = initialPosition
        initial.nextStep = Self.firstStep(in: steps, atOrAfter: initialPosition)
        state = Mutex(initial)
        for problem in data.problems { logger.warning("recording REST body skipped: \(problem)") }
        for issue in recording.issues { logger.warning("recording line skipped: \(issue)") }
    }

    /// Builds the ordered list of things to do: frames at their time (late when a stall holds them, absent
    /// when a drop, a market close or an auth failure loses them) and the scripted state changes.
    static func timeline(frames: [FrameEntry], faults: FaultScript) -> [Step] {
        var steps: [Step] = []
        steps.reserveCapacity(frames.count + faults.faults.count * 2)
        let firstAuthFailure = faults.faults.first { $0.kind == .authFailure }?.offsetMilliseconds ?? Int64.max
        for (index, frame) in frames.enumerated() {
            if frame.offset >= firstAuthFailure { continue }
            var lost = false
            var due = frame.offset
            for fault in faults.faults
            where fault.covers(frame.offset) && (fault.feed == nil || fault.feed == frame.feed) {
                switch fault.kind {
                case .streamDrop, .marketClose: lost = true
                case .stall: due = max(due, fault.endOffsetMilliseconds)
                default: break
                }
            }
            if !lost { steps.append(Step(due: due, kind: .frame(index))) }
        }
        for fault in faults.faults {
            switch fault.kind {
            case .streamDrop:
                steps.append(Step(due: fault.offsetMilliseconds, kind: .dropStart(fault)))
                steps.append(Step(due: fault.endOffsetMilliseconds, kind: .dropEnd(fault)))
            case .malformedFrame: steps.append(Step(due: fault.offsetMilliseconds, kind: .malformed(fault)))
            case .authFailure: steps.append(Step(due: fault.offsetMilliseconds, kind: .authFailure(fault)))
            default: break
            }
        }
        // Stable: equal due times keep frames before the control steps appended after them.
        return steps.enumerated().sorted { ($0.element.due, $0.offset) < ($1.element.due, $1.offset) }.map(\.element)
    }

    /// Index of the first step due at or after `offset`.
    static func firstStep(in steps: [Step], atOrAfter offset: Int64) -> Int {
        var low = 0
        var high = steps.count
        while low < high {
            let middle = (low + high) / 2
            if steps[middle].due < offset { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Folds the frames before a late start into the stream state (last quotes and trades, day volume) without
    /// delivering them, so look-ups agree with a replay that had played them.
    private func warmHistory(upTo stepCount: Int, shift: TimeShift) {
        guard stepCount > 0 else { return }
        let decoder = FrameDecoder(shiftMilliseconds: shift.sessionMilliseconds, source: "recorded")
        market.withLock { market in
            var table = SymbolTable()
            swap(&table, &market.table)
            for index in 0..<stepCount {
                guard case .frame(let frameIndex) = steps[index].kind else { continue }
                _ = frames[frameIndex].bytes.withUnsafeBufferPointer { bytes in
                    decoder.decode(bytes, symbols: &table) { event, slot in
                        guard slot >= 0 else { return }
                        market.ensure(slot)
                        switch event {
                        case .quote(let quote): market.symbols[slot].record(quote)
                        case .trade(let trade): market.symbols[slot].record(trade)
                        default: break
                        }
                    }
                }
            }
            swap(&table, &market.table)
        }
    }

    // MARK: Lifecycle

    static func currentThread() -> UInt {
        #if canImport(Darwin)
            UInt(bitPattern: pthread_self())
        #else
            UInt(pthread_self())
        #endif
    }

    /// Runs `body` holding the dispatch lock, unless this thread already holds it (a re-entrant sink callback).
    private func withDispatch(_ body: () -> Void) {
        let me = Self.currentThread()
        if dispatchingThread.load(ordering: .acquiring) == me {
            body()
            return
        }
        dispatchLock.withLock { _ in
            dispatchingThread.store(me, ordering: .releasing)
            defer { dispatchingThread.store(0, ordering: .releasing) }
            body()
        }
    }

    /// Starts playing: reports the feeds connecting then live, and schedules the first batch.
    public func start() {
        withDispatch {
            let (generation, errors, skipped) = state.withLock {
                state -> (UInt64?, [(String, Channels, mh_status, String)], Int) in
                guard state.phase == .created else { return (nil, [], 0) }
                state.phase = .playing
                state.anchorMonotonic = scheduler.monotonicNanoseconds
                state.anchorPosition = state.position
                state.authFailed = faults.faults.contains {
                    $0.kind == .authFailure && $0.offsetMilliseconds <= state.position && state.position > 0
                }
                let errors = state.pendingSubscriptionErrors
                state.pendingSubscriptionErrors = []
                return (state.generation, errors, state.nextStep)
            }
            guard let generation else { return }
            if skipped > 0 {
                warmHistory(upTo: skipped, shift: baseShift)
                logger.info("replay starts \(initialPosition) ms into the session; earlier data is history")
            }
            for feed in feeds {
                sink.state(StreamStateEvent(kind: .connecting, feed: feed, reason: "opening the recording"))
            }
            for feed in feeds {
                sink.state(StreamStateEvent(kind: .live, feed: feed, reason: "replaying \(header.source) recording"))
            }
            for (symbol, channels, status, message) in errors {
                sink.subscriptionError(symbol: symbol, channels: channels, status: status, message: message)
            }
            scheduleTick(generation: generation, delay: 0)
        }
    }

    /// Stops for good: reports the feeds stopped, cancels pending look-ups, and makes no sink or completion
    /// call after it returns.
    public func stop() {
        let (pending, wasStarted) = state.withLock { state -> ([@Sendable (OperationResult) -> Void], Bool) in
            guard state.phase != .stopped else { return ([], false) }
            let wasStarted = state.phase != .created
            state.phase = .stopped
            state.generation &+= 1
            let pending = Array(state.pending.values)
            state.pending = [:]
            return (pending, wasStarted)
        }
        // Waits for a batch in flight, unless stop is called from inside one of its sink callbacks (the batch
        // then checks `stopped` before each further call).
        withDispatch {
            if wasStarted, !stopped.isSet {
                for feed in feeds {
                    sink.state(StreamStateEvent(kind: .stopped, feed: feed, reason: "stopped on request"))
                }
            }
            _ = stopped.setOnce()
        }
        for complete in pending { complete(OperationResult(error: .cancelled("the replay provider is stopping"))) }
    }

    // MARK: Pacing

    private func scheduleTick(generation: UInt64, delay: Int64) {
        let scheduled = scheduler.schedule(afterNanoseconds: max(0, delay)) { [self] in tick(generation: generation) }
        if !scheduled { logger.warning("the host refused a replay timer; replay pauses until resumed") }
    }

    struct Batch {
        var steps: [Int] = []
        var shift = TimeShift.none
        var subscriptions: [String: Channels] = [:]
        var subscriptionVersion: UInt64 = 0
        var ended = false
        var looped = false
        var next: (UInt64, Int64)?
    }

    func tick(generation: UInt64) {
        withDispatch {
            let batch = state.withLock { state -> Batch? in
                guard state.phase == .playing, !state.paused, state.generation == generation else { return nil }
                return collect(&state)
            }
            guard let batch else { return }
            dispatch(batch)
            if let (generation, delay) = batch.next { scheduleTick(generation: generation, delay: delay) }
        }
    }

    /// Takes the steps that are due from the state and decides when to come back.
    private func collect(_ state: inout State) -> Batch {
        let now = scheduler.monotonicNanoseconds
        let fast = state.speed <= 0
        let target: Int64 =
            fast
            ? Int64.max : state.anchorPosition + Int64(Double(now - state.anchorMonotonic) * state.speed / 1_000_000)
        var batch = Batch(
            shift: state.shift, subscriptions: state.subscriptions, subscriptionVersion: state.subscriptionVersion)
        let limit = fast ? Self.fastBatchSize : Int.max
        while state.nextStep < steps.count, steps[state.nextStep].due <= target, batch.steps.count < limit {
            batch.steps.append(state.nextStep)
            state.position = max(state.position, steps[state.nextStep].due)
            state.nextStep += 1
        }
        if !fast { state.position = max(state.position, min(target, duration)) }
        if state.nextStep < steps.count {
            let delay = fast ? 0 : Int64(Double(steps[state.nextStep].due - target) / state.speed * 1_000_000)
            batch.next = (state.generation, delay)
        } else if loop {
            state.loops += 1
            state.nextStep = 0
            state.position = 0
            state.anchorPosition = 0
            state.anchorMonotonic = now
            state.shift = loopShift(state.loops)
            batch.looped = true
            batch.next = (state.generation, 0)
        } else if fast || target >= duration {
            state.phase = .ended
            state.position = duration
            batch.ended = true
        } else {
            batch.next = (state.generation, Int64(Double(duration - target) / state.speed * 1_000_000))
        }
        return batch
    }

    /// The shift for the `loops`-th repetition: the session moves on by one trading day per loop.
    private func loopShift(_ loops: Int) -> TimeShift {
        let recorded = baseShift.recordedDate ?? EasternTime.local(atUTC: header.startMilliseconds).date
        var target = baseShift.targetDate ?? recorded
        for _ in 0..<loops { target = calendar.nextTradingDay(after: target).date }
        return TimeShift(recordedDate: recorded, targetDate: target, calendar: calendar)
    }

    // MARK: Dispatch

    /// What a batch hands to the sink, in order.
    private enum Action {
        case quotes([Quote])
        case trades([Trade])
        case bars([Bar])
        case state(StreamStateEvent)
    }

    private struct Outbox {
        var quotes: [Quote] = []
        var trades: [Trade] = []
        var bars: [Bar] = []
        var actions: [Action] = []

        mutating func flush() {
            if !quotes.isEmpty {
                actions.append(.quotes(quotes))
                quotes.removeAll(keepingCapacity: true)
            }
            if !trades.isEmpty {
                actions.append(.trades(trades))
                trades.removeAll(keepingCapacity: true)
            }
            if !bars.isEmpty {
                actions.append(.bars(bars))
                bars.removeAll(keepingCapacity: true)
            }
        }

        mutating func state(_ event: StreamStateEvent) {
            flush()
            actions.append(.state(event))
        }
    }

    /// Decodes the batch's frames and updates the stream state under the market lock, then makes the sink calls
    /// with no lock but the dispatch lock held (so a sink that calls back into the provider cannot deadlock).
    private func dispatch(_ batch: Batch) {
        let decoder = FrameDecoder(shiftMilliseconds: batch.shift.sessionMilliseconds, source: "recorded")
        let origin = header.clockOrigin + batch.shift.sessionMilliseconds
        var outbox = Outbox()
        // A fast batch fills thousands of events: size the lists once instead of doubling them all the way up.
        let expected = min(batch.steps.count, Self.fastBatchSize)
        outbox.quotes.reserveCapacity(expected)
        outbox.trades.reserveCapacity(expected / 4)
        outbox.bars.reserveCapacity(expected / 4)
        var frameCount = 0
        var delivered = 0
        var malformed = 0
        var problems: [String] = []
        var authFailed = false
        market.withLock { market in
            market.apply(batch.subscriptions, version: batch.subscriptionVersion)
            for index in batch.steps {
                switch steps[index].kind {
                case .frame(let frameIndex):
                    frameCount += 1
                    // The table is moved out while the decoder fills it, so the handler may touch `symbols`.
                    var table = SymbolTable()
                    swap(&table, &market.table)
                    let issues = frames[frameIndex].bytes.withUnsafeBufferPointer { bytes in
                        decoder.decode(bytes, symbols: &table) { event, slot in
                            guard slot >= 0 else { return }
                            market.ensure(slot)
                            // The outbox gets a copy; the stream state keeps the event itself (one retain less).
                            switch consume event {
                            case .quote(let quote):
                                if market.symbols[slot].wanted.contains(.quotes) {
                                    outbox.quotes.append(quote)
                                    delivered += 1
                                }
                                market.symbols[slot].record(consume quote)
                            case .trade(let trade):
                                if market.symbols[slot].wanted.contains(.trades) {
                                    outbox.trades.append(trade)
                                    delivered += 1
                                }
                                market.symbols[slot].record(consume trade)
                            case .aggregate(let bar):
                                if market.symbols[slot].wanted.contains(
                                    bar.timespan == .second ? .aggSecond : .aggMinute)
                                {
                                    outbox.bars.append(bar)
                                    delivered += 1
                                }
                            case .status:
                                break
                            }
                        }
                    }
                    swap(&table, &market.table)
                    if !issues.isEmpty {
                        malformed += 1
                        problems.append(issues.map(\.description).joined(separator: "; "))
                    }
                case .dropStart(let fault):
                    for feed in fault.feed.map({ [$0] }) ?? feeds {
                        outbox.state(
                            StreamStateEvent(
                                kind: .connecting, feed: feed, reason: "stream dropped (scripted fault); reconnecting"))
                    }
                case .dropEnd(let fault):
                    for feed in fault.feed.map({ [$0] }) ?? feeds {
                        outbox.state(
                            StreamStateEvent(
                                kind: .live, feed: feed, reason: "reconnected after a scripted drop",
                                gapFromMilliseconds: origin + fault.offsetMilliseconds,
                                gapToMilliseconds: origin + fault.endOffsetMilliseconds))
                    }
                case .malformed(let fault):
                    let payload = Array((fault.payload ?? "[{\"ev\":\"Q\",\"sym\":").utf8)
                    let issues = payload.withUnsafeBufferPointer { decoder.decode($0) { _ in } }
                    malformed += 1
                    problems.append("(scripted) " + issues.map(\.description).joined(separator: "; "))
                case .authFailure(let fault):
                    authFailed = true
                    for feed in fault.feed.map({ [$0] }) ?? feeds {
                        outbox.state(
                            StreamStateEvent(
                                kind: .failed, feed: feed, reason: "auth_failed: authentication failed (scripted fault)"
                            ))
                    }
                }
            }
            // A loop starts a new trading day: yesterday's stream state does not carry over.
            if batch.looped { market.clear() }
        }
        outbox.flush()
        state.withLock { state in
            state.framesDispatched += frameCount
            state.eventsDelivered += delivered
            state.malformedFrames += malformed
            if authFailed { state.authFailed = true }
        }
        for problem in problems { logger.warning("skipped a malformed vendor frame: \(problem)") }
        if batch.looped { logger.info("replay looped; the session continues as the next trading day") }
        for action in outbox.actions {
            guard !stopped.isSet else { return }
            switch action {
            case .quotes(let quotes): sink.quotes(quotes)
            case .trades(let trades): sink.trades(trades)
            case .bars(let bars): sink.bars(bars)
            case .state(let event): sink.state(event)
            }
        }
        if batch.ended, !endsQuietly {
            for feed in feeds {
                sink.state(StreamStateEvent(kind: .degraded, feed: feed, reason: "the recording has ended"))
            }
        }
    }

    // MARK: Subscriptions

    /// Subscribes symbols to channels. Symbols the recording knows nothing about, and option quote
    /// subscriptions beyond the vendor's cap, are refused through `subscriptionError`.
    public func subscribe(_ symbols: [String], channels: Channels) throws(PluginError) {
        guard !channels.isEmpty else { throw .invalid("no channels to subscribe") }
        guard !symbols.contains(where: \.isEmpty) else { throw .invalid("empty symbol in a subscription") }
        let emit = state.withLock { state -> [(String, Channels, mh_status, String)]? in
            guard state.phase != .stopped else { return nil }
            var errors: [(String, Channels, mh_status, String)] = []
            var optionQuoteCount = state.subscriptions.filter { $0.key.hasPrefix("O:") && $0.value.contains(.quotes) }
                .count
            for symbol in symbols {
                guard isKnown(symbol) else {
                    errors.append((symbol, channels, mh_status(MH_NOT_FOUND), "\(symbol) is not in this recording"))
                    continue
                }
                var wanted = channels
                let existing = state.subscriptions[symbol] ?? []
                if symbol.hasPrefix("O:"), wanted.contains(.quotes), !existing.contains(.quotes) {
                    if optionQuoteCount >= Self.optionQuoteCap {
                        wanted.remove(.quotes)
                        errors.append(
                            (
                                symbol, .quotes, mh_status(MH_LIMIT_EXCEEDED),
                                "at most \(Self.optionQuoteCap) option contracts can stream quotes on one connection"
                            ))
                    } else {
                        optionQuoteCount += 1
                    }
                }
                if !wanted.isEmpty { state.subscriptions[symbol] = existing.union(wanted) }
            }
            state.subscriptionVersion &+= 1
            if state.phase == .created {
                state.pendingSubscriptionErrors.append(contentsOf: errors)
                return []
            }
            return errors
        }
        guard let emit else { throw .cancelled("the replay provider is stopped") }
        guard !emit.isEmpty else { return }
        withDispatch {
            guard !stopped.isSet else { return }
            for (symbol, channels, status, message) in emit {
                sink.subscriptionError(symbol: symbol, channels: channels, status: status, message: message)
            }
        }
    }

    public func unsubscribe(_ symbols: [String], channels: Channels) {
        state.withLock { state in
            for symbol in symbols {
                guard let existing = state.subscriptions[symbol] else { continue }
                let remaining = existing.subtracting(channels)
                state.subscriptions[symbol] = remaining.isEmpty ? nil : remaining
            }
            state.subscriptionVersion &+= 1
        }
    }

    func isKnown(_ symbol: String) -> Bool {
        if knownSymbols.contains(symbol) { return true }
        if let option = OptionTicker(symbol) { return knownRoots.contains(option.root) }
        return false
    }

    // MARK: Control

    /// Pauses playback; the replay clock stops.
    public func pause() {
        state.withLock { state in
            guard state.phase == .playing, !state.paused else { return }
            state.paused = true
            state.generation &+= 1
        }
    }

    /// Resumes playback from where it paused.
    public func resume() {
        let next = state.withLock { state -> UInt64? in
            guard state.phase == .playing, state.paused else { return nil }
            state.paused = false
            state.generation &+= 1
            state.anchorPosition = state.position
            state.anchorMonotonic = scheduler.monotonicNanoseconds
            return state.generation
        }
        if let next { scheduleTick(generation: next, delay: 0) }
    }

    /// Jumps to `offset` milliseconds of recording time (clamped to the recording). Seeking back replays
    /// what follows again; the per-symbol stream history restarts.
    public func seek(toOffset offset: Int64) throws(PluginError) {
        guard offset >= 0 else { throw .invalid("seek offset must not be negative") }
        let target = min(offset, duration)
        let next = state.withLock { state -> UInt64?? in
            guard state.phase != .stopped, state.phase != .created else { return .none }
            var low = 0
            var high = steps.count
            while low < high {
                let middle = (low + high) / 2
                if steps[middle].due < target { low = middle + 1 } else { high = middle }
            }
            state.nextStep = low
            state.position = target
            state.anchorPosition = target
            state.anchorMonotonic = scheduler.monotonicNanoseconds
            state.generation &+= 1
            state.authFailed = faults.faults.contains { $0.kind == .authFailure && $0.offsetMilliseconds <= target }
            if state.phase == .ended { state.phase = .playing }
            return .some(state.paused ? nil : state.generation)
        }
        guard let next else { throw .invalid("the replay has not started or is stopped") }
        market.withLock { $0.clear() }
        if let next { scheduleTick(generation: next, delay: 0) }
    }

    /// Sets the speed: 1 real time, N times faster, 0 or less as fast as possible.
    public func setSpeed(_ speed: Double) throws(PluginError) {
        guard speed.isFinite else { throw .invalid("speed must be a finite number") }
        let next = state.withLock { state -> UInt64? in
            state.speed = speed
            guard state.phase == .playing else { return nil }
            state.anchorPosition = state.position
            state.anchorMonotonic = scheduler.monotonicNanoseconds
            state.generation &+= 1
            return state.paused ? nil : state.generation
        }
        if let next { scheduleTick(generation: next, delay: 0) }
    }

    /// A JSON object describing the replay (position, clock, speed, counters).
    public func statusJSON() -> String {
        let snapshot = state.withLock { $0 }
        let phase = snapshot.paused && snapshot.phase == .playing ? "paused" : snapshot.phase.rawValue
        let replayNow = header.clockOrigin + snapshot.position + snapshot.shift.sessionMilliseconds
        return JSONValue.object([
            ("state", .string(phase)), ("positionMs", .integer(snapshot.position)), ("durationMs", .integer(duration)),
            ("replayTimeMs", .integer(replayNow)), ("speed", .number(snapshot.speed)), ("loop", .bool(loop)),
            ("loops", .integer(Int64(snapshot.loops))),
            ("framesDispatched", .integer(Int64(snapshot.framesDispatched))),
            ("eventsDelivered", .integer(Int64(snapshot.eventsDelivered))),
            ("malformedFrames", .integer(Int64(snapshot.malformedFrames))),
            ("subscriptions", .integer(Int64(snapshot.subscriptions.count))), ("source", .string(header.source)),
            ("recordingIssues", .integer(Int64(recordingIssues.count))), ("truncated", .bool(truncated)),
        ]).text
    }

    /// Health: down after an authentication failure, degraded when the recording was damaged or has ended.
    public func health() -> (mh_health_state, String) {
        let snapshot = state.withLock { ($0.authFailed, $0.phase, $0.position) }
        if snapshot.0 { return (mh_health_state(MH_HEALTH_DOWN), "authentication failed (scripted fault)") }
        if truncated { return (mh_health_state(MH_HEALTH_DEGRADED), "the recording is truncated") }
        if !recordingIssues.isEmpty {
            return (mh_health_state(MH_HEALTH_DEGRADED), "\(recordingIssues.count) recording lines were skipped")
        }
        if snapshot.1 == .ended, endsQuietly {
            return (mh_health_state(MH_HEALTH_OK), "the session of today is over; serving it as history")
        }
        if snapshot.1 == .ended { return (mh_health_state(MH_HEALTH_DEGRADED), "the recording has ended") }
        return (mh_health_state(MH_HEALTH_OK), "replaying \(header.source) at \(snapshot.2) ms")
    }

    /// The replay clock: the recorded instant being played, moved by the time shift (UTC ms).
    public var replayTimeMilliseconds: Int64 {
        state.withLock { header.clockOrigin + $0.position + $0.shift.sessionMilliseconds }
    }
}
