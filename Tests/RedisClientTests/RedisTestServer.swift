import Foundation
import Glibc
import NIOPosix
import RedisClient
import Synchronization

/// A real `redis-server` on a free loopback port, with persistence off, for one test. It can be stopped and
/// started again on the same port (to test reconnects). A missing redis-server fails the test with the command
/// that installs it.
final class RedisTestServer: Sendable {
    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    let port: Int
    private let executable: String
    private let process = Mutex<Process?>(nil)

    var endpoint: RedisEndpoint { RedisEndpoint(host: "127.0.0.1", port: port) }

    static func locate() throws -> String {
        let configured = ProcessInfo.processInfo.environment["MARKETHUB_REDIS_SERVER"] ?? ""
        let candidates =
            (configured.isEmpty ? [] : [configured]) + ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw Unavailable(
                description: """
                    redis-server is not installed: run scripts/install-deps.sh (Debian package redis-server) or set \
                    MARKETHUB_REDIS_SERVER to its path
                    """)
        }
        return found
    }

    private init(executable: String, port: Int) {
        self.executable = executable
        self.port = port
    }

    static func start() async throws -> RedisTestServer {
        let server = RedisTestServer(executable: try locate(), port: try freePort())
        try await server.startProcess()
        return server
    }

    /// Starts redis-server and waits until it answers PING.
    func startProcess() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--loglevel", "warning",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process.withLock { $0 = process }
        // Generous: the whole suite runs in parallel on small CI machines, and this only bounds the wait.
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let connection = try? await RedisConnection.connect(
                to: endpoint, group: MultiThreadedEventLoopGroup.singleton)
            {
                let pong = try? await connection.send(RedisCommand("PING"))
                connection.close()
                if pong?.string == "PONG" { return }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        stop()
        throw Unavailable(description: "redis-server did not answer PING on port \(port) within 30 s")
    }

    /// Kills the server (SIGKILL: connections drop at once, as when a machine dies).
    func stop() {
        guard
            let process = self.process.withLock({ state -> Process? in
                defer { state = nil }
                return state
            })
        else {
            return
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}

/// A port nothing listens on now (bound to port 0 and released).
func freePort() throws -> Int {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else { throw RedisTestServer.Unavailable(description: "socket() failed") }
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(socket, pointer, length) == 0 && getsockname(socket, pointer, &length) == 0
        }
    }
    guard bound else { throw RedisTestServer.Unavailable(description: "could not find a free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Polls `condition` every 20 ms until it holds or `seconds` pass.
func eventually(within seconds: Double = 15, _ condition: @Sendable () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1_000))
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}
