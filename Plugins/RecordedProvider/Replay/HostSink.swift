import PluginAPI
import PluginKit

/// The host's `mh_provider_sink` as a `ReplaySink`: values become borrowed C records for each call. Shared by
/// every provider plugin that reports through `ReplaySink` (the recorded and the Massive provider).
public struct HostSink: ReplaySink, @unchecked Sendable {
    // @unchecked: the sink table is owned by the host, valid from create until destroy, and its functions are
    // documented [any] thread.
    let sink: UnsafePointer<mh_provider_sink>

    public init(sink: UnsafePointer<mh_provider_sink>) { self.sink = sink }

    private func has(_ field: PartialKeyPath<mh_provider_sink>) -> Bool {
        guard let offset = MemoryLayout<mh_provider_sink>.offset(of: field) else { return false }
        return Int(sink.pointee.struct_size) >= offset + MemoryLayout<UInt>.size
    }

    public func quotes(_ quotes: [Quote]) {
        guard has(\.on_quotes), let call = sink.pointee.on_quotes else { return }
        Records.withQuotes(quotes) { records, count in
            if let records { call(sink.pointee.ctx, records, count) }
        }
    }

    public func trades(_ trades: [Trade]) {
        guard has(\.on_trades), let call = sink.pointee.on_trades else { return }
        Records.withTrades(trades) { records, count in
            if let records { call(sink.pointee.ctx, records, count) }
        }
    }

    public func bars(_ bars: [Bar]) {
        guard has(\.on_bars), let call = sink.pointee.on_bars else { return }
        Records.withBars(bars) { records, count in
            if let records { call(sink.pointee.ctx, records, count) }
        }
    }

    public func state(_ state: StreamStateEvent) {
        guard has(\.on_state), let call = sink.pointee.on_state else { return }
        withMHString(state.feed) { feed in
            withMHString(state.reason) { reason in
                var record = mh_stream_state()
                record.struct_size = UInt32(MemoryLayout<mh_stream_state>.stride)
                record.state = state.kind.rawValue
                record.feed = feed
                record.reason = reason
                record.retry_after_ms = state.retryAfterMilliseconds
                record.gap_from_ms = state.gapFromMilliseconds
                record.gap_to_ms = state.gapToMilliseconds
                withUnsafePointer(to: &record) { call(sink.pointee.ctx, $0) }
            }
        }
    }

    public func subscriptionError(symbol: String, channels: Channels, status: mh_status, message: String) {
        guard has(\.on_subscription_error), let call = sink.pointee.on_subscription_error else { return }
        withMHString(symbol) { symbol in
            withMHString(message) { message in call(sink.pointee.ctx, symbol, channels.rawValue, status, message) }
        }
    }
}
