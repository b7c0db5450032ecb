import ArgumentParser
import FakeMassive
import Logging
import MarketCalendar
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
    import Glibc
#endif

/// `fake-massive`: the fake vendor as a command, for manual runs against a MarketHub host.
@main
struct FakeMassiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fake-massive",
        abstract:
            "Serve a fake Massive (Polygon.io) REST + WebSocket API on loopback, fed by synthetic or recorded data."
    )

    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port to bind (0 picks a free one and prints it).") var port = 9_100
    @Option(help: "Comma-separated underlyings for the synthetic session.") var underlyings = "SPY,QQQ"
    @Option(help: "Generator seed.") var seed: UInt64 = 42
    @Option(help: "Session date YYYY-MM-DD (default: the latest trading day).") var date: String?
    @Option(help: "New York hours generated, HH:MM-HH:MM (default the whole extended day, 04:00-20:00).")
    var window = "04:00-20:00"
    @Option(help: "Serve this recording instead of generated data.") var recording: String?
    @Option(help: "Accepted API keys, comma-separated (MASSIVE_API_KEY is a good choice).") var keys = "fake-key"
    @Option(help: "Replay the stream at this multiple of real time (0: no stream).") var speed: Double = 1
    @Option(help: "Results per page on every paginated endpoint.") var pageSize: Int?
    @Flag(help: "Leave out greeks, last_quote and last_trade.") var omitOptional = false
    @Flag(help: "Refuse every key (REST 401, WebSocket auth_failed).") var authFailure = false
    @Option(help: "Answer the first N REST requests with 429.") var rateLimit = 0
    @Option(help: "Retry-After seconds on 429 answers (omit for none).") var retryAfter: Int?
    @Option(help: "Delay every pushed frame by this many milliseconds.") var frameDelay = 0
    @Option(help: "Replace every N-th pushed frame with a malformed one.") var malformedEvery = 0
    @Option(help: "Drop every WebSocket connection every N seconds (0: never).") var dropEvery = 0

    func run() async throws {
        var logger = Logger(label: "fake-massive")
        logger.logLevel = .info
        let data: FakeMarketData
        if let recording {
            data = try FakeMarketData.recording(path: recording)
        } else {
            let day: CivilDate
            if let date {
                guard let parsed = CivilDate(date) else { throw ValidationError("--date must be YYYY-MM-DD") }
                day = parsed
            } else {
                let today = EasternTime.local(atUTC: Int64(SystemTime.nowMilliseconds)).date
                day =
                    MarketCalendar.nyse.isTradingDay(today)
                    ? today : MarketCalendar.nyse.previousTradingDay(before: today).date
            }
            let bounds = window.split(separator: "-").map { part -> Int? in
                let pieces = part.split(separator: ":")
                guard pieces.count == 2, let hour = Int(pieces[0]), let minute = Int(pieces[1]) else { return nil }
                return hour * 60 + minute
            }
            guard bounds.count == 2, let start = bounds[0], let end = bounds[1], start < end else {
                throw ValidationError("--window must be HH:MM-HH:MM")
            }
            data = try FakeMarketData.synthetic(
                underlyings: underlyings.split(separator: ",").map(String.init), date: day, seed: seed,
                startMinute: start, endMinute: end)
        }
        var behaviour = FakeMassiveServer.Behaviour()
        behaviour.pageSize = pageSize
        behaviour.omitOptionalFields = omitOptional
        behaviour.authFailure = authFailure
        behaviour.rateLimitedRequests = rateLimit
        behaviour.retryAfterSeconds = retryAfter
        behaviour.frameDelayMilliseconds = frameDelay
        behaviour.malformedEvery = malformedEvery
        let server = FakeMassiveServer(
            data: data, apiKeys: Set(keys.split(separator: ",").map(String.init)), host: host, port: port,
            behaviour: behaviour, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: server)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        let speed = speed
        let dropEvery = dropEvery
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask {
                let bound = await server.port()
                print("fake-massive listening: restURL http://\(host):\(bound)  wsURL ws://\(host):\(bound)")
                fflush(nil)
                await withTaskGroup(of: Void.self) { inner in
                    if speed > 0 { inner.addTask { await server.streamFrames(speed: speed) } }
                    if dropEvery > 0 {
                        inner.addTask {
                            while !Task.isCancelled {
                                try? await Task.sleep(for: .seconds(dropEvery))
                                server.dropConnections()
                            }
                        }
                    }
                }
            }
            try await tasks.next()
            tasks.cancelAll()
        }
    }
}

enum SystemTime {
    static var nowMilliseconds: Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) * 1_000 + Double(spec.tv_nsec) / 1_000_000
    }
}
