import PluginAPI

/// Helpers for a Swift plugin's one exported entry point.
///
/// ```swift
/// @c(markethub_plugin_entry_v1)
/// public func markethubPluginEntry(_ major: UInt16, _ minor: UInt16) -> UnsafePointer<mh_plugin>? {
///     PluginExport.entry(hostMajor: major, descriptor: MyPlugin.descriptor)
/// }
/// ```
public enum PluginExport {
    /// Allocates a descriptor that lives for the rest of the process (plugins are never unloaded).
    /// Call it once, from a `static let`.
    public static func makeDescriptor(
        kind: mh_kind, id: String, version: String, description: String, vtable: UnsafeRawPointer
    ) -> UnsafePointer<mh_plugin> {
        let descriptor = UnsafeMutablePointer<mh_plugin>.allocate(capacity: 1)
        descriptor.initialize(
            to: mh_plugin(
                struct_size: UInt32(MemoryLayout<mh_plugin>.stride), abi_major: UInt16(MH_ABI_MAJOR),
                abi_minor: UInt16(MH_ABI_MINOR), kind: kind, reserved0: 0, id: permanentCString(id),
                version: permanentCString(version), toolchain: permanentCString(SwiftToolchain.id),
                description: permanentCString(description), vtable: vtable
            )
        )
        return UnsafePointer(descriptor)
    }

    /// Allocates a vtable that lives for the rest of the process.
    public static func permanent<Table>(_ table: Table) -> UnsafeRawPointer {
        let pointer = UnsafeMutablePointer<Table>.allocate(capacity: 1)
        pointer.initialize(to: table)
        return UnsafeRawPointer(pointer)
    }

    /// The body of an entry function: refuse a host with another ABI major, else return the descriptor.
    public static func entry(hostMajor: UInt16, descriptor: UnsafePointer<mh_plugin>) -> UnsafePointer<mh_plugin>? {
        hostMajor == UInt16(MH_ABI_MAJOR) ? descriptor : nil
    }

    /// A NUL-terminated copy of `string` that is never freed.
    public static func permanentCString(_ string: String) -> UnsafePointer<CChar> {
        let utf8 = Array(string.utf8CString)
        let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count)
        pointer.initialize(from: utf8, count: utf8.count)
        return UnsafePointer(pointer)
    }
}

/// Identifies the Swift toolchain this module was compiled with. Host and Swift plugins compare it because
/// Swift has no stable ABI on Linux: a plugin built with another compiler must not be loaded.
public enum SwiftToolchain {
    public static var id: String {
        #if compiler(>=6.5)
            "swift-6.5-or-later"
        #elseif compiler(>=6.4)
            "swift-6.4"
        #elseif compiler(>=6.3.3)
            "swift-6.3.3-or-later"
        #elseif compiler(>=6.3.2)
            "swift-6.3.2"
        #elseif compiler(>=6.3.1)
            "swift-6.3.1"
        #elseif compiler(>=6.3)
            "swift-6.3.0"
        #else
            "swift-older-than-6.3"
        #endif
    }
}
