import Foundation
import PluginAPI
import PluginKit
import Recording
import Synchronization
import Testing

/// A host as a C plugin sees it: an `mh_host_api` table whose clock and timers are a manual scheduler, and an
/// `mh_provider_sink` that records what arrives. Exercises the built `.so` through `dlopen`, like the host.
final class FakeHost: @unchecked Sendable {
    // @unchecked: the C tables are written once in init and only read afterwards; mutable state is in Mutexes.
    let scheduler = ManualScheduler(wallMilliseconds: SampleRecording.open)
    let api: UnsafeMutablePointer<mh_host_api>
    let sink: UnsafeMutablePointer<mh_provider_sink>
    let quotes = Mutex<[Quote]>([])
    let states = Mutex<[Int32]>([])
    let errors = Mutex<[String]>([])
    let logs = Mutex<[String]>([])

    struct TimerCall: @unchecked Sendable {
        let function: mh_timer_fn
        let argument: UnsafeMutableRawPointer?
    }

    init() {
        api = .allocate(capacity: 1)
        sink = .allocate(capacity: 1)
        var table = mh_host_api()
        table.struct_size = UInt32(MemoryLayout<mh_host_api>.stride)
        table.abi_major = UInt16(MH_ABI_MAJOR)
        table.log = { ctx, _, message, _ in FakeHost.from(ctx).logs.withLock { $0.append(String(message)) } }
        table.now_ns = { ctx in FakeHost.from(ctx).scheduler.wallNanoseconds }
        table.monotonic_ns = { ctx in FakeHost.from(ctx).scheduler.monotonicNanoseconds }
        table.schedule = { ctx, delay, function, argument in
            guard let function else { return 0 }
            let call = TimerCall(function: function, argument: argument)
            return FakeHost.from(ctx).scheduler.schedule(afterNanoseconds: delay) { call.function(call.argument) }
                ? 1 : 0
        }
        table.cancel = { _, _ in 0 }
        api.initialize(to: table)
        var sinkTable = mh_provider_sink()
        sinkTable.struct_size = UInt32(MemoryLayout<mh_provider_sink>.stride)
        sinkTable.on_quotes = { ctx, records, count in
            FakeHost.from(ctx).quotes.withLock { $0.append(contentsOf: Records.quotes(records, count: count) ?? []) }
        }
        sinkTable.on_trades = { _, _, _ in }
        sinkTable.on_bars = { _, _, _ in }
        sinkTable.on_state = { ctx, state in
            if let state { FakeHost.from(ctx).states.withLock { $0.append(state.pointee.state) } }
        }
        sinkTable.on_subscription_error = { ctx, symbol, _, _, _ in
            FakeHost.from(ctx).errors.withLock { $0.append(String(symbol)) }
        }
        sink.initialize(to: sinkTable)
        let context = Unmanaged.passUnretained(self).toOpaque()
        api.pointee.ctx = context
        sink.pointee.ctx = context
    }

    deinit {
        api.deallocate()
        sink.deallocate()
    }

    static func from(_ ctx: UnsafeMutableRawPointer?) -> FakeHost {
        Unmanaged<FakeHost>.fromOpaque(ctx!).takeUnretainedValue()
    }
}

/// Collects one completion.
final class CompletionBox: @unchecked Sendable {
    // @unchecked: written by the completion callback under the Mutex, read by the test.
    let result = Mutex<OperationResult?>(nil)
}

@Suite struct PluginABITests {
    /// The plugin built next to the test binary (any configuration), else in the package's debug build folder.
    static let libraryPath: String = {
        let name = "libRecordedProvider.so"
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            name)
        if FileManager.default.fileExists(atPath: beside.path) { return beside.path }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/\(name)").path
    }()

    func load() throws -> UnsafePointer<mh_plugin> {
        let handle = try #require(
            dlopen(Self.libraryPath, RTLD_NOW | RTLD_LOCAL), "build the plugin first: \(Self.libraryPath)")
        let symbol = try #require(dlsym(handle, MH_ENTRY_SYMBOL))
        let entry = unsafeBitCast(symbol, to: mh_entry_fn.self)
        #expect(entry(2, 0) == nil)
        return try #require(entry(UInt16(MH_ABI_MAJOR), 7))
    }

    @Test func descriptorAndVTable() throws {
        let plugin = try load()
        #expect(String(cString: plugin.pointee.id) == "markethub.recorded-provider")
        #expect(plugin.pointee.kind == mh_kind(MH_KIND_PROVIDER))
        #expect(String(cString: plugin.pointee.toolchain) == SwiftToolchain.id)
        let vtable = plugin.pointee.vtable.assumingMemoryBound(to: mh_provider_vtable.self)
        #expect(vtable.pointee.struct_size == UInt32(MemoryLayout<mh_provider_vtable>.stride))
    }

    @Test func badConfigurationIsAClearError() throws {
        let vtable = try load().pointee.vtable.assumingMemoryBound(to: mh_provider_vtable.self).pointee
        let host = FakeHost()
        let error = ErrorBuffer()
        var instance: UnsafeMutableRawPointer?
        for (config, needle) in [
            (#"{"source":"file"}"#, "needs a path"), (#"{"speed":"fast"}"#, "speed"), (#"{"colour":1}"#, "colour"),
            (#"{"source":"file","path":"/nonexistent/x.jsonl"}"#, "/nonexistent/x.jsonl"), ("{", "not JSON"),
            (#"{"date":"2025-12-25","window":"09:30-09:31"}"#, "not a trading day"),
        ] {
            error.clear()
            let status = withMHString(config) { vtable.create!(host.api, $0, host.sink, &instance, error.errbuf) }
            #expect(status == mh_status(MH_INVALID), "\(config)")
            #expect(error.message.contains(needle), "\(error.message)")
        }
    }

    @Test func syntheticSessionEndToEndThroughTheCABI() throws {
        let vtable = try load().pointee.vtable.assumingMemoryBound(to: mh_provider_vtable.self).pointee
        let host = FakeHost()
        let error = ErrorBuffer()
        var instance: UnsafeMutableRawPointer?
        let config =
            #"{"source":"synthetic","underlyings":["SPY"],"date":"2025-12-08","seed":7,"window":"09:30-09:33","speed":0}"#
        let created = withMHString(config) { vtable.create!(host.api, $0, host.sink, &instance, error.errbuf) }
        #expect(created == mh_status(MH_OK), "\(error.message)")
        let subscribed = withMHStrings(["SPY", "BOGUS"]) {
            vtable.subscribe!(instance, $0.baseAddress, $0.count, mh_channels(MH_CHANNEL_QUOTES), error.errbuf)
        }
        #expect(subscribed == mh_status(MH_OK))
        #expect(vtable.start!(instance, error.errbuf) == mh_status(MH_OK))
        #expect(host.errors.withLock { $0 } == ["BOGUS"])
        host.scheduler.runUntilIdle()
        let quotes = host.quotes.withLock { $0 }
        #expect(quotes.count > 100 && quotes.allSatisfy { $0.symbol == "SPY" })
        // Both feeds (stocks, options) connect, then go live.
        let connecting = Int32(MH_STREAM_CONNECTING)
        let live = Int32(MH_STREAM_LIVE)
        #expect(Array(host.states.withLock { $0 }.prefix(4)) == [connecting, connecting, live, live])

        // A look-up through mh_request with params JSON, completed through mh_done_fn.
        let box = CompletionBox()
        let context = Unmanaged.passRetained(box).toOpaque()
        let params = Array(#"{"expiration":"2025-12-12","contractType":"call"}"#.utf8)
        let status = withMHString("SPY") { ticker in
            params.withUnsafeBufferPointer { buffer in
                var request = mh_request()
                request.struct_size = UInt32(MemoryLayout<mh_request>.stride)
                request.kind = mh_request_kind(MH_REQUEST_CHAIN_SNAPSHOT)
                request.ticker = ticker
                request.params_json = mh_bytes(ptr: buffer.baseAddress, len: buffer.count)
                return vtable.request!(
                    instance, &request,
                    { ctx, result in
                        let box = Unmanaged<CompletionBox>.fromOpaque(ctx!).takeRetainedValue()
                        box.result.withLock { $0 = OperationResult(result) }
                    }, context)
            }
        }
        #expect(status == mh_status(MH_OK))
        let result = try #require(box.result.withLock { $0 })
        let text = String(decoding: result.json, as: UTF8.self)
        #expect(
            result.isOK && text.hasPrefix(#"{"underlying":"SPY","underlyingPrice":"#)
                && !text.contains(#""type":"put""#))

        // Replay control through the extension.
        let control = try #require(vtable.get_extension!(instance, MH_EXT_REPLAY_CONTROL)).assumingMemoryBound(
            to: mh_replay_control_v1.self
        ).pointee
        #expect(vtable.get_extension!(instance, "markethub.unknown/1") == nil)
        let out = ErrorBuffer(capacity: 2_048)
        #expect(control.status!(instance, out.errbuf) == mh_status(MH_OK))
        #expect(out.message.contains(#""state":"ended""#))
        #expect(control.seek!(instance, 0) == mh_status(MH_OK))
        #expect(control.pause!(instance) == mh_status(MH_OK))
        #expect(control.set_speed!(instance, 2) == mh_status(MH_OK))
        #expect(control.seek!(instance, -5) == mh_status(MH_INVALID))
        let detail = ErrorBuffer()
        #expect(vtable.health!(instance, detail.errbuf) == mh_health_state(MH_HEALTH_OK))

        vtable.stop!(instance)
        let before = host.quotes.withLock { $0.count }
        #expect(control.resume!(instance) == mh_status(MH_OK))
        host.scheduler.runUntilIdle()
        #expect(host.quotes.withLock { $0.count } == before)
        vtable.destroy!(instance)
    }

    @Test func fileSourceWithASideFaultScript() throws {
        let vtable = try load().pointee.vtable.assumingMemoryBound(to: mh_provider_vtable.self).pointee
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("abi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let recordingPath = directory.appendingPathComponent("session.jsonl.gz").path
        let writer = try RecordingWriter(path: recordingPath, header: try SampleRecording.recording().header)
        for entry in try SampleRecording.recording().entries {
            switch entry {
            case .frame(let at, let feed, let bytes): writer.appendFrame(atMilliseconds: at, feed: feed, frame: bytes)
            case .rest(let exchange): writer.append(exchange)
            case .fault(let fault): writer.append(fault)
            }
        }
        try writer.close()
        let faultsPath = directory.appendingPathComponent("faults.json").path
        try Data(#"{"version":1,"faults":[{"kind":"rest-429","atMs":0,"durationMs":60000,"retryAfterMs":2500}]}"#.utf8)
            .write(to: URL(fileURLWithPath: faultsPath))
        let host = FakeHost()
        let error = ErrorBuffer()
        var instance: UnsafeMutableRawPointer?
        let config =
            #"{"source":"file","path":"\#(recordingPath)","faults":"\#(faultsPath)","timeShift":"none","speed":0}"#
        let created = withMHString(config) { vtable.create!(host.api, $0, host.sink, &instance, error.errbuf) }
        #expect(created == mh_status(MH_OK), "\(error.message)")
        #expect(vtable.start!(instance, error.errbuf) == mh_status(MH_OK))
        let box = CompletionBox()
        let context = Unmanaged.passRetained(box).toOpaque()
        var request = mh_request()
        request.struct_size = UInt32(MemoryLayout<mh_request>.stride)
        request.kind = mh_request_kind(MH_REQUEST_MARKET_STATUS)
        let status = vtable.request!(
            instance, &request,
            { ctx, result in
                let box = Unmanaged<CompletionBox>.fromOpaque(ctx!).takeRetainedValue()
                box.result.withLock { $0 = OperationResult(result) }
            }, context)
        #expect(status == mh_status(MH_OK))
        let result = try #require(box.result.withLock { $0 })
        #expect(result.status == mh_status(MH_RATE_LIMITED) && result.retryAfterMilliseconds == 2_500)
        // Unknown request kinds are refused synchronously, without a completion.
        request.kind = 77
        #expect(vtable.request!(instance, &request, { _, _ in }, nil) == mh_status(MH_UNSUPPORTED))
        vtable.stop!(instance)
        vtable.stop!(instance)
        vtable.destroy!(instance)
        // A fault script that is not valid is a configuration error naming the file.
        try Data("{".utf8).write(to: URL(fileURLWithPath: faultsPath))
        error.clear()
        var other: UnsafeMutableRawPointer?
        let refused = withMHString(config) { vtable.create!(host.api, $0, host.sink, &other, error.errbuf) }
        #expect(refused == mh_status(MH_INVALID) && error.message.contains("faults.json"))
    }
}
