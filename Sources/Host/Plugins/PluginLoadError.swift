/// Why a plugin could not be loaded. `description` is one line naming the plugin, the problem and the fix.
public struct PluginLoadError: Error, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable {
        case notFound = "not_found"
        case unsafePermissions = "unsafe_permissions"
        case notALibrary = "not_a_library"
        case missingEntry = "missing_entry"
        case refused
        case malformedDescriptor = "malformed_descriptor"
        case abiMismatch = "abi_mismatch"
        case toolchainMismatch = "toolchain_mismatch"
        case wrongKind = "wrong_kind"
        case duplicateID = "duplicate_id"
        case configRejected = "config_rejected"
        case startFailed = "start_failed"
    }

    public var code: Code
    /// The plugin as the operator named it (slot value or path).
    public var plugin: String
    public var message: String
    public var fix: String

    public init(_ code: Code, plugin: String, _ message: String, fix: String) {
        self.code = code
        self.plugin = plugin
        self.message = message
        self.fix = fix
    }

    public var description: String { "plugin \(plugin): \(message); fix: \(fix)" }
}
