import NIOCore

/// A command and where its reply goes (nil: the reply is read and dropped, keeping replies in order).
struct RedisRequest: Sendable {
    var command: RedisCommand
    var reply: EventLoopPromise<RESPValue>?
}

/// Matches replies to commands in order (Redis answers a connection's commands in the order sent, so commands
/// pipeline freely). Error replies fail the command's promise; a closed connection fails every pending one.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = RedisCommand

    private var pending = CircularBuffer<EventLoopPromise<RESPValue>?>()

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        pending.append(request.reply)
        context.write(wrapOutboundOut(request.command), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        guard let promise = pending.popFirst() else {
            failAll(RedisError(.protocolViolation, "a reply arrived with no command waiting"))
            context.close(promise: nil)
            return
        }
        if case .error(let message) = value {
            promise?.fail(RedisError(.server, message))
        } else {
            promise?.succeed(value)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisError(.connection, "the connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(error as? RedisError ?? RedisError(.connection, "\(error)"))
        context.close(promise: nil)
    }

    private func failAll(_ error: RedisError) {
        while let promise = pending.popFirst() { promise?.fail(error) }
    }
}

/// Hands every value received on a pub/sub connection to a callback (subscription confirmations and messages
/// are pushed, not replies to a command).
final class RedisPushHandler: ChannelInboundHandler {
    typealias InboundIn = RESPValue

    let onValue: @Sendable (RESPValue) -> Void

    init(onValue: @escaping @Sendable (RESPValue) -> Void) {
        self.onValue = onValue
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        onValue(unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
