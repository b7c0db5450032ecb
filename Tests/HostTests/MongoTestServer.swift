import Foundation
import Glibc
import Synchronization

/// A MongoDB wire-protocol server for the MongoCache tests.
///
/// By default an nx-27017 server (PyPI) is started on a free loopback port from the virtual environment that
/// `scripts/setup-test-peers.sh` creates; `MARKETHUB_NX27017` names that environment (default
/// `.venv-test-peers` in the package). A missing environment fails the test with the command that fixes it.
/// When the operator sets `MONGODB_URI`, tests that do not need to stop the server run against that server
/// instead, each in a database of its own that is dropped afterwards.
final class MongoTestServer: Sendable {
    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    /// The server's URI before its database path, its options, and the database this test owns.
    let prefix: String
    let options: String
    let database: String
    let isExternal: Bool
    private let launch: Launch?
    private let process = Mutex<Process?>(nil)

    private struct Launch: Sendable {
        var executable: String
        var port: Int
        var directory: String
        var storage: String
    }

    /// The URI the cache is configured with.
    var uri: String { prefix + "/" + database + options }

    /// The URI without a database (for pymongo).
    var baseURI: String { prefix + "/" + options }

    /// The virtual environment holding nx-27017 and pymongo.
    static var environment: String {
        let configured = ProcessInfo.processInfo.environment["MARKETHUB_NX27017"] ?? ""
        return configured.isEmpty ? TestSupport.packageRoot + "/.venv-test-peers" : configured
    }

    static func requireEnvironment() throws -> String {
        let environment = Self.environment
        guard FileManager.default.isExecutableFile(atPath: environment + "/bin/nx-27017") else {
            throw Unavailable(
                description: """
                    nx-27017 is not installed at \(environment)/bin/nx-27017: run scripts/setup-test-peers.sh \
                    (scripts/test.sh does) or set MARKETHUB_NX27017 to a virtual environment that has nx-27017 and pymongo
                    """)
        }
        return environment
    }

    private init(uri: String, database: String, isExternal: Bool, launch: Launch?) {
        (prefix, options) = Self.split(uri)
        self.database = database
        self.isExternal = isExternal
        self.launch = launch
    }

    /// Starts a server for one test. `stoppable` servers are always a local nx-27017 (the test stops and
    /// restarts it); they keep their data in a file so a restart keeps it.
    static func start(stoppable: Bool = false) async throws -> MongoTestServer {
        let database = "markethub_test_" + UUID().uuidString.prefix(8).lowercased()
        if !stoppable, let external = ProcessInfo.processInfo.environment["MONGODB_URI"], !external.isEmpty {
            return MongoTestServer(uri: external, database: database, isExternal: true, launch: nil)
        }
        let environment = try requireEnvironment()
        let directory = try TestSupport.makeDirectory()
        let port = try freePort()
        let launch = Launch(
            executable: environment + "/bin/nx-27017", port: port, directory: directory,
            storage: stoppable ? directory + "/nx.db" : "memory")
        let server = MongoTestServer(
            uri: "mongodb://127.0.0.1:\(port)", database: database, isExternal: false, launch: launch)
        try await server.startProcess()
        return server
    }

    /// Runs `body` with a fresh server and always stops it (or drops the test's database on the operator's).
    static func with<T>(stoppable: Bool = false, _ body: (MongoTestServer) async throws -> T) async throws -> T {
        let server = try await start(stoppable: stoppable)
        do {
            let result = try await body(server)
            await server.close()
            return result
        } catch {
            await server.close()
            throw error
        }
    }

    /// Launches nx-27017 and waits until it accepts connections.
    func startProcess() async throws {
        guard let launch else { throw Unavailable(description: "the operator's server cannot be started") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: launch.executable)
        process.arguments = [
            "--host", "127.0.0.1", "--port", String(launch.port), "--db", launch.storage,
            "--log-file", launch.directory + "/nx.log", "--pid-file", launch.directory + "/nx.pid",
        ]
        let output = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = output
        process.standardError = output
        try process.run()
        self.process.withLock { $0 = process }
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if Self.accepts(port: launch.port) { return }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let log = (try? String(contentsOfFile: launch.directory + "/nx.log", encoding: .utf8)) ?? ""
        await stopProcess()
        throw Unavailable(description: "nx-27017 did not start on port \(launch.port):\n\(log.suffix(2_000))")
    }

    /// Stops the server process (SIGTERM, then SIGKILL) and waits until its port is closed.
    func stopProcess() async {
        guard
            let process = self.process.withLock({ state -> Process? in
                defer { state = nil }
                return state
            })
        else { return }
        if process.isRunning { process.terminate() }
        for _ in 0..<50 where process.isRunning { try? await Task.sleep(for: .milliseconds(100)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            for _ in 0..<50 where process.isRunning { try? await Task.sleep(for: .milliseconds(100)) }
        }
    }

    func close() async {
        if isExternal {
            _ = try? python("import pymongo,sys\npymongo.MongoClient(sys.argv[1]).drop_database(sys.argv[2])")
        }
        await stopProcess()
    }

    /// Runs a Python script with pymongo from the test environment; argv[1] is the base URI, argv[2] the
    /// database. Returns its output; throws when it fails.
    @discardableResult
    func python(_ script: String, _ arguments: [String] = []) throws -> String {
        let environment = try Self.requireEnvironment()
        let (status, output) = try TestSupport.run(
            environment + "/bin/python", ["-c", script, baseURI, database] + arguments)
        guard status == 0 else { throw TestSupport.CommandFailure(command: "python (pymongo)", output: output) }
        return output
    }

    /// Splits a URI into what comes before its database path and its options ("?..." or "").
    private static func split(_ uri: String) -> (prefix: String, options: String) {
        guard let scheme = uri.range(of: "://") else { return (uri, "") }
        let rest = uri[scheme.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let options = rest.firstIndex(of: "?").map { String(rest[$0...]) } ?? ""
        return (String(uri[..<authorityEnd]), options)
    }

    private static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Unavailable(description: "socket() failed") }
        defer { Glibc.close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0
            }
        }
        guard bound else { throw Unavailable(description: "could not find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func accepts(port: Int) -> Bool {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return false }
        defer { Glibc.close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
