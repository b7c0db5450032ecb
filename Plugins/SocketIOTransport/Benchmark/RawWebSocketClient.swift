import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization

/// A minimal WebSocket client made of NIO channel handlers, so that measuring hundreds of connections costs
/// as little CPU as possible: frames are inspected as bytes on the event loop, with no per-message task hop.
enum RawWebSocketClient {
    /// Connects, upgrades and runs the benchmark handler; the future completes when the stop marker arrived.
    static func run(
        host: String, port: Int, path: String, socketIO: Bool, group: any EventLoopGroup, connected: Counter,
        emits: [String] = [], channels: ChannelRegistry? = nil
    ) -> EventLoopFuture<ClientResult> {
        let eventLoop = group.next()
        let done = eventLoop.makePromise(of: ClientResult.self)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .channelOption(ChannelOptions.socket(SocketOptionLevel(IPPROTO_TCP), TCP_NODELAY), value: 1)
            .channelInitializer { channel in
                var key = [UInt8]()
                var generator = SystemRandomNumberGenerator()
                for _ in 0..<16 { key.append(UInt8.random(in: 0...255, using: &generator)) }
                let upgrader = NIOWebSocketClientUpgrader(
                    requestKey: base64(key), maxFrameSize: 1 << 20,
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(
                                BenchmarkFrameHandler(
                                    socketIO: socketIO, done: done, connected: connected, emits: emits)
                            )
                        }
                    }
                )
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(
                        withClientUpgrade: (upgraders: [upgrader], completionHandler: { _ in })
                    )
                    try channel.pipeline.syncOperations.addHandler(
                        UpgradeRequestHandler(host: host, port: port, path: path))
                }
            }
        let connection = bootstrap.connect(host: host, port: port)
        connection.whenFailure { done.fail($0) }
        if let channels { connection.whenSuccess { channels.add($0) } }
        return done.futureResult
    }

    static func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var out = ""
        var index = 0
        while index + 3 <= bytes.count {
            let value = Int(bytes[index]) << 16 | Int(bytes[index + 1]) << 8 | Int(bytes[index + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[(value >> shift) & 63]) }
            index += 3
        }
        if bytes.count - index == 1 {
            let value = Int(bytes[index]) << 16
            out.append(alphabet[(value >> 18) & 63])
            out.append(alphabet[(value >> 12) & 63])
            out += "=="
        }
        return out
    }
}

/// Sends the HTTP upgrade request once the connection is up.
private final class UpgradeRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let host: String
    let port: Int
    let path: String

    init(host: String, port: Int, path: String) {
        self.host = host
        self.port = port
        self.path = path
    }

    func channelActive(context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "Content-Length", value: "0")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }
}

/// Counts quote frames, records their latency, answers Engine.IO pings and joins the default namespace.
private final class BenchmarkFrameHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let socketIO: Bool
    let done: EventLoopPromise<ClientResult>
    let connected: Counter
    /// Socket.IO text packets sent once the namespace is joined (e.g. `42["live:subscribe",{"symbol":"SPY"}]`).
    let emits: [String]
    var result = ClientResult()
    var joined = false

    init(socketIO: Bool, done: EventLoopPromise<ClientResult>, connected: Counter, emits: [String]) {
        self.socketIO = socketIO
        self.done = done
        self.connected = connected
        self.emits = emits
        if !socketIO {
            joined = true
            connected.increment()
        }
    }

    func send(_ text: String, context: ChannelHandlerContext) {
        let frame = WebSocketFrame(
            fin: true, opcode: .text, maskKey: .random(), data: context.channel.allocator.buffer(string: text)
        )
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Join the default namespace at once: the server may already have sent its open packet together with
        // the upgrade response, and CONNECT is valid any time after the upgrade.
        if socketIO { send("40", context: context) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard frame.opcode == .text else {
            if frame.opcode == .connectionClose { context.close(promise: nil) }
            return
        }
        let bytes = frame.unmaskedData.readableBytesView
        if socketIO {
            if bytes.count == 1, bytes.first == UInt8(ascii: "2") {
                send("3", context: context)
                return
            }
            if bytes.starts(with: "0{".utf8) { return }
            if !joined, bytes.starts(with: "40".utf8) {
                joined = true
                connected.increment()
                for emit in emits { send(emit, context: context) }
                return
            }
        }
        if bytes.starts(with: "42[\"stop\"".utf8) || bytes.starts(with: "{\"stop\"".utf8) {
            let text = Substring(decoding: bytes, as: UTF8.self).utf8
            result.published = number(after: "\"published\":", in: text).map(Int.init)
            result.firstPublish = number(after: "\"first\":", in: text)
            done.succeed(result)
            context.close(promise: nil)
            return
        }
        result.frames += 1
        let now = wallNanoseconds()
        if let sent = frame.unmaskedData.withUnsafeReadableBytes(Self.timestamp) {
            result.received += 1
            result.latencies.append(now - sent)
            result.lastReceive = now
        }
    }

    /// The digits after the last `"t":` in a quote frame, scanned without allocating.
    static func timestamp(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        let quote = UInt8(ascii: "\"")
        let t = UInt8(ascii: "t")
        let colon = UInt8(ascii: ":")
        let space = UInt8(ascii: " ")
        var index = bytes.count - 4
        while index >= 0 {
            if bytes[index] == quote, bytes[index + 1] == t, bytes[index + 2] == quote, bytes[index + 3] == colon {
                var position = index + 4
                while position < bytes.count, bytes[position] == space { position += 1 }
                var value: Int64 = 0
                var digits = 0
                while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 {
                    value = value * 10 + Int64(bytes[position] - 0x30)
                    position += 1
                    digits += 1
                }
                return digits > 0 ? value : nil
            }
            index -= 1
        }
        return nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.succeed(result)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.close(promise: nil)
    }
}

/// The benchmark's client channels, so a timed run can close them all.
final class ChannelRegistry: Sendable {
    private let channels = Mutex<[any Channel]>([])

    func add(_ channel: any Channel) { channels.withLock { $0.append(channel) } }

    func closeAll() {
        for channel in channels.withLock({ $0 }) { channel.close(promise: nil) }
    }
}
