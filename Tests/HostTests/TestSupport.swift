import Foundation
import Host
import Logging
import Synchronization

/// Paths and helpers shared by the host tests.
enum TestSupport {
    /// The package root, found from this file's location.
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// Where `swift build` put the executable and the plugin libraries (the test binary lives there too).
    static var buildDirectory: String {
        PluginLocator.executableDirectory ?? packageRoot + "/.build/debug"
    }

    struct MissingBuildProduct: Error, CustomStringConvertible {
        var path: String
        var description: String { "\(path) is missing: run `swift build` before `swift test` (scripts/test.sh does)" }
    }

    /// The path of a plugin library built by SwiftPM; fails (not skips) when it has not been built.
    static func builtPlugin(_ name: String) throws -> String {
        let path = buildDirectory + "/lib\(name).so"
        guard FileManager.default.fileExists(atPath: path) else { throw MissingBuildProduct(path: path) }
        return path
    }

    static func markethubExecutable() throws -> String {
        let path = buildDirectory + "/markethub"
        guard FileManager.default.fileExists(atPath: path) else { throw MissingBuildProduct(path: path) }
        return path
    }

    /// A fresh directory only its owner can write (plugins are refused from group- or world-writable ones).
    static func makeDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "markethub-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        return path
    }

    struct CommandFailure: Error, CustomStringConvertible {
        var command: String
        var output: String
        var description: String { "\(command) failed:\n\(output)" }
    }

    /// Runs a command and returns its exit status and combined output.
    @discardableResult
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil
    ) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Compiles a C plugin with the system C compiler against the ABI header alone, with the export script.
    static func compileCPlugin(source: String, output: String, defines: [String] = []) throws {
        let arguments =
            ["-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror", "-std=c11", "-D_DEFAULT_SOURCE"]
            + defines.map { "-D\($0)" }
            + [
                "-I", packageRoot + "/Sources/PluginAPI/include", packageRoot + "/" + source,
                "-Wl,--version-script=" + packageRoot + "/Plugins/plugin.exports", "-lpthread", "-o", output,
            ]
        let (status, text) = try run("/usr/bin/cc", arguments)
        guard status == 0 else { throw CommandFailure(command: "cc " + arguments.joined(separator: " "), output: text) }
        chmod(output, 0o755)
    }

    /// Builds the example C provider into `directory` and returns its path.
    static func buildCProvider(in directory: String) throws -> String {
        let path = directory + "/libCProvider.so"
        try compileCPlugin(source: "Examples/CProvider/c_provider.c", output: path)
        return path
    }

    /// Builds the loader fixture with `defines` into `directory/lib<name>.so`.
    static func buildFixture(_ name: String, in directory: String, defines: [String] = []) throws -> String {
        let path = directory + "/lib\(name).so"
        try compileCPlugin(source: "Tests/HostTests/Fixtures/fixture_plugin.c", output: path, defines: defines)
        return path
    }

    /// A logger whose lines tests can read.
    static func collectingLogger() -> (Logger, LogCollector) {
        let collector = LogCollector()
        let logger = Logger(label: "test") { _ in CollectingLogHandler(collector: collector) }
        return (logger, collector)
    }
}

/// Keeps every log line written through a `CollectingLogHandler`.
final class LogCollector: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let lines = Mutex<[Line]>([])

    func append(_ line: Line) { lines.withLock { $0.append(line) } }

    var all: [Line] { lines.withLock { $0 } }
}

struct CollectingLogHandler: LogHandler {
    let collector: LogCollector
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            fields[key] = "\(value)"
        }
        collector.append(.init(level: event.level, message: "\(event.message)", metadata: fields))
    }
}
