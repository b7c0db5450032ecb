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
// In whole-module (release) builds `timespec` resolves to NIO's C shim module's copy of the libc header.
#if canImport(CNIOLinux)
    import CNIOLinux
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
    /// Text frames other than protocol packets.
    var frames = 0
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
    /// An external server's process id, to report its CPU use.
    var serverPID: Int?
    /// `clients` mode: packets each client sends once connected.
    var emits: [String] = []
    /// `http-bare` mode: the file whose bytes `GET /bare` answers.
    var file = ""
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
func report(
    _ name: String, _ parameters: Parameters, published: Int, first: Int64, results: [ClientResult], cpu: String
) {
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
            + "max=\(formatted(percentile(1.0)))ms " + cpu
    )
}

func formatted(_ value: Double) -> String {
    guard value.isFinite else { return "n/a" }
    return String(Double(Int(value * 100)) / 100)
}

/// CPU time per thread of this process, from `/proc/self/task/<tid>/stat` (user + system, in clock ticks), so
/// the report can show that the load generator is not the bottleneck.
enum ThreadCPU {
    /// The kernel thread ids of a group's event loops.
    static func threadIDs(of group: MultiThreadedEventLoopGroup) async throws -> Set<Int> {
        var ids: Set<Int> = []
        for loop in group.makeIterator() {
            let id = try await loop.submit { () -> Int in
                Int(fields(of: readText("/proc/thread-self/stat")).first ?? "") ?? -1
            }.get()
            ids.insert(id)
        }
        return ids
    }

    /// Ticks used so far by every thread of this process.
    static func ticks() -> [Int: Int] {
        var result: [Int: Int] = [:]
        guard let directory = opendir("/proc/self/task") else { return result }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let tid = Int(name) else { continue }
            let values = fields(of: readText("/proc/self/task/\(tid)/stat"))
            // After the command name: state is field 3; utime and stime are fields 14 and 15.
            guard values.count > 14, let user = Int(values[13]), let system = Int(values[14]) else { continue }
            result[tid] = user + system
        }
        return result
    }

    /// Per-second CPU use (1.0 = one core) of `threads` and of the rest, between two `ticks()` snapshots.
    static func usage(
        from start: [Int: Int], to end: [Int: Int], threads: Set<Int>, seconds: Double
    ) -> (threads: Double, rest: Double) {
        let hertz = Double(sysconf(Int32(_SC_CLK_TCK)))
        var inside = 0
        var outside = 0
        for (tid, value) in end {
            let used = value - (start[tid] ?? 0)
            if threads.contains(tid) { inside += used } else { outside += used }
        }
        return (Double(inside) / hertz / seconds, Double(outside) / hertz / seconds)
    }

    /// The stat line's fields with the parenthesised command name kept as one field.
    static func fields(of stat: String) -> [String] {
        guard let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else {
            return stat.split(separator: " ").map(String.init)
        }
        let head = stat[..<open].split(separator: " ").map(String.init)
        let tail = stat[stat.index(after: close)...].split(separator: " ").map(String.init)
        return head + [String(stat[open...close])] + tail
    }

    static func readText(_ path: String) -> String {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return "" }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: 1_024)
        let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        return String(decoding: bytes.prefix(max(0, count)), as: UTF8.self)
    }
}

/// CPU use over a measurement: the clients' event-loop threads, everything else in this process (server
/// threads and the publisher), and an external server process when given. 1.00 = one core busy.
struct CPUMeter {
    let clientThreads: Set<Int>
    let serverPID: Int?
    let startTicks: [Int: Int]
    let startServerTicks: Int
    let started = ContinuousClock.now

    init(clients: MultiThreadedEventLoopGroup, serverPID: Int?) async throws {
        clientThreads = try await ThreadCPU.threadIDs(of: clients)
        self.serverPID = serverPID
        startServerTicks = serverPID.map(Self.processTicks) ?? 0
        startTicks = ThreadCPU.ticks()
    }

    static func processTicks(_ pid: Int) -> Int {
        let values = ThreadCPU.fields(of: ThreadCPU.readText("/proc/\(pid)/stat"))
        guard values.count > 14, let user = Int(values[13]), let system = Int(values[14]) else { return 0 }
        return user + system
    }

    func read() -> String {
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let (clients, rest) = ThreadCPU.usage(
            from: startTicks, to: ThreadCPU.ticks(), threads: clientThreads, seconds: seconds)
        var text = "cpu(cores): clients=\(formatted(clients)) server+publisher=\(formatted(rest))"
        if let serverPID {
            let hertz = Double(sysconf(Int32(_SC_CLK_TCK)))
            let used = Double(Self.processTicks(serverPID) - startServerTicks) / hertz / seconds
            text = "cpu(cores): clients=\(formatted(clients)) external-server=\(formatted(used))"
        }
        return text
    }
}
