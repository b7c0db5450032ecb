import PluginKit

/// Where the live services deliver room events, and whether another host wants a symbol: the seam between
/// one host and a cluster. `LocalFanOut` is the single-host behaviour; `ClusterNode` also carries events to
/// the other hosts through Redis.
public protocol FanOutBus: AnyObject, Sendable {
    /// Publishes one encoded event to `room` on this host's `outputs` and, clustered, on every other host (the
    /// same bytes: receivers publish them to their own transports without decoding).
    func publish(room: String, event: String, payload: [UInt8], conflationKey: String, outputs: [any LiveOutput])

    /// True when a host other than this one wants `channels` of `symbol` from the stream this host ingests (so
    /// the router routes it even with no local subscriber).
    func wantedElsewhere(_ symbol: String, channels: Channels) -> Bool
}

/// Today's single-host delivery: publish to each local output; nobody else exists.
public final class LocalFanOut: FanOutBus {
    public init() {}

    public func publish(
        room: String, event: String, payload: [UInt8], conflationKey: String, outputs: [any LiveOutput]
    ) {
        for output in outputs {
            output.publish(room: room, event: event, payload: payload, conflationKey: conflationKey)
        }
    }

    public func wantedElsewhere(_ symbol: String, channels: Channels) -> Bool { false }
}
