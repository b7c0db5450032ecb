import Foundation
import Testing

/// Plugin hygiene: a plugin library exports exactly one dynamic symbol, the entry point, so its statically
/// linked copies of packages can never bind to another image's.
@Suite("Plugin exports")
struct PluginExportTests {
    static func exportedSymbols(_ path: String) throws -> [String] {
        let (status, output) = try TestSupport.run("/usr/bin/nm", ["-D", "--defined-only", path])
        guard status == 0 else { throw TestSupport.CommandFailure(command: "nm -D \(path)", output: output) }
        // nm prints global (exported) symbols with an upper-case type letter; lower-case ones are local.
        return output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count == 3, let type = fields[1].first, type.isUppercase else { return nil }
            return String(fields[2])
        }
    }

    @Test("every plugin built by SwiftPM exports exactly markethub_plugin_entry_v1")
    func swiftPlugins() throws {
        let libraries = try FileManager.default.contentsOfDirectory(atPath: TestSupport.buildDirectory)
            .filter { $0.hasPrefix("lib") && $0.hasSuffix(".so") }
        #expect(libraries.contains("libMemoryCache.so"), "found \(libraries)")
        for library in libraries {
            let symbols = try Self.exportedSymbols(TestSupport.buildDirectory + "/" + library)
            #expect(symbols == ["markethub_plugin_entry_v1"], "\(library) exports \(symbols.prefix(10))")
        }
    }

    @Test("the C example exports exactly markethub_plugin_entry_v1")
    func cPlugin() throws {
        let path = try TestSupport.buildCProvider(in: try TestSupport.makeDirectory())
        #expect(try Self.exportedSymbols(path) == ["markethub_plugin_entry_v1"])
    }
}
