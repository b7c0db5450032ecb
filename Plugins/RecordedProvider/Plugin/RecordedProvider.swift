import Logging
import MarketCalendar
import MarketSynth
import MassiveWire
import PluginAPI
import PluginKit
import Recording
import ReplayEngine

/// One configured instance: the replay engine plus the host services it was created with.
final class ProviderInstance: Sendable {
    let host: PluginHost
    let engine: ReplayEngine

    init(host: PluginHost, engine: ReplayEngine) {
        self.host = host
        self.engine = engine
    }

    /// Builds an instance from the plugin's configuration: loads or generates the session and the faults.
    static func make(
        host: PluginHost, configJSON: [UInt8], sink: UnsafePointer<mh_provider_sink>
    ) throws(PluginError)
        -> ProviderInstance
    {
        let configuration: ReplayConfiguration
        do {
            configuration = try ReplayConfiguration.parse(configJSON)
        } catch {
            throw .invalid("recorded provider configuration: \(error.message)")
        }
        let logger = host.logger(label: "markethub.recorded-provider")
        let recording: Recording
        switch configuration.source {
        case .file:
            guard let path = configuration.path else { throw .invalid("source: file needs a path") }
            do {
                recording = try RecordingReader.read(path: path)
            } catch {
                throw .invalid("recording \(path): \(error.message)")
            }
            if recording.truncated {
                logger.warning("recording \(path) is truncated; replaying up to its last whole entry")
            }
        case .synthetic:
            let date = configuration.sessionDate(wallMilliseconds: host.nowMilliseconds)
            do {
                recording = try MarketSynth.generate(
                    SynthConfiguration(
                        underlyings: configuration.underlyings, date: date, seed: configuration.seed,
                        startMinute: configuration.startMinute, endMinute: configuration.endMinute)
                ).recording
            } catch {
                throw .invalid("synthetic session: \(error.message)")
            }
        }
        var faults = FaultScript()
        switch configuration.faults {
        case .none: break
        case .inline(let script): faults = script
        case .path(let path):
            do {
                faults = try FaultScript.parse(try RecordingReader.readFile(path))
            } catch {
                throw .invalid("fault script \(path): \(error.message)")
            }
        }
        let engine = ReplayEngine(
            recording: recording, configuration: configuration, extraFaults: faults,
            scheduler: HostScheduler(host: host), sink: HostSink(sink: sink), logger: logger)
        logger.info(
            "recorded provider ready: \(recording.header.source) session, \(recording.entries.count) entries, \(faults.faults.count) scripted faults"
        )
        return ProviderInstance(host: host, engine: engine)
    }
}

/// The instance behind an opaque pointer the host hands back.
@inline(__always)
func instance(_ pointer: UnsafeMutableRawPointer?) -> ProviderInstance? {
    pointer.map { Unmanaged<ProviderInstance>.fromOpaque($0).takeUnretainedValue() }
}

/// Copies the host's borrowed strings.
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
            let made = try ProviderInstance.make(host: PluginHost(host), configJSON: bytes, sink: sink)
            out.pointee = Unmanaged.passRetained(made).toOpaque()
        }
    },
    start: { pointer, err in
        catchingStatus(err) {
            guard let provider = instance(pointer) else { throw PluginError.invalid("no instance") }
            provider.engine.start()
        }
    },
    stop: { pointer in instance(pointer)?.engine.stop() },
    destroy: { pointer in
        guard let pointer else { return }
        let provider = Unmanaged<ProviderInstance>.fromOpaque(pointer)
        provider.takeUnretainedValue().engine.stop()
        provider.release()
    },
    health: { pointer, detail in
        guard let provider = instance(pointer) else {
            detail.write("no instance")
            return mh_health_state(MH_HEALTH_DOWN)
        }
        let (state, text) = provider.engine.health()
        detail.write(text)
        return state
    },
    request: { pointer, request, done, context in
        guard let provider = instance(pointer), let request, let done else { return mh_status(MH_INVALID) }
        guard let copied = Records.read(UnsafeRawPointer(request), count: 1, as: mh_request.self, minimumSize: 8)?.first
        else { return mh_status(MH_INVALID) }
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
        do throws(PluginError) {
            try provider.engine.request(lookup) { completion.complete($0) }
            return mh_status(MH_OK)
        } catch {
            return error.status
        }
    },
    subscribe: { pointer, symbols, count, channels, err in
        catchingStatus(err) {
            guard let provider = instance(pointer) else { throw PluginError.invalid("no instance") }
            guard symbols != nil || count == 0 else { throw PluginError.invalid("symbols is NULL") }
            try provider.engine.subscribe(strings(symbols, count), channels: Channels(rawValue: channels))
        }
    },
    unsubscribe: { pointer, symbols, count, channels, err in
        catchingStatus(err) {
            guard let provider = instance(pointer) else { throw PluginError.invalid("no instance") }
            provider.engine.unsubscribe(strings(symbols, count), channels: Channels(rawValue: channels))
        }
    },
    get_extension: { _, id in
        guard let id, String(cString: id) == MH_EXT_REPLAY_CONTROL else { return nil }
        return replayControlTable
    }
)

let replayControl = mh_replay_control_v1(
    struct_size: UInt32(MemoryLayout<mh_replay_control_v1>.stride),
    pause: { pointer in
        guard let provider = instance(pointer) else { return mh_status(MH_INVALID) }
        provider.engine.pause()
        return mh_status(MH_OK)
    },
    resume: { pointer in
        guard let provider = instance(pointer) else { return mh_status(MH_INVALID) }
        provider.engine.resume()
        return mh_status(MH_OK)
    },
    seek: { pointer, offset in
        guard let provider = instance(pointer) else { return mh_status(MH_INVALID) }
        do throws(PluginError) {
            try provider.engine.seek(toOffset: offset)
            return mh_status(MH_OK)
        } catch {
            return error.status
        }
    },
    set_speed: { pointer, speed in
        guard let provider = instance(pointer) else { return mh_status(MH_INVALID) }
        do throws(PluginError) {
            try provider.engine.setSpeed(speed)
            return mh_status(MH_OK)
        } catch {
            return error.status
        }
    },
    status: { pointer, out in
        guard let provider = instance(pointer) else { return mh_status(MH_INVALID) }
        out.write(provider.engine.statusJSON())
        return mh_status(MH_OK)
    }
)

nonisolated(unsafe) let replayControlTable = PluginExport.permanent(replayControl)

nonisolated(unsafe) let descriptor = PluginExport.makeDescriptor(
    kind: mh_kind(MH_KIND_PROVIDER), id: "markethub.recorded-provider", version: "1.0.0",
    description: "Replays recorded or synthetic market sessions, with scripted faults and QA controls",
    vtable: PluginExport.permanent(providerVTable))

@c(markethub_plugin_entry_v1)
public func markethubPluginEntry(_ major: UInt16, _ minor: UInt16) -> UnsafePointer<mh_plugin>? {
    PluginExport.entry(hostMajor: major, descriptor: descriptor)
}
