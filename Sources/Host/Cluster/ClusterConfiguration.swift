import Foundation

/// The `cluster:` section: several hosts share live fan-out, upstream ingestion and demand through Redis.
/// Absent, the host runs alone and needs no Redis.
///
/// ## Configuration keys
/// - `redisUrl` (string, required): `redis://host[:port][/db]`.
/// - `instanceId` (string, optional, default `<hostname>-<pid>`): this host's name in the lease and demand;
///   unique per running host; letters, digits and `.-_:` only.
/// - `keyPrefix` (string, optional, default `markethub`): prefix of every Redis key and channel (several
///   clusters can share one Redis).
/// - `leaseTtlMs` (int, optional, default 3000): how long the ingestion lease lasts without renewal: a dead
///   ingesting host is replaced after at most this long plus one renewal interval.
/// - `leaseRenewMs` (int, optional, default 1000, below `leaseTtlMs`): how often the lease is renewed or tried.
/// - `demandTtlMs` (int, optional, default 15000): how long a host's demand entries live in Redis without
///   refresh (each host refreshes its own every third of this).
public struct ClusterConfiguration: Sendable, Equatable {
    public var redisURL: String
    public var instanceID: String
    public var keyPrefix = "markethub"
    public var leaseTTLMilliseconds: Int64 = 3_000
    public var leaseRenewMilliseconds: Int64 = 1_000
    public var demandTTLMilliseconds: Int64 = 15_000

    public init(redisURL: String, instanceID: String = ClusterConfiguration.defaultInstanceID) {
        self.redisURL = redisURL
        self.instanceID = instanceID
    }

    /// `<hostname>-<pid>`, with characters outside `[A-Za-z0-9.-_:]` replaced by `_`.
    public static var defaultInstanceID: String {
        let raw = ProcessInfo.processInfo.hostName + "-" + String(ProcessInfo.processInfo.processIdentifier)
        return String(raw.map { isAllowed($0) ? $0 : "_" })
    }

    static func isAllowed(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || ".-_:".contains(character))
    }

    /// Why `value` cannot be an instance id or key prefix, or nil when it can.
    static func problem(identifier value: String) -> String? {
        if value.isEmpty { return "must not be empty" }
        if value.count > 128 { return "must be at most 128 characters" }
        if !value.allSatisfy(isAllowed) { return "may only contain letters, digits and . - _ :" }
        return nil
    }
}
