import MarketCalendar
import PluginKit
import Synchronization

/// The market's state now: from the provider, cached for a while (the spec's ~30 s), with the built-in New
/// York calendar answering whenever the provider cannot.
public final class MarketStatusService: Sendable {
    public struct Status: Sendable, Equatable {
        /// "open", "closed" or "extended-hours".
        public var market: String
        public var earlyHours: Bool
        public var afterHours: Bool
        /// "provider" or "calendar".
        public var source: String

        public var isClosed: Bool { market == "closed" }

        public var json: JSONValue {
            .object([
                ("market", .string(market)), ("earlyHours", .bool(earlyHours)), ("afterHours", .bool(afterHours)),
                ("source", .string(source)),
            ])
        }
    }

    let provider: any ProviderLookups
    let clock: any HostClock
    let calendar: MarketCalendar
    let timeToLiveMilliseconds: Int64
    private let cached = Mutex<(status: Status, at: Int64)?>(nil)
    private let flight = SingleFlight<Status>(maximumConcurrent: 1)

    public init(
        provider: any ProviderLookups, clock: any HostClock, calendar: MarketCalendar = .nyse,
        timeToLiveMilliseconds: Int64 = 30_000
    ) {
        self.provider = provider
        self.clock = clock
        self.calendar = calendar
        self.timeToLiveMilliseconds = timeToLiveMilliseconds
    }

    /// The calendar's view at `milliseconds`.
    public func calendarStatus(at milliseconds: Int64) -> Status {
        let snapshot = calendar.status(at: milliseconds)
        return Status(
            market: snapshot.market, earlyHours: snapshot.earlyHours, afterHours: snapshot.afterHours,
            source: "calendar")
    }

    public func current() async -> Status {
        let now = clock.nowMilliseconds
        if let entry = cached.withLock({ $0 }), now - entry.at < timeToLiveMilliseconds { return entry.status }
        return await flight.run("status") { [self] in
            let result = await provider.request(ProviderRequest(kind: .marketStatus))
            var status = calendarStatus(at: clock.nowMilliseconds)
            if result.isOK, let document = try? JSONValue.parse(result.json), let market = document["market"]?.string,
                ["open", "closed", "extended-hours"].contains(market)
            {
                status = Status(
                    market: market, earlyHours: document["earlyHours"]?.bool ?? false,
                    afterHours: document["afterHours"]?.bool ?? false, source: "provider"
                )
            }
            cached.withLock { $0 = (status, clock.nowMilliseconds) }
            return status
        }.value
    }
}

/// What the market-data services need from the provider: look-ups.
public protocol ProviderLookups: AnyObject, Sendable {
    func request(_ request: ProviderRequest) async -> OperationResult
}

extension ProviderPlugin: ProviderLookups {}
