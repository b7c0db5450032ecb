import Foundation
import PluginAPI
import PluginKit

/// A plugin library opened and validated: its descriptor and its vtable (a copy, zero-filled past what an
/// older plugin provided).
public struct LoadedPlugin: @unchecked Sendable {
    // @unchecked: the vtable pointer refers to immutable memory the plugin owns for the process lifetime
    // (libraries are never closed), and the function pointers in it are documented thread-safe per call.
    public let descriptor: PluginDescriptor
    /// A host-owned copy of the plugin's vtable, laid out as this host's header defines it: entries an older
    /// plugin did not have read as NULL. Never freed (plugins are never unloaded).
    public let vtable: UnsafeRawPointer
}

/// Opens plugin libraries and checks them against this host: entry symbol, ABI major, toolchain, kind and
/// required functions. Libraries are opened with RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE and never closed.
public enum PluginLoader {
    /// The host's toolchain id, compared with Swift plugins' descriptors.
    public static var hostToolchain: String { SwiftToolchain.id }

    /// Opens `path` and validates its descriptor. `plugin` is the operator's name for it (for messages);
    /// `expectedKind`, when given, must match.
    public static func load(
        path: String, plugin: String, expectedKind: PluginKind? = nil, slot: String? = nil,
        checkPermissions: Bool = true
    ) throws(PluginLoadError) -> LoadedPlugin {
        if checkPermissions { try PluginLocator.checkPermissions(of: path, plugin: plugin) }
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw PluginLoadError(
                .notALibrary, plugin: plugin, "\(path) is not a loadable shared library (\(reason))",
                fix: "point the config at a plugin built for this host (lib<Name>.so from `swift build`)"
            )
        }
        guard let symbol = dlsym(handle, MH_ENTRY_SYMBOL) else {
            throw PluginLoadError(
                .missingEntry, plugin: plugin,
                "\(path) does not export \(MH_ENTRY_SYMBOL), so it is not a MarketHub plugin",
                fix: "export the entry function (see docs/plugin-authoring.md) or fix the path"
            )
        }
        let entry = unsafeBitCast(symbol, to: mh_entry_fn.self)
        guard let raw = entry(UInt16(MH_ABI_MAJOR), UInt16(MH_ABI_MINOR)) else {
            throw PluginLoadError(
                .refused, plugin: plugin,
                "\(path) refused to load into a host speaking plugin ABI \(MH_ABI_MAJOR).\(MH_ABI_MINOR)",
                fix: "rebuild the plugin against this host's markethub_plugin.h"
            )
        }
        let descriptor = try readDescriptor(raw, path: path, plugin: plugin)
        if let expectedKind, descriptor.kind != expectedKind {
            throw PluginLoadError(
                .wrongKind, plugin: plugin,
                "\(descriptor.id) is a \(descriptor.kind) plugin but the '\(slot ?? expectedKind.description)' slot needs a \(expectedKind) plugin",
                fix: "name a \(expectedKind) plugin in '\(slot ?? expectedKind.description)'"
            )
        }
        guard let vtable = raw.pointee.vtable else {
            throw PluginLoadError(
                .malformedDescriptor, plugin: plugin, "\(descriptor.id) has no vtable",
                fix: "fix the plugin's descriptor"
            )
        }
        let copy = try validateVtable(vtable, kind: descriptor.kind, id: descriptor.id, plugin: plugin)
        return LoadedPlugin(descriptor: descriptor, vtable: copy)
    }

    /// Reads the descriptor only (for `markethub plugins`): no kind expectation.
    public static func describe(path: String) throws(PluginLoadError) -> PluginDescriptor {
        try load(path: path, plugin: (path as NSString).lastPathComponent).descriptor
    }

    static func readDescriptor(
        _ raw: UnsafePointer<mh_plugin>, path: String, plugin: String
    ) throws(PluginLoadError) -> PluginDescriptor {
        let majorEnd = MemoryLayout<mh_plugin>.offset(of: \.abi_minor)!
        guard Int(raw.pointee.struct_size) >= majorEnd else {
            throw PluginLoadError(
                .malformedDescriptor, plugin: plugin, "descriptor is too small (\(raw.pointee.struct_size) bytes)",
                fix: "rebuild the plugin against markethub_plugin.h"
            )
        }
        let major = raw.pointee.abi_major
        guard major == UInt16(MH_ABI_MAJOR) else {
            throw PluginLoadError(
                .abiMismatch, plugin: plugin,
                "built against plugin ABI \(major).x but this host speaks \(MH_ABI_MAJOR).\(MH_ABI_MINOR)",
                fix: "rebuild the plugin against this host's markethub_plugin.h (ABI major \(MH_ABI_MAJOR))"
            )
        }
        let required = MemoryLayout<mh_plugin>.offset(of: \.vtable)! + MemoryLayout<UnsafeRawPointer>.size
        guard let copy = Records.read(UnsafeRawPointer(raw), count: 1, as: mh_plugin.self, minimumSize: required)?.first
        else {
            throw PluginLoadError(
                .malformedDescriptor, plugin: plugin,
                "descriptor is smaller (\(raw.pointee.struct_size) bytes) than ABI \(MH_ABI_MAJOR).0 requires (\(required))",
                fix: "rebuild the plugin against markethub_plugin.h"
            )
        }
        func text(_ pointer: UnsafePointer<CChar>?) -> String? { pointer.map { String(cString: $0) } }
        guard let id = text(copy.id), !id.isEmpty, let version = text(copy.version),
            let toolchain = text(copy.toolchain)
        else {
            throw PluginLoadError(
                .malformedDescriptor, plugin: plugin, "descriptor lacks an id, version or toolchain",
                fix: "fill id, version and toolchain in the plugin's mh_plugin"
            )
        }
        guard let kind = PluginKind(rawValue: copy.kind) else {
            throw PluginLoadError(
                .malformedDescriptor, plugin: plugin, "\(id) declares unknown kind \(copy.kind)",
                fix: "set kind to MH_KIND_PROVIDER, MH_KIND_CACHE or MH_KIND_TRANSPORT"
            )
        }
        if toolchain.lowercased().hasPrefix("swift"), toolchain != hostToolchain {
            throw PluginLoadError(
                .toolchainMismatch, plugin: plugin,
                "\(id) was built with \(toolchain) but this host was built with \(hostToolchain); Swift has no stable ABI on Linux",
                fix: "rebuild the plugin with the host's toolchain (\(hostToolchain))"
            )
        }
        return PluginDescriptor(
            id: id, version: version, kind: kind, abiMajor: copy.abi_major, abiMinor: copy.abi_minor,
            toolchain: toolchain, description: text(copy.description) ?? "", path: path
        )
    }

    /// Checks that the table is big enough for ABI 1.0 and that every required function is present, and
    /// returns a host-owned copy zero-filled past the plugin's struct_size.
    static func validateVtable(
        _ vtable: UnsafeRawPointer, kind: PluginKind, id: String, plugin: String
    ) throws(PluginLoadError) -> UnsafeRawPointer {
        let size = Int(vtable.loadUnaligned(as: UInt32.self))
        let required: Int
        var missing: [String] = []
        var copy: UnsafeRawPointer?
        switch kind {
        case .provider:
            required = end(of: \mh_provider_vtable.unsubscribe)
            if let table = Records.read(vtable, count: 1, as: mh_provider_vtable.self, minimumSize: required)?.first {
                missing = missingFunctions(table)
                copy = PluginExport.permanent(table)
            }
        case .cache:
            required = end(of: \mh_cache_vtable.get_selection)
            if let table = Records.read(vtable, count: 1, as: mh_cache_vtable.self, minimumSize: required)?.first {
                missing = missingFunctions(table)
                copy = PluginExport.permanent(table)
            }
        case .transport:
            required = end(of: \mh_transport_vtable.respond)
            if let table = Records.read(vtable, count: 1, as: mh_transport_vtable.self, minimumSize: required)?.first {
                missing = missingFunctions(table)
                copy = PluginExport.permanent(table)
            }
        }
        guard size >= required, let copy else {
            throw PluginLoadError(
                .malformedDescriptor, plugin: plugin,
                "\(id)'s \(kind) table is \(size) bytes, smaller than ABI \(MH_ABI_MAJOR).0 requires (\(required))",
                fix: "set struct_size to sizeof the table and rebuild against markethub_plugin.h"
            )
        }
        guard missing.isEmpty else {
            throw PluginLoadError(
                .malformedDescriptor, plugin: plugin,
                "\(id)'s \(kind) table lacks required functions: \(missing.joined(separator: ", "))",
                fix: "implement them (see docs/plugin-authoring.md)"
            )
        }
        return copy
    }

    static func end<Table, Field>(of field: KeyPath<Table, Field>) -> Int {
        MemoryLayout<Table>.offset(of: field)! + MemoryLayout<Field>.size
    }

    /// The names of the required entries that are NULL.
    static func missing(_ entries: KeyValuePairs<String, Bool>) -> [String] {
        entries.filter { !$0.value }.map(\.key)
    }

    static func missingFunctions(_ t: mh_provider_vtable) -> [String] {
        missing([
            "create": t.create != nil, "start": t.start != nil, "stop": t.stop != nil, "destroy": t.destroy != nil,
            "health": t.health != nil, "request": t.request != nil, "subscribe": t.subscribe != nil,
            "unsubscribe": t.unsubscribe != nil,
        ])
    }

    static func missingFunctions(_ t: mh_cache_vtable) -> [String] {
        missing([
            "create": t.create != nil, "start": t.start != nil, "stop": t.stop != nil, "destroy": t.destroy != nil,
            "health": t.health != nil, "put_bars": t.put_bars != nil, "get_bars": t.get_bars != nil,
            "put_chain": t.put_chain != nil, "get_chain": t.get_chain != nil,
            "put_last_quotes": t.put_last_quotes != nil, "get_last_quotes": t.get_last_quotes != nil,
            "put_selection": t.put_selection != nil, "get_selection": t.get_selection != nil,
        ])
    }

    static func missingFunctions(_ t: mh_transport_vtable) -> [String] {
        missing([
            "create": t.create != nil, "start": t.start != nil, "stop": t.stop != nil, "destroy": t.destroy != nil,
            "health": t.health != nil, "publish": t.publish != nil, "send": t.send != nil, "join": t.join != nil,
            "leave": t.leave != nil, "disconnect": t.disconnect != nil, "ack": t.ack != nil,
            "respond": t.respond != nil,
        ])
    }
}
