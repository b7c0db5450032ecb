import NIOCore
import NIOPosix

/// One connection to Redis for commands. Commands may be sent from any thread and pipeline in order.
///
/// ### Threading
/// The channel's handlers run on its event loop; `send` only writes to the channel and awaits a promise, so
/// nothing here blocks a thread.
public final class RedisConnection: Sendable {
    let channel: any Channel
    /// How long a reply may take before the connection is closed (its replies could no longer be matched).
    let commandTimeout: TimeAmount

    init(channel: any Channel, commandTimeout: TimeAmount) {
        self.channel = channel
        self.commandTimeout = commandTimeout
    }

    /// Connects, then selects the endpoint's database.
    public static func connect(
        to endpoint: RedisEndpoint, group: any EventLoopGroup, connectTimeout: TimeAmount = .seconds(2),
        commandTimeout: TimeAmount = .seconds(2)
    ) async throws(RedisError) -> RedisConnection {
        let channel: any Channel
        do {
            channel = try await makeBootstrap(group: group, connectTimeout: connectTimeout) { channel in
                try channel.pipeline.syncOperations.addHandlers([
                    ByteToMessageHandler(RESPDecoder()), MessageToByteHandler(RESPEncoder()), RedisCommandHandler(),
                ])
            }.connect(host: endpoint.host, port: endpoint.port).get()
        } catch {
            throw RedisError(.connection, "cannot connect to \(endpoint): \(error)")
        }
        let connection = RedisConnection(channel: channel, commandTimeout: commandTimeout)
        if endpoint.database != 0 {
            do throws(RedisError) {
                _ = try await connection.send(RedisCommand("SELECT", [String(endpoint.database)]))
            } catch {
                connection.close()
                throw error
            }
        }
        return connection
    }

    static func makeBootstrap(
        group: any EventLoopGroup, connectTimeout: TimeAmount,
        handlers: @escaping @Sendable (any Channel) throws -> Void
    ) -> ClientBootstrap {
        ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try handlers(channel) }
            }
    }

    /// True until the connection closes.
    public var isActive: Bool { channel.isActive }

    /// Completes when the connection has closed.
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Sends one command and returns its reply; an error reply throws `.server`.
    public func send(_ command: RedisCommand) async throws(RedisError) -> RESPValue {
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        let channel = self.channel
        let timeout = channel.eventLoop.scheduleTask(in: commandTimeout) {
            promise.fail(RedisError(.timeout, "no reply to \(command.name) within \(self.commandTimeout)"))
            channel.close(promise: nil)
        }
        promise.futureResult.whenComplete { _ in timeout.cancel() }
        channel.writeAndFlush(RedisRequest(command: command, reply: promise), promise: nil)
        do {
            return try await promise.futureResult.get()
        } catch let error as RedisError {
            throw error
        } catch {
            throw RedisError(.connection, "\(error)")
        }
    }

    /// Writes commands without waiting for their replies (they are read and dropped in order). For hot paths
    /// such as PUBLISH from synchronous code; returns false when the connection is closed.
    @discardableResult
    public func sendWithoutReply(_ commands: [RedisCommand]) -> Bool {
        if commands.count == 1 {
            // One hop to the event loop instead of two (write, then flush).
            guard channel.isActive else { return false }
            channel.writeAndFlush(RedisRequest(command: commands[0], reply: nil), promise: nil)
            return true
        }
        guard channel.isActive, !commands.isEmpty else { return false }
        for command in commands { channel.write(RedisRequest(command: command, reply: nil), promise: nil) }
        channel.flush()
        return true
    }

    /// Closes the connection; pending commands fail with `.connection`.
    public func close() {
        channel.close(promise: nil)
    }
}
