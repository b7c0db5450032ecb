import Logging
import MassiveClient
import PluginAPI
import PluginKit
import ReplayEngine

/// The instance behind the opaque pointer the host hands back.
@inline(__always)
func instance(_ pointer: UnsafeMutableRawPointer?) -> MassiveProviderCore? {
    pointer.map { Unmanaged<MassiveProviderCore>.fromOpaque($0).takeUnretainedValue() }
}

func strings(_ symbols: UnsafePointer<mh_str>?, _ count: Int) -> [String] {
    guard let symbols, count > 0 else { return [] }
    return UnsafeBufferPointer(start: symbols, count: count).map(String.init)
}

let providerVTable = mh_provider_vtable(
    struct_size: UInt32(MemoryLayout<mh_provider_vtable>.stride),
    create: { host, config, sink, out, err in
        catchingStatus(err) {
            guard let host, let sink, let out else { throw PluginError.invalid("create needs host, sink and output") }
            let bytes =
                config.ptr.map {
                    Array(
                        UnsafeBufferPointer(
                            start: UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self), count: config.len))
                } ?? []
            let configuration = try MassiveConfiguration.parse(bytes)
            let pluginHost = PluginHost(host)
            let gate = SinkGate()
            let logger = Logger(label: "markethub.massive-provider") { _ in
                GatedHostLogHandler(inner: HostLogHandler(host: pluginHost), gate: gate)
            }
            let metrics = HostMetrics(host: pluginHost, gate: gate)
            let core = MassiveProviderCore(
                configuration: configuration, sink: HostSink(sink: sink),
                clock: HostStreamClock(host: pluginHost, gate: gate), logger: logger, restObserver: metrics,
                streamObserver: metrics, gate: gate)
            logger.info(
                "massive provider ready",
                metadata: [
                    "rest": "\(Redactor(configuration.apiKey).clean(configuration.restURL))",
                    "ws": "\(Redactor(configuration.apiKey).clean(configuration.wsURL))",
                    "feeds": "\(configuration.feeds.map(\.rawValue).joined(separator: ","))",
                    "recording": "\(configuration.recordTo ?? "off")",
                ])
            out.pointee = Unmanaged.passRetained(core).toOpaque()
        }
    },
    start: { pointer, err in
        catchingStatus(err) {
            guard instance(pointer) != nil else { throw PluginError.invalid("no instance") }
            // Feeds connect lazily, on their first subscription.
        }
    },
    stop: { pointer in instance(pointer)?.stop() },
    destroy: { pointer in
        guard let pointer else { return }
        let core = Unmanaged<MassiveProviderCore>.fromOpaque(pointer)
        core.takeUnretainedValue().stop()
        core.release()
    },
    health: { pointer, detail in
        guard let core = instance(pointer) else {
            detail.write("no instance")
            return mh_health_state(MH_HEALTH_DOWN)
        }
        let (state, text) = core.health()
        detail.write(text)
        return state
    },
    request: { pointer, request, done, context in
        guard let core = instance(pointer), let request, let done else { return mh_status(MH_INVALID) }
        guard let copied = Records.read(UnsafeRawPointer(request), count: 1, as: mh_request.self, minimumSize: 8)?.first
        else { return mh_status(MH_INVALID) }
        guard (1...10).contains(copied.kind) else { return mh_status(MH_UNSUPPORTED) }
        let completion = Completion(done: done, context: context)
        var params: JSONValue?
        let paramBytes = copied.params_json.array
        if !paramBytes.isEmpty {
            do throws(JSONError) {
                params = try JSONValue.parse(paramBytes)
            } catch {
                completion.fail(.invalid("params_json is not JSON: \(error.description)"))
                return mh_status(MH_OK)
            }
        }
        let lookup = LookupRequest(
            kind: copied.kind, ticker: String(copied.ticker), multiplier: copied.multiplier, timespan: copied.timespan,
            fromMilliseconds: copied.from_ms, toMilliseconds: copied.to_ms, limit: copied.limit, params: params)
        core.request(lookup) { completion.complete($0) }
        return mh_status(MH_OK)
    },
    subscribe: { pointer, symbols, count, channels, err in
        catchingStatus(err) {
            guard let core = instance(pointer) else { throw PluginError.invalid("no instance") }
            guard symbols != nil || count == 0 else { throw PluginError.invalid("symbols is NULL") }
            try core.subscribe(strings(symbols, count), channels: Channels(rawValue: channels))
        }
    },
    unsubscribe: { pointer, symbols, count, channels, err in
        catchingStatus(err) {
            guard let core = instance(pointer) else { throw PluginError.invalid("no instance") }
            core.unsubscribe(strings(symbols, count), channels: Channels(rawValue: channels))
        }
    },
    get_extension: { _, _ in nil }
)

nonisolated(unsafe) let descriptor = PluginExport.makeDescriptor(
    kind: mh_kind(MH_KIND_PROVIDER), id: "markethub.massive-provider", version: "1.0.0",
    description: "Massive (formerly Polygon.io) REST and WebSocket market data",
    vtable: PluginExport.permanent(providerVTable))

@c(markethub_plugin_entry_v1)
public func markethubPluginEntry(_ major: UInt16, _ minor: UInt16) -> UnsafePointer<mh_plugin>? {
    PluginExport.entry(hostMajor: major, descriptor: descriptor)
}
