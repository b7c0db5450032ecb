import CachePluginKit
import PluginAPI
import PluginKit

// Allocated once and never written again (plugins are never unloaded), so sharing them across threads is safe.
nonisolated(unsafe) let vtable = CacheVtable.make { host, config, out, err in
    CacheVtable.instantiate(host: host, out: out, err: err) { host throws(PluginError) in
        try MongoCacheBackend(configuration: try MongoCacheConfiguration(json: String(config)), host: host)
    }
}

nonisolated(unsafe) let descriptor = PluginExport.makeDescriptor(
    kind: mh_kind(MH_KIND_CACHE), id: "markethub.mongo-cache", version: "1.0.0",
    description: "MongoDB cache (libmongoc): shared by several hosts, survives restarts", vtable: vtable
)

@c(markethub_plugin_entry_v1)
public func markethubPluginEntry(_ major: UInt16, _ minor: UInt16) -> UnsafePointer<mh_plugin>? {
    PluginExport.entry(hostMajor: major, descriptor: descriptor)
}
