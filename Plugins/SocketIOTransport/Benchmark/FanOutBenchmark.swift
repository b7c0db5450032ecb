import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOPosix
import NIOWebSocket
import ServiceLifecycle
import SocketIOProtocol
import SocketIOServer
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Wall-clock nanoseconds (CLOCK_REALTIME), comparable across processes on this machine.
func wallNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// Pulls `"t":<digits>` out of a quote frame.
func timestamp(in text: Substring.UTF8View) -> Int64? { number(after: "\"t\":", in: text) }

/// The non-negative integer right after `key` in `text`.
func number(after key: String, in text: Substring.UTF8View) -> Int64? {
    let marker = Array(key.utf8)
    guard let start = text.firstRange(of: marker)?.upperBound else { return nil }
    var value: Int64 = 0
    var index = start
    while index < text.endIndex, text[index] == UInt8(ascii: " ") { index = text.index(after: index) }
    while index < text.endIndex, let digit = text[index].wholeNumberValue {
        value = value * 10 + Int64(digit)
        index = text.index(after: index)
    }
    return value
}

extension UInt8 {
    var wholeNumberValue: Int? { self >= 0x30 && self <= 0x39 ? Int(self - 0x30) : nil }
}

/// What one benchmark client saw.
struct ClientResult: Sendable {
    var received = 0
    var latencies: [Int64] = []
    var lastReceive: Int64 = 0
    /// From an external server's stop event: how many quotes it published, and when it started.
    var published: Int?
    var firstPublish: Int64?
}

/// The benchmark's parameters.
struct Parameters: Sendable {
    var clients = 500
    var symbols = 50
    /// Quotes per second per symbol.
    var rate = 10
    var seconds = 5
    var mode = "socketio"
    var port = 0
    var clientThreads = 1
}

/// Runs `clients` WebSocket clients against `path` on 127.0.0.1:`port` until each sees the stop marker; returns
/// their results.
func runClients(
    port: Int, path: String, parameters: Parameters, socketIO: Bool, group: any EventLoopGroup, connected: Counter
) async throws -> [ClientResult] {
    var results: [ClientResult] = []
    var futures: [EventLoopFuture<ClientResult>] = []
    for _ in 0..<parameters.clients {
        futures.append(
            RawWebSocketClient.run(
                host: "127.0.0.1", port: port, path: path, socketIO: socketIO, group: group, connected: connected
            )
        )
    }
    for future in futures { results.append(try await future.get()) }
    return results
}

/// A thread-safe counter.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func increment() { count.add(1, ordering: .relaxed) }
}

/// Publishes the quote stream through `emit` (one call per quote) at the configured rate; returns
/// (first publish time, quotes published).
func publishStream(_ parameters: Parameters, emit: (Int, [UInt8]) -> Void) async throws -> (Int64, Int) {
    let symbols = (0..<parameters.symbols).map { "SYM\($0)" }
    let ticks = parameters.rate * parameters.seconds
    let tick = Duration.nanoseconds(1_000_000_000 / parameters.rate)
    let clock = ContinuousClock()
    var deadline = clock.now
    let first = wallNanoseconds()
    var published = 0
    for sequence in 0..<ticks {
        for (index, symbol) in symbols.enumerated() {
            let quote =
                "{\"s\":\"\(symbol)\",\"b\":\(100 + sequence % 7).25,\"a\":\(100 + sequence % 7).5,\"t\":\(wallNanoseconds())}"
            emit(index, Array(quote.utf8))
            published += 1
        }
        deadline += tick
        try await Task.sleep(until: deadline, clock: clock)
    }
    return (first, published)
}

/// Prints deliveries/s and latency percentiles.
func report(_ name: String, _ parameters: Parameters, published: Int, first: Int64, results: [ClientResult]) {
    let delivered = results.reduce(0) { $0 + $1.received }
    let last = results.map(\.lastReceive).max() ?? first
    let seconds = Double(max(1, last - first)) / 1e9
    var latencies = results.flatMap(\.latencies)
    latencies.sort()
    func percentile(_ p: Double) -> Double {
        guard !latencies.isEmpty else { return .nan }
        return Double(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]) / 1e6
    }
    let expected = published * parameters.clients
    print(
        "\(name): clients=\(parameters.clients) symbols=\(parameters.symbols) rate=\(parameters.rate)/s/symbol "
            + "published=\(published) delivered=\(delivered)/\(expected) "
            + "deliveries/s=\(Int(Double(delivered) / seconds)) "
            + "p50=\(formatted(percentile(0.5)))ms p99=\(formatted(percentile(0.99)))ms "
            + "max=\(formatted(percentile(1.0)))ms"
    )
}

func formatted(_ value: Double) -> String {
    guard value.isFinite else { return "n/a" }
    return String(Double(Int(value * 100)) / 100)
}
