import Foundation
import Host
import Testing

/// The `markethub` executable, run as an operator would.
@Suite("markethub command line", .serialized)
struct CommandLineTests {
    static func writeConfig(_ text: String, in directory: String) throws -> String {
        let path = directory + "/config.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func workingConfig(in directory: String) throws -> String {
        let provider = try TestSupport.buildCProvider(in: directory)
        let transport = try TestSupport.buildFixture("NullTransport", in: directory)
        return try writeConfig(
            """
            provider:
              plugin: \(provider)
              config: { intervalMs: 50 }
            cache:
              plugin: MemoryCache
            transports:
              - plugin: \(transport)
            """, in: directory
        )
    }

    @Test("plugins lists MemoryCache and the C plugin with their descriptors")
    func listsPlugins() throws {
        let directory = try TestSupport.makeDirectory()
        _ = try TestSupport.buildCProvider(in: directory)
        let (status, output) = try TestSupport.run(
            try TestSupport.markethubExecutable(), ["plugins", "--dir", directory])
        #expect(status == 0, "\(output)")
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("ID") == true)
        let memory = try #require(lines.first { $0.hasPrefix("markethub.memory-cache") })
        #expect(memory.contains("cache") && memory.contains("1.0") && memory.contains(PluginLoader.hostToolchain))
        let c = try #require(lines.first { $0.hasPrefix("example.c-provider") })
        #expect(c.contains("provider") && c.contains(" c ") && c.contains(directory + "/libCProvider.so"))
    }

    @Test("check-config validates a good configuration without starting anything")
    func checkConfigOK() throws {
        let directory = try TestSupport.makeDirectory()
        let config = try Self.workingConfig(in: directory)
        let (status, output) = try TestSupport.run(try TestSupport.markethubExecutable(), ["check-config", config])
        #expect(status == 0, "\(output)")
        #expect(output.contains("provider: example.c-provider 1.0.0"))
        #expect(output.contains("cache: markethub.memory-cache"))
        #expect(output.contains("configuration OK"))
    }

    @Test("invalid YAML gives one line with file and line, and exit status 2")
    func invalidYAML() throws {
        let directory = try TestSupport.makeDirectory()
        let config = try Self.writeConfig(
            "provider:\n  plugin: X\n  config: {unclosed\ncache: {plugin: C}\n", in: directory)
        let (status, output) = try TestSupport.run(try TestSupport.markethubExecutable(), ["check-config", config])
        #expect(status == 2)
        let lines = output.split(separator: "\n")
        #expect(lines.count == 1, "\(output)")
        #expect(output.hasPrefix("markethub: error: \(config):"))
    }

    @Test("a loader error gives one line naming the plugin and the fix, and a non-zero exit")
    func loaderErrorLine() throws {
        let directory = try TestSupport.makeDirectory()
        let config = try Self.writeConfig(
            "provider: { plugin: NoSuchProvider }\ncache: { plugin: MemoryCache }\n", in: directory)
        for command in ["check-config", "serve"] {
            let arguments = command == "serve" ? ["serve", "--config", config] : ["check-config", config]
            let (status, output) = try TestSupport.run(try TestSupport.markethubExecutable(), arguments)
            #expect(status == 1, "\(command): \(output)")
            let errorLines = output.split(separator: "\n").filter { $0.hasPrefix("markethub: error:") }
            #expect(errorLines.count == 1, "\(command): \(output)")
            #expect(errorLines.first?.contains("plugin NoSuchProvider") == true)
            #expect(errorLines.first?.contains("fix:") == true)
        }
    }

    @Test("serve runs until SIGTERM, then drains transports, stops the provider, flushes the cache and exits 0")
    func serveAndShutDown() throws {
        let directory = try TestSupport.makeDirectory()
        let config = try Self.workingConfig(in: directory)
        let logPath = directory + "/serve.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestSupport.markethubExecutable())
        process.arguments = ["serve", "--config", config]
        process.standardOutput = log
        process.standardError = log
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var output = ""
        for _ in 0..<200 where !output.contains("markethub serving") {
            usleep(50_000)
            output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        }
        #expect(output.contains("markethub serving"), "\(output)")
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        #expect(process.terminationStatus == 0, "\(output)")
        let stopped = output.split(separator: "\n").filter { $0.contains("plugin stopped") }
        #expect(stopped.count == 3, "\(output)")
        #expect(stopped.first?.contains("test.fixture") == true, "transports stop first")
        #expect(stopped.last?.contains("markethub.memory-cache") == true, "the cache stops last")
        #expect(output.contains("markethub stopped"))
    }
}
