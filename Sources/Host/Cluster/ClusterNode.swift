import Logging
import NIOCore
import PluginKit
import RedisClient
import ServiceLifecycle
import Synchronization

/// This host's membership in a cluster of hosts sharing Redis (the `cluster:` section).
///
/// - **Demand** (`UpstreamSubscriptions`): the quote router and chart hub subscribe here instead of the
///   provider. The host's own wants are written to a sorted set `<prefix>:demand` (member
///   `instance|channels|symbol`, score = expiry), refreshed every third of `demandTtlMs` and removed on
///   release; a host that dies stops refreshing and its entries expire.
/// - **Ingestion**: one host holds the lease `<prefix>:ingest` (SET NX PX, renewed by compare-and-PEXPIRE,
///   released by compare-and-DEL). The holder subscribes its provider to the union of every host's demand and
///   follows it; the others leave their provider's stream alone. A host that loses the lease unsubscribes.
/// - **Fan-out** (`FanOutBus`): the router publishes each encoded event to local outputs and once to
///   `<prefix>:room:<room>`; every other host subscribed to that channel (only while one of its clients is in
///   the room) publishes the same bytes to its transports. Bars and stream states go to
///   `<prefix>:bars:<ticker>` and `<prefix>:state` for the chart hubs, which build candles per host.
/// - **Redis down**: the holder keeps streaming to its own clients; others report `degraded` to their chart
///   clients and in `/health`; pub/sub reconnects with backoff and jitter and restores every channel.
public final class ClusterNode: UpstreamSubscriptions, FanOutBus, MarketDataSink, Service, Sendable {
    /// The cluster's part of `/health`.
    public struct Health: Sendable {
        public var state: PluginHealth.State
        public var json: JSONValue
    }

    struct State {
        /// What this host's clients want.
        var local: [String: Channels] = [:]
        /// What the other hosts want (read by the holder).
        var remote: [String: Channels] = [:]
        /// What this host's provider is subscribed to (only while holding the lease).
        var upstream: [String: Channels] = [:]
        var holding = false
        var holder: String?
        var pluginsStarted = false
        var demandDirty = true
        /// Demand members written to Redis, to remove the ones no longer wanted.
        var published: Set<String> = []
        var redisUp = false
        var everConnected = false
        /// When Redis became reachable again after an outage (monotonic ms): a follower then leaves the lease
        /// to the previous holder for one lease lifetime, so a Redis restart does not move ingestion.
        var recoveredAt: Int64?
        var subscriberUp = false
        /// Symbols the provider refused, not asked again before this instant (monotonic ms).
        var refusedUntil: [String: Int64] = [:]
        /// Chart clients have been told the stream is degraded (Redis or the ingesting host lost).
        var degradedAnnounced = false
        var sinks: [any MarketDataSink] = []
        var lastError = ""
    }

    public let configuration: ClusterConfiguration
    let provider: any UpstreamSubscriptions
    let transports: [any LiveOutput]
    let clock: any HostClock
    let logger: Logger
    let metrics: MetricsRegistry
    let commands: RedisClient
    let lease: RedisLease
    private let state = Mutex(State())
    private let subscriberBox = Mutex<RedisSubscriber?>(nil)

    static let liveChannels: Channels = [.quotes, .trades]
    /// How long a symbol the provider refused is left alone before the holder asks again.
    static let refusalRetryMilliseconds: Int64 = 30_000
    static let barChannels: Channels = [.aggSecond, .aggMinute]

    var instanceID: String { configuration.instanceID }
    var demandKey: String { configuration.keyPrefix + ":demand" }
    var stateChannel: String { configuration.keyPrefix + ":state" }
    var roomPrefix: String { configuration.keyPrefix + ":room:" }
    var barsPrefix: String { configuration.keyPrefix + ":bars:" }

    public init(
        configuration: ClusterConfiguration, provider: any UpstreamSubscriptions, transports: [any LiveOutput],
        clock: any HostClock, logger: Logger, metrics: MetricsRegistry
    ) throws(RedisError) {
        self.configuration = configuration
        self.provider = provider
        self.transports = transports
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        let endpoint = try RedisEndpoint(url: configuration.redisURL)
        commands = RedisClient(endpoint: endpoint, connectTimeout: .seconds(1), commandTimeout: .seconds(1))
        lease = RedisLease(
            client: commands, key: configuration.keyPrefix + ":ingest", owner: configuration.instanceID,
            ttlMilliseconds: configuration.leaseTTLMilliseconds)
        let subscriber = RedisSubscriber(
            endpoint: endpoint, backoff: .init(initialMilliseconds: 100, maximumMilliseconds: 2_000),
            sleep: { [clock] in await clock.sleep(nanoseconds: $0 * 1_000_000) },
            onMessage: { [weak self] channel, payload in self?.deliver(channel: channel, payload: payload) },
            onConnection: { [weak self] connected in self?.subscriberChanged(connected: connected) })
        subscriberBox.withLock { $0 = subscriber }
        subscriber.subscribe([stateChannel])
    }

    var subscriber: RedisSubscriber? { subscriberBox.withLock { $0 } }

    /// Registers the receivers of bars and stream states that other hosts ingest (the chart hub), and this
    /// node as an observer of the local provider's stream (to pass it on while holding the lease).
    public func attach(to core: HostCore, remoteSinks: [any MarketDataSink]) {
        state.withLock { $0.sinks = remoteSinks }
        core.addStreamObserver(self)
    }

    /// Called once every plugin has started: only then may this host take the lease and subscribe upstream.
    public func pluginsStarted() {
        state.withLock { $0.pluginsStarted = true }
    }

    // MARK: Views

    public var isHoldingLease: Bool { state.withLock { $0.holding } }

    /// Symbols this host's provider is subscribed to for the cluster.
    public var upstreamSymbols: [String: Channels] { state.withLock { $0.upstream } }

    public func health() -> Health {
        let snapshot = state.withLock { $0 }
        let healthy = snapshot.redisUp && snapshot.subscriberUp
        var upstream: [JSONValue] = []
        for symbol in snapshot.upstream.keys.sorted() {
            upstream.append(
                .object([
                    ("symbol", .string(symbol)),
                    ("channels", .integer(Int64(snapshot.upstream[symbol]?.rawValue ?? 0))),
                ]))
        }
        let json = JSONValue.object([
            ("status", .string(healthy ? "ok" : "degraded")),
            ("instanceId", .string(instanceID)),
            ("role", .string(snapshot.holding ? "ingesting" : "following")),
            ("leaseHolder", snapshot.holder.map { JSONValue.string($0) } ?? JSONValue.null),
            ("redis", .string(snapshot.redisUp ? "up" : "down")),
            ("pubsub", .string(snapshot.subscriberUp ? "up" : "down")),
            ("localDemand", .integer(Int64(snapshot.local.count))),
            ("upstream", .array(upstream)),
            ("detail", .string(healthy ? "" : snapshot.lastError)),
        ])
        return Health(state: healthy ? .ok : .degraded, json: json)
    }

    // MARK: UpstreamSubscriptions (this host's demand)

    public func subscribe(_ symbols: [String], channels: Channels) throws(PluginError) {
        let rooms = state.withLock { state in
            var rooms: [String] = []
            for symbol in symbols {
                let before = state.local[symbol] ?? []
                let after = before.union(channels)
                state.local[symbol] = after
                state.refusedUntil[symbol] = nil
                rooms += roomChannels(symbol, after).subtracting(roomChannels(symbol, before))
            }
            state.demandDirty = true
            return rooms
        }
        subscriber?.subscribe(rooms)
        do throws(PluginError) {
            try syncUpstream()
        } catch {
            // Refused for one of these symbols (while ingesting): withdraw the demand, as the provider would hold
            // nothing; a refusal of another host's symbol is that host's business.
            let refused = state.withLock { state in
                symbols.filter { !channels.isSubset(of: state.upstream[$0] ?? []) }
            }
            guard !refused.isEmpty else { return }
            try? unsubscribe(refused, channels: channels)
            throw error
        }
    }

    public func unsubscribe(_ symbols: [String], channels: Channels) throws(PluginError) {
        let rooms = state.withLock { state in
            var rooms: [String] = []
            for symbol in symbols {
                let before = state.local[symbol] ?? []
                let after = before.subtracting(channels)
                state.local[symbol] = after.isEmpty ? nil : after
                rooms += roomChannels(symbol, before).subtracting(roomChannels(symbol, after))
            }
            state.demandDirty = true
            return rooms
        }
        subscriber?.unsubscribe(rooms)
        try syncUpstream()
    }

    /// The Redis channels a host listens on while its clients want `channels` of `symbol`: the quote room's
    /// events, and the ticker's bars for the chart hub.
    func roomChannels(_ symbol: String, _ channels: Channels) -> Set<String> {
        var out: Set<String> = []
        if !channels.isDisjoint(with: Self.liveChannels) { out.insert(roomPrefix + QuoteRouter.room(symbol)) }
        if !channels.isDisjoint(with: Self.barChannels) { out.insert(barsPrefix + symbol) }
        return out
    }

    /// Brings the provider's subscriptions to the union of local and remote demand while holding the lease
    /// (and to nothing otherwise). Throws the provider's first refusal.
    func syncUpstream() throws(PluginError) {
        let now = clock.monotonicNanoseconds / 1_000_000
        let (adds, removes) = state.withLock { state -> ([String: Channels], [String: Channels]) in
            state.refusedUntil = state.refusedUntil.filter { $0.value > now }
            var wanted: [String: Channels] = [:]
            if state.holding, state.pluginsStarted {
                wanted = state.local
                for (symbol, channels) in state.remote { wanted[symbol, default: []].formUnion(channels) }
            }
            var adds: [String: Channels] = [:]
            var removes: [String: Channels] = [:]
            for (symbol, channels) in wanted {
                let missing = channels.subtracting(state.upstream[symbol] ?? [])
                if !missing.isEmpty, state.refusedUntil[symbol] == nil { adds[symbol] = missing }
            }
            for (symbol, held) in state.upstream {
                let extra = held.subtracting(wanted[symbol] ?? [])
                if !extra.isEmpty { removes[symbol] = extra }
            }
            for (symbol, channels) in adds { state.upstream[symbol, default: []].formUnion(channels) }
            for (symbol, channels) in removes {
                let left = (state.upstream[symbol] ?? []).subtracting(channels)
                state.upstream[symbol] = left.isEmpty ? nil : left
            }
            return (adds, removes)
        }
        guard !adds.isEmpty || !removes.isEmpty else { return }
        for (channels, symbols) in Self.grouped(removes) {
            do throws(PluginError) {
                try provider.unsubscribe(symbols, channels: channels)
            } catch {
                logger.warning("upstream unsubscribe failed", metadata: ["symbols": "\(symbols)", "error": "\(error)"])
            }
        }
        var firstError: PluginError?
        for (channels, symbols) in Self.grouped(adds) {
            do throws(PluginError) {
                try provider.subscribe(symbols, channels: channels)
            } catch {
                state.withLock { state in
                    for symbol in symbols {
                        let left = (state.upstream[symbol] ?? []).subtracting(channels)
                        state.upstream[symbol] = left.isEmpty ? nil : left
                        state.refusedUntil[symbol] = now + Self.refusalRetryMilliseconds
                    }
                }
                firstError = firstError ?? error
            }
        }
        let count = state.withLock { $0.upstream.count }
        metrics.set(
            "markethub_cluster_upstream_symbols", to: Double(count),
            help: "Symbols this host's provider streams for the cluster (0 unless it holds the ingestion lease)")
        if let firstError { throw firstError }
    }

    static func grouped(_ entries: [String: Channels]) -> [(Channels, [String])] {
        var groups: [UInt32: [String]] = [:]
        for (symbol, channels) in entries { groups[channels.rawValue, default: []].append(symbol) }
        return groups.keys.sorted().map { (Channels(rawValue: $0), groups[$0]!.sorted()) }
    }

    // MARK: FanOutBus

    public func publish(
        room: String, event: String, payload: [UInt8], conflationKey: String, outputs: [any LiveOutput]
    ) {
        for output in outputs {
            output.publish(room: room, event: event, payload: payload, conflationKey: conflationKey)
        }
        let message = ClusterMessage.roomEvent(
            origin: instanceID, event: event, conflationKey: conflationKey, payload: payload)
        send(channel: roomPrefix + room, message)
    }

    public func wantedElsewhere(_ symbol: String, channels: Channels) -> Bool {
        state.withLock { $0.holding && !($0.remote[symbol]?.isDisjoint(with: channels) ?? true) }
    }

    /// PUBLISH without waiting for the reply; dropped (and counted) while Redis is unreachable.
    private func send(channel: String, _ message: [UInt8]) {
        guard let connection = commands.currentConnection,
            connection.sendWithoutReply([RedisCommand("PUBLISH", [channel], bytes: message)])
        else {
            metrics.increment(
                "markethub_cluster_publish_dropped_total", help: "Events not sent to other hosts: Redis unreachable")
            return
        }
        metrics.increment("markethub_cluster_published_total", help: "Events published to other hosts")
    }

    // MARK: Receiving

    func deliver(channel: String, payload: [UInt8]) {
        if channel.hasPrefix(roomPrefix) {
            guard let message = ClusterMessage.parseRoomEvent(payload) else { return malformed(channel) }
            guard message.origin != instanceID else { return }
            let room = String(channel.dropFirst(roomPrefix.count))
            for transport in transports {
                transport.publish(
                    room: room, event: message.event, payload: message.payload, conflationKey: message.conflationKey)
            }
            metrics.increment("markethub_cluster_delivered_total", help: "Events from other hosts delivered locally")
        } else if channel.hasPrefix(barsPrefix) {
            guard let message = ClusterMessage.parseBars(payload) else { return malformed(channel) }
            guard message.origin != instanceID else { return }
            for sink in state.withLock({ $0.sinks }) { sink.receive(bars: message.bars) }
        } else if channel == stateChannel {
            guard let message = ClusterMessage.parseState(payload) else { return malformed(channel) }
            guard message.origin != instanceID else { return }
            if message.state.kind == .live { state.withLock { $0.degradedAnnounced = false } }
            for sink in state.withLock({ $0.sinks }) { sink.receive(state: message.state) }
        }
    }

    private func malformed(_ channel: String) {
        metrics.increment("markethub_cluster_malformed_total", help: "Malformed messages from Redis, ignored")
        logger.warning("ignored a malformed cluster message", metadata: ["channel": "\(channel)"])
    }

    func subscriberChanged(connected: Bool) {
        state.withLock { $0.subscriberUp = connected }
        logger.log(level: connected ? .info : .warning, "cluster pub/sub \(connected ? "connected" : "disconnected")")
    }

    // MARK: MarketDataSink (the local provider's stream, passed on while holding the lease)

    public func receive(quotes: [Quote]) {}

    public func receive(trades: [Trade]) {}

    public func receive(bars: [Bar]) {
        let wanted = state.withLock { state -> [Bar] in
            guard state.holding else { return [] }
            return bars.filter { !(state.remote[$0.symbol]?.isDisjoint(with: Self.barChannels) ?? true) }
        }
        guard !wanted.isEmpty else { return }
        var bySymbol: [String: [Bar]] = [:]
        for bar in wanted { bySymbol[bar.symbol, default: []].append(bar) }
        for (symbol, batch) in bySymbol {
            send(channel: barsPrefix + symbol, ClusterMessage.bars(origin: instanceID, batch))
        }
    }

    public func receive(state streamState: StreamState) {
        guard state.withLock({ $0.holding }) else { return }
        send(channel: stateChannel, ClusterMessage.state(origin: instanceID, streamState))
    }

    public func subscriptionFailed(symbol: String, channels: Channels, error: PluginError) {}

    /// Tells this host's chart clients (and, when `everywhere`, every other host's) about the stream.
    func announce(_ streamState: StreamState, everywhere: Bool) {
        if everywhere { send(channel: stateChannel, ClusterMessage.state(origin: instanceID, streamState)) }
        for sink in state.withLock({ $0.sinks }) { sink.receive(state: streamState) }
    }

    /// Announces `degraded` locally once until the stream is live again.
    func announceDegradedLocally(_ reason: String) {
        let first = state.withLock { state -> Bool in
            defer { state.degradedAnnounced = true }
            return !state.degradedAnnounced
        }
        if first { announce(StreamState(kind: .degraded, reason: reason), everywhere: false) }
    }

    // MARK: Service

    public func run() async throws {
        let tick = max(20, min(200, configuration.leaseRenewMilliseconds))
        logger.info(
            "cluster member starting",
            metadata: ["instance": "\(instanceID)", "redis": "\(commands.endpoint)"])
        await withTaskGroup(of: Void.self) { group in
            if let subscriber { group.addTask { await subscriber.run() } }
            await cancelWhenGracefulShutdown { [self] in
                var lastLease: Int64?
                var lastDemand: Int64?
                while !Task.isCancelled {
                    let now = clock.monotonicNanoseconds / 1_000_000
                    if lastLease.map({ now - $0 >= configuration.leaseRenewMilliseconds }) ?? true {
                        lastLease = now
                        await leaseTick()
                    }
                    let refreshDue = lastDemand.map { now - $0 >= configuration.demandTTLMilliseconds / 3 } ?? true
                    if refreshDue || state.withLock({ $0.demandDirty }) {
                        if await publishDemand() { lastDemand = now }
                    }
                    if state.withLock({ $0.holding }) { await readDemand() }
                    await clock.sleep(nanoseconds: tick * 1_000_000)
                }
            }
            group.cancelAll()
        }
        await leave()
    }

    private func redisResult(_ error: RedisError?) {
        let now = clock.monotonicNanoseconds / 1_000_000
        let wasUp = state.withLock { state -> Bool in
            defer {
                if error == nil, !state.redisUp, state.everConnected { state.recoveredAt = now }
                state.redisUp = error == nil
                if error == nil { state.everConnected = true }
                if let error { state.lastError = error.description }
            }
            return state.redisUp
        }
        if let error, wasUp {
            logger.warning("cluster: Redis unreachable", metadata: ["error": "\(error)"])
        } else if error == nil, !wasUp {
            logger.info("cluster: Redis reachable", metadata: ["redis": "\(commands.endpoint)"])
        }
    }

    func leaseTick() async {
        guard state.withLock({ $0.pluginsStarted }) else { return }
        let now = clock.monotonicNanoseconds / 1_000_000
        let waiting = state.withLock { state -> Bool in
            guard !state.holding, let recoveredAt = state.recoveredAt else { return false }
            return now - recoveredAt < configuration.leaseTTLMilliseconds
        }
        let outcome: RedisLease.Outcome
        do throws(RedisError) {
            if waiting {
                let holder = try await lease.holder()
                redisResult(nil)
                outcome = .heldBy(holder ?? "")
            } else {
                outcome = try await lease.acquireOrRenew()
            }
            redisResult(nil)
        } catch {
            redisResult(error)
            // The holder keeps streaming to its own clients; the others have lost the stream.
            if !state.withLock({ $0.holding }) { announceDegradedLocally("redis unreachable: \(error.message)") }
            return
        }
        switch outcome {
        case .held(let acquired):
            if acquired { await becomeHolder() }
            let recovered = state.withLock { state -> Bool in
                defer { state.degradedAnnounced = false }
                return state.degradedAnnounced && !acquired
            }
            if recovered { announce(StreamState(kind: .live, reason: "redis reachable again"), everywhere: false) }
        case .heldBy(let other):
            let (lost, previous, recovered) = state.withLock { state -> (Bool, String?, Bool) in
                let lost = state.holding
                let previous = state.holder
                state.holding = false
                state.holder = other.isEmpty ? nil : other
                let recovered = state.degradedAnnounced && !other.isEmpty && other == previous
                if recovered { state.degradedAnnounced = false }
                return (lost, previous, recovered)
            }
            if lost {
                logger.warning("cluster: lost the ingestion lease", metadata: ["holder": "\(other)"])
                try? syncUpstream()
                metrics.set("markethub_cluster_ingesting", to: 0, help: "1 while this host holds the ingestion lease")
            }
            if other.isEmpty || (previous != nil && previous != other) {
                announceDegradedLocally("the ingesting host changed")
            } else if recovered {
                announce(StreamState(kind: .live, reason: "redis reachable again"), everywhere: false)
            }
        }
    }

    func becomeHolder() async {
        let previous = state.withLock { state -> String? in
            defer {
                state.holding = true
                state.holder = instanceID
            }
            // Re-taking a lease this host held before (Redis restarted and lost it) is not a change of host.
            return state.holder == instanceID ? nil : state.holder
        }
        logger.notice(
            "cluster: this host now ingests the upstream stream",
            metadata: ["instance": "\(instanceID)", "previous": "\(previous ?? "none")"])
        metrics.set("markethub_cluster_ingesting", to: 1, help: "1 while this host holds the ingestion lease")
        metrics.increment("markethub_cluster_lease_acquired_total", help: "Times this host took the ingestion lease")
        if previous != nil {
            announce(
                StreamState(kind: .degraded, reason: "the ingesting host changed; resubscribing"), everywhere: true)
        }
        await readDemand()
        do throws(PluginError) {
            try syncUpstream()
        } catch {
            logger.warning("cluster: upstream refused part of the demand", metadata: ["error": "\(error)"])
        }
        if previous != nil {
            announce(StreamState(kind: .live, reason: "ingesting on \(instanceID)"), everywhere: true)
        }
        state.withLock { $0.degradedAnnounced = false }
    }

    /// Writes this host's demand with a fresh expiry and removes what it no longer wants. False on failure.
    func publishDemand() async -> Bool {
        let (members, removed) = state.withLock { state -> ([String], [String]) in
            state.demandDirty = false
            let members = state.local.map { "\(instanceID)|\($0.value.rawValue)|\($0.key)" }
            let removed = state.published.subtracting(members)
            return (members, Array(removed))
        }
        let expiry = clock.nowMilliseconds + configuration.demandTTLMilliseconds
        do throws(RedisError) {
            try await commands.sortedSetAdd(demandKey, members.map { (expiry, $0) })
            try await commands.sortedSetRemove(demandKey, removed)
            try await commands.sortedSetRemove(demandKey, scoreBelow: clock.nowMilliseconds)
            state.withLock { state in
                state.published.subtract(removed)
                state.published.formUnion(members)
            }
            redisResult(nil)
            return true
        } catch {
            state.withLock { $0.demandDirty = true }
            redisResult(error)
            return false
        }
    }

    /// Reads every other host's live demand (the holder's view of the union) and follows it upstream.
    func readDemand() async {
        let members: [String]
        do throws(RedisError) {
            members = try await commands.sortedSetMembers(demandKey, scoreAtLeast: clock.nowMilliseconds)
            redisResult(nil)
        } catch {
            // Keep the last known demand: clients elsewhere may still be served once Redis is back.
            redisResult(error)
            return
        }
        var remote: [String: Channels] = [:]
        for member in members {
            let parts = member.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] != instanceID, let raw = UInt32(parts[1]), !parts[2].isEmpty else {
                continue
            }
            remote[String(parts[2]), default: []].formUnion(Channels(rawValue: raw))
        }
        let now = clock.monotonicNanoseconds / 1_000_000
        state.withLock { state in
            // Redis comes back empty or behind (it keeps no data across a restart): the other hosts write their
            // demand again within a third of its lifetime. Until one lifetime has passed, what they wanted before
            // still counts, so the upstream does not drop symbols only to add them back a moment later.
            if let recovered = state.recoveredAt, now - recovered < configuration.demandTTLMilliseconds {
                for (symbol, channels) in state.remote { remote[symbol, default: []].formUnion(channels) }
            }
            state.remote = remote
        }
        do throws(PluginError) {
            try syncUpstream()
        } catch {
            logger.warning("cluster: upstream refused part of the demand", metadata: ["error": "\(error)"])
        }
    }

    /// Clean shutdown: give up the lease at once (another host takes it on its next tick) and withdraw this
    /// host's demand.
    func leave() async {
        let (holding, published) = state.withLock { state in
            defer {
                state.holding = false
                state.local = [:]
            }
            return (state.holding, Array(state.published))
        }
        if holding {
            let released = (try? await lease.release()) ?? false
            logger.notice("cluster: released the ingestion lease", metadata: ["released": "\(released)"])
        }
        _ = try? await commands.sortedSetRemove(demandKey, published)
        commands.close()
    }
}
