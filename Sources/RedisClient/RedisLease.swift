/// A lease in Redis: one owner at a time holds `key` for `ttlMilliseconds`, renewing it before it expires.
///
/// Acquire is `SET key owner NX PX ttl`. Renew and release compare the owner first (a Lua script, atomic in
/// Redis), so a holder that paused past its expiry cannot renew or delete a lease another owner took since.
public struct RedisLease: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// This owner holds the lease (newly acquired or renewed).
        case held(acquired: Bool)
        /// Another owner holds it.
        case heldBy(String)
    }

    public let client: RedisClient
    public let key: String
    public let owner: String
    public let ttlMilliseconds: Int64

    static let renewScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return 0
        """
    static let releaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """

    public init(client: RedisClient, key: String, owner: String, ttlMilliseconds: Int64) {
        self.client = client
        self.key = key
        self.owner = owner
        self.ttlMilliseconds = max(1, ttlMilliseconds)
    }

    /// Renews the lease if this owner holds it, otherwise takes it if nobody does.
    public func acquireOrRenew() async throws(RedisError) -> Outcome {
        let renewed = try await client.eval(Self.renewScript, keys: [key], arguments: [owner, String(ttlMilliseconds)])
        if renewed.integer == 1 { return .held(acquired: false) }
        if try await client.set(key, Array(owner.utf8), onlyIfAbsent: true, expireMilliseconds: ttlMilliseconds) {
            return .held(acquired: true)
        }
        let holder = try await client.get(key).map { String(decoding: $0, as: UTF8.self) }
        // The holder's lease may have expired between SET and GET: report nobody as "" (try again next tick).
        return .heldBy(holder ?? "")
    }

    /// Deletes the lease if this owner holds it; true when it did.
    @discardableResult
    public func release() async throws(RedisError) -> Bool {
        try await client.eval(Self.releaseScript, keys: [key], arguments: [owner]).integer == 1
    }

    /// The current holder, or nil.
    public func holder() async throws(RedisError) -> String? {
        try await client.get(key).map { String(decoding: $0, as: UTF8.self) }
    }
}
