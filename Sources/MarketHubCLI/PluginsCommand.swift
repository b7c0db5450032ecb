import ArgumentParser
import Foundation
import Host

struct PluginsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins",
        abstract: "List the plugins found in the plugin directories (the executable's own directory and --dir)."
    )

    @Option(name: .customLong("dir"), help: "A directory to search (repeatable), before the executable's own.")
    var directories: [String] = []

    func run() async throws {
        let locator = PluginLocator(configured: directories)
        let libraries = locator.allLibraries()
        var rows: [[String]] = [["ID", "VERSION", "KIND", "ABI", "TOOLCHAIN", "PATH"]]
        var problems: [String] = []
        for path in libraries {
            do {
                let descriptor = try PluginLoader.describe(path: path)
                rows.append([
                    descriptor.id, descriptor.version, descriptor.kind.description, descriptor.abi,
                    descriptor.toolchain, path,
                ])
            } catch {
                problems.append("\(error)")
            }
        }
        if rows.count == 1 {
            throw CommandSupport.fail(
                "no plugins found in \(locator.directories.joined(separator: ", ")); build them with `swift build`"
            )
        }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            print(
                row.enumerated().map { index, cell in
                    index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                }.joined(separator: "  ")
            )
        }
        for problem in problems {
            FileHandle.standardError.write(Data("markethub: skipped \(problem)\n".utf8))
        }
    }
}
