import Foundation

/// Resolves a plugin named in the configuration to a library file, and checks that the file is safe to load.
public struct PluginLocator: Sendable {
    /// Directories searched, in order, for plugins given by name.
    public var directories: [String]

    /// `configured` directories come first; the directory of the running executable (where `swift build` puts
    /// the plugin libraries next to `markethub`) is always searched last.
    public init(configured: [String], relativeTo base: String? = nil, includeExecutableDirectory: Bool = true) {
        var directories = configured.map { directory in
            guard let base, !directory.hasPrefix("/") else { return directory }
            return (base as NSString).appendingPathComponent(directory)
        }
        if includeExecutableDirectory, let executable = Self.executableDirectory, !directories.contains(executable) {
            directories.append(executable)
        }
        self.directories = directories
    }

    /// The directory that holds the running executable.
    public static var executableDirectory: String? {
        guard let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
            return nil
        }
        return (path as NSString).deletingLastPathComponent
    }

    /// True when `reference` is a path rather than a name.
    public static func isPath(_ reference: String) -> Bool {
        reference.contains("/") || reference.hasSuffix(".so")
    }

    /// The library file for `reference`: a path as given, or `lib<Name>.so` in the first directory holding it.
    public func resolve(_ reference: String) throws(PluginLoadError) -> String {
        if Self.isPath(reference) {
            guard FileManager.default.fileExists(atPath: reference) else {
                throw PluginLoadError(
                    .notFound, plugin: reference, "file does not exist",
                    fix: "check the path, or build the plugin (swift build) and name it instead of a path"
                )
            }
            return reference
        }
        let fileName = "lib\(reference).so"
        let candidates = directories.map { ($0 as NSString).appendingPathComponent(fileName) }
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
        throw PluginLoadError(
            .notFound, plugin: reference,
            "plugin not built or not installed (looked for \(candidates.isEmpty ? fileName : candidates.joined(separator: ", ")))",
            fix: "run `swift build` to build the plugins, add its directory to plugins.directories, or give a path"
        )
    }

    /// Every plugin library (lib*.so) in the search directories, first directory winning per file name.
    public func allLibraries() -> [String] {
        var seen = Set<String>()
        var out: [String] = []
        for directory in directories {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { continue }
            for name in names.sorted() where name.hasPrefix("lib") && name.hasSuffix(".so") && !seen.contains(name) {
                seen.insert(name)
                out.append((directory as NSString).appendingPathComponent(name))
            }
        }
        return out
    }

    /// Refuses a library that someone other than its owner could replace: the file or its directory writable by
    /// group or others, or owned by another non-root user.
    public static func checkPermissions(of path: String, plugin: String) throws(PluginLoadError) {
        let directory = ((path as NSString).deletingLastPathComponent as NSString).standardizingPath
        for (what, target) in [("file", path), ("directory", directory.isEmpty ? "." : directory)] {
            var info = stat()
            guard stat(target, &info) == 0 else {
                throw PluginLoadError(
                    .notFound, plugin: plugin,
                    "cannot inspect the plugin \(what) \(target): \(String(cString: strerror(errno)))",
                    fix: "check the path and its permissions"
                )
            }
            if info.st_mode & (S_IWGRP | S_IWOTH) != 0 {
                throw PluginLoadError(
                    .unsafePermissions, plugin: plugin,
                    "the plugin \(what) \(target) is writable by group or others, so someone else could replace the code this server runs",
                    fix: "chmod go-w \(target)"
                )
            }
            if info.st_uid != 0 && info.st_uid != geteuid() {
                throw PluginLoadError(
                    .unsafePermissions, plugin: plugin,
                    "the plugin \(what) \(target) is owned by another user (uid \(info.st_uid))",
                    fix: "chown it to root or to the user running markethub"
                )
            }
        }
    }
}
