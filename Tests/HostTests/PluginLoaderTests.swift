import Foundation
import Host
import Logging
import PluginKit
import Testing

@Suite("Plugin loader", .serialized)
struct PluginLoaderTests {
    static func load(_ path: String, kind: PluginKind? = nil) throws(PluginLoadError) -> LoadedPlugin {
        try PluginLoader.load(
            path: path, plugin: (path as NSString).lastPathComponent, expectedKind: kind, slot: kind.map { "\($0)" })
    }

    @Test("MemoryCache and the C provider load with their descriptors")
    func validPlugins() throws {
        let directory = try TestSupport.makeDirectory()
        let memory = try Self.load(try TestSupport.builtPlugin("MemoryCache"), kind: .cache)
        #expect(memory.descriptor.id == "markethub.memory-cache")
        #expect(memory.descriptor.toolchain == PluginLoader.hostToolchain)
        #expect(memory.descriptor.abi == "1.0")
        let c = try Self.load(try TestSupport.buildCProvider(in: directory), kind: .provider)
        #expect(c.descriptor.id == "example.c-provider")
        #expect(c.descriptor.toolchain == "c")
        #expect(c.descriptor.kind == .provider)
    }

    @Test("a missing file names where it looked and how to build it")
    func missingFile() throws {
        let locator = PluginLocator(configured: ["/nonexistent/plugins"], includeExecutableDirectory: false)
        let error = #expect(throws: PluginLoadError.self) { try locator.resolve("NoSuchPlugin") }
        #expect(error?.code == .notFound)
        #expect(error?.description.contains("/nonexistent/plugins/libNoSuchPlugin.so") == true)
        #expect(error?.description.contains("swift build") == true)
    }

    @Test("a file that is not a shared library is refused")
    func notALibrary() throws {
        let directory = try TestSupport.makeDirectory()
        let path = directory + "/libText.so"
        try "this is not an ELF file".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        let error = #expect(throws: PluginLoadError.self) { try Self.load(path) }
        #expect(error?.code == .notALibrary)
        #expect(error?.description.contains("not a loadable shared library") == true)
    }

    @Test("a library without the entry symbol is refused")
    func missingEntry() throws {
        let path = try TestSupport.buildFixture(
            "NoEntry", in: try TestSupport.makeDirectory(), defines: ["FIXTURE_NO_ENTRY"])
        let error = #expect(throws: PluginLoadError.self) { try Self.load(path) }
        #expect(error?.code == .missingEntry)
        #expect(error?.description.contains("markethub_plugin_entry_v1") == true)
    }

    @Test("a plugin whose entry refuses the host is refused")
    func entryRefuses() throws {
        let path = try TestSupport.buildFixture(
            "Refuses", in: try TestSupport.makeDirectory(), defines: ["FIXTURE_REFUSE"])
        let error = #expect(throws: PluginLoadError.self) { try Self.load(path) }
        #expect(error?.code == .refused)
    }

    @Test("an ABI major mismatch is refused with the versions named")
    func abiMismatch() throws {
        let path = try TestSupport.buildFixture(
            "Major2", in: try TestSupport.makeDirectory(), defines: ["FIXTURE_ABI_MAJOR=2"])
        let error = #expect(throws: PluginLoadError.self) { try Self.load(path) }
        #expect(error?.code == .abiMismatch)
        #expect(error?.description.contains("ABI 2.x") == true)
        #expect(error?.description.contains("rebuild") == true)
    }

    @Test("a Swift plugin from another toolchain is refused")
    func toolchainMismatch() throws {
        let path = try TestSupport.buildFixture(
            "OldSwift", in: try TestSupport.makeDirectory(), defines: [#"FIXTURE_TOOLCHAIN="swift-5.10""#]
        )
        let error = #expect(throws: PluginLoadError.self) { try Self.load(path) }
        #expect(error?.code == .toolchainMismatch)
        #expect(error?.description.contains("swift-5.10") == true)
        #expect(error?.description.contains(PluginLoader.hostToolchain) == true)
    }

    @Test("a plugin of the wrong kind for its slot is refused")
    func wrongKind() throws {
        let error = #expect(throws: PluginLoadError.self) {
            try Self.load(try TestSupport.builtPlugin("MemoryCache"), kind: .provider)
        }
        #expect(error?.code == .wrongKind)
        #expect(error?.description.contains("is a cache plugin") == true)
    }

    @Test("a vtable smaller than ABI 1.0 requires is refused")
    func shortVtable() throws {
        let path = try TestSupport.buildFixture(
            "Short", in: try TestSupport.makeDirectory(), defines: ["FIXTURE_SHORT_VTABLE"])
        let error = #expect(throws: PluginLoadError.self) { try Self.load(path) }
        #expect(error?.code == .malformedDescriptor)
    }

    @Test("a plugin file or directory others can write to is refused")
    func unsafePermissions() throws {
        let directory = try TestSupport.makeDirectory()
        let path = try TestSupport.buildCProvider(in: directory)
        chmod(path, 0o666)
        let fileError = #expect(throws: PluginLoadError.self) { try Self.load(path) }
        #expect(fileError?.code == .unsafePermissions)
        #expect(fileError?.description.contains("chmod go-w \(path)") == true)
        chmod(path, 0o755)
        chmod(directory, 0o777)
        defer { chmod(directory, 0o755) }
        let directoryError = #expect(throws: PluginLoadError.self) { try Self.load(path) }
        #expect(directoryError?.code == .unsafePermissions)
        #expect(directoryError?.description.contains("directory") == true)
    }

    @Test("a plugin that refuses its configuration shows its message")
    func configRejected() throws {
        let directory = try TestSupport.makeDirectory()
        let configuration = HostConfiguration(
            sourcePath: "test.yaml",
            provider: .init(
                plugin: try TestSupport.buildCProvider(in: directory), config: .object([("intervalMs", .integer(-5))]),
                keyPath: "provider"),
            cache: .init(plugin: try TestSupport.builtPlugin("MemoryCache"), keyPath: "cache"),
            transports: []
        )
        let error = #expect(throws: PluginLoadError.self) {
            try HostRuntime(configuration: configuration, logger: Logger(label: "test"))
        }
        #expect(error?.code == .configRejected)
        #expect(error?.description.contains("example.c-provider") == true)
        #expect(error?.description.contains("intervalMs must be a positive integer") == true)
        #expect(error?.description.contains("provider.config") == true)
    }

    @Test("two plugins with the same id are refused")
    func duplicateIDs() throws {
        let directory = try TestSupport.makeDirectory()
        let first = try TestSupport.buildFixture("TransportA", in: directory, defines: [#"FIXTURE_ID="dup.transport""#])
        let second = try TestSupport.buildFixture(
            "TransportB", in: directory, defines: [#"FIXTURE_ID="dup.transport""#])
        let configuration = HostConfiguration(
            sourcePath: "test.yaml",
            provider: .init(plugin: try TestSupport.buildCProvider(in: directory), keyPath: "provider"),
            cache: .init(plugin: try TestSupport.builtPlugin("MemoryCache"), keyPath: "cache"),
            transports: [
                .init(plugin: first, keyPath: "transports[0]"), .init(plugin: second, keyPath: "transports[1]"),
            ]
        )
        let error = #expect(throws: PluginLoadError.self) {
            try HostRuntime.loadPlugins(
                configuration, locator: PluginLocator(configured: [], includeExecutableDirectory: false))
        }
        #expect(error?.code == .duplicateID)
        #expect(error?.description.contains("dup.transport") == true)
        #expect(error?.description.contains("transports[0]") == true)
    }
}
