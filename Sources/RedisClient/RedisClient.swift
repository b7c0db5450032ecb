import NIOCore
import NIOPosix
import Synchronization

/// A command client that connects on first use and reconnects on the next command after the connection
/// drops: a command sent while Redis is unreachable fails at once with `.connection`, and the caller decides
/// when to try again (the host's cluster service ticks on its own schedule).
///
/// ### Threading
/// State is behind a `Mutex` that is never held across an `await` or while calling out.
public final class RedisClient: Sendable {
    public let endpoint: RedisEndpoint
    let group: any EventLoopGroup
    let connectTimeout: TimeAmount
    let commandTimeout: TimeAmount

    private struct State {
        var connecting: Task<RedisConnection, any Error>?
        var ready: RedisConnection?
        var closed = false
    }

    private let state = Mutex(State())

    public init(
        endpoint: RedisEndpoint, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        connectTimeout: TimeAmount = .seconds(2), commandTimeout: TimeAmount = .seconds(2)
    ) {
        self.endpoint = endpoint
        self.group = group
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
    }

    /// The connection if one is open now (for synchronous fire-and-forget writes); nil otherwise.
    public var currentConnection: RedisConnection? {
        state.withLock { state in
            guard let ready = state.ready, ready.isActive else { return nil }
            return ready
        }
    }

    /// The open connection, connecting first if needed (concurrent callers share one attempt).
    public func connection() async throws(RedisError) -> RedisConnection {
        enum Next {
            case closed
            case ready(RedisConnection)
            case wait(Task<RedisConnection, any Error>)
        }
        let next: Next = state.withLock { state in
            if state.closed { return .closed }
            if let ready = state.ready, ready.isActive { return .ready(ready) }
            state.ready = nil
            if let connecting = state.connecting { return .wait(connecting) }
            let endpoint = endpoint
            let group = group
            let connectTimeout = connectTimeout
            let commandTimeout = commandTimeout
            let connecting = Task<RedisConnection, any Error> {
                try await RedisConnection.connect(
                    to: endpoint, group: group, connectTimeout: connectTimeout, commandTimeout: commandTimeout)
            }
            state.connecting = connecting
            return .wait(connecting)
        }
        let task: Task<RedisConnection, any Error>
        switch next {
        case .closed: throw RedisError(.connection, "the client is closed")
        case .ready(let connection): return connection
        case .wait(let connecting): task = connecting
        }
        let result = await task.result
        return try state.withLock { state throws(RedisError) -> RedisConnection in
            if state.connecting == task { state.connecting = nil }
            switch result {
            case .success(let connection):
                if state.closed {
                    connection.close()
                    throw RedisError(.connection, "the client is closed")
                }
                if state.ready == nil || state.ready?.isActive == false { state.ready = connection }
                return connection
            case .failure(let error):
                throw error as? RedisError ?? RedisError(.connection, "\(error)")
            }
        }
    }

    /// Sends one command (connecting if needed) and returns the reply.
    public func send(_ command: RedisCommand) async throws(RedisError) -> RESPValue {
        try await connection().send(command)
    }

    /// Closes the connection; later commands fail.
    public func close() {
        let (connection, connecting) = state.withLock { state in
            state.closed = true
            defer {
                state.ready = nil
                state.connecting = nil
            }
            return (state.ready, state.connecting)
        }
        connection?.close()
        connecting?.cancel()
    }
}

extension RedisClient {
    /// PING; true on PONG.
    public func ping() async throws(RedisError) -> Bool {
        try await send(RedisCommand("PING")).string == "PONG"
    }

    /// SET with optional NX (only if absent) and PX (expiry); true when the value was set.
    public func set(
        _ key: String, _ value: [UInt8], onlyIfAbsent: Bool = false, expireMilliseconds: Int64? = nil
    ) async throws(RedisError) -> Bool {
        var arguments: [[UInt8]] = [Array("SET".utf8), Array(key.utf8), value]
        if onlyIfAbsent { arguments.append(Array("NX".utf8)) }
        if let expireMilliseconds { arguments += [Array("PX".utf8), Array(String(expireMilliseconds).utf8)] }
        return try await send(RedisCommand(arguments)).isNull == false
    }

    /// GET; nil when the key is missing.
    public func get(_ key: String) async throws(RedisError) -> [UInt8]? {
        try await send(RedisCommand("GET", [key])).bytes
    }

    /// DEL; the number of keys removed.
    @discardableResult
    public func delete(_ keys: [String]) async throws(RedisError) -> Int64 {
        try await send(RedisCommand("DEL", keys)).integer ?? 0
    }

    /// PEXPIRE; true when the key exists.
    @discardableResult
    public func expire(_ key: String, milliseconds: Int64) async throws(RedisError) -> Bool {
        try await send(RedisCommand("PEXPIRE", [key, String(milliseconds)])).integer == 1
    }

    /// PUBLISH; the number of subscribers (on this Redis) that received it.
    @discardableResult
    public func publish(_ channel: String, _ payload: [UInt8]) async throws(RedisError) -> Int64 {
        try await send(RedisCommand("PUBLISH", [channel], bytes: payload)).integer ?? 0
    }

    /// EVAL of a Lua script with keys and arguments.
    public func eval(_ script: String, keys: [String], arguments: [String]) async throws(RedisError) -> RESPValue {
        try await send(RedisCommand("EVAL", [script, String(keys.count)] + keys + arguments))
    }

    /// ZADD of members with their scores; the number of new members.
    @discardableResult
    public func sortedSetAdd(
        _ key: String, _ members: [(score: Int64, member: String)]
    ) async throws(RedisError)
        -> Int64
    {
        guard !members.isEmpty else { return 0 }
        return try await send(RedisCommand("ZADD", [key] + members.flatMap { [String($0.score), $0.member] }))
            .integer ?? 0
    }

    /// ZREM; the number of members removed.
    @discardableResult
    public func sortedSetRemove(_ key: String, _ members: [String]) async throws(RedisError) -> Int64 {
        guard !members.isEmpty else { return 0 }
        return try await send(RedisCommand("ZREM", [key] + members)).integer ?? 0
    }

    /// ZRANGEBYSCORE key minimum +inf: the members scored at least `minimum`.
    public func sortedSetMembers(_ key: String, scoreAtLeast minimum: Int64) async throws(RedisError) -> [String] {
        let reply = try await send(RedisCommand("ZRANGEBYSCORE", [key, String(minimum), "+inf"]))
        guard let values = reply.array else {
            throw RedisError(.protocolViolation, "ZRANGEBYSCORE did not answer an array")
        }
        return values.compactMap(\.string)
    }

    /// ZREMRANGEBYSCORE key -inf (below): removes members scored below `below`; the number removed.
    @discardableResult
    public func sortedSetRemove(_ key: String, scoreBelow below: Int64) async throws(RedisError) -> Int64 {
        try await send(RedisCommand("ZREMRANGEBYSCORE", [key, "-inf", "(" + String(below)])).integer ?? 0
    }
}
