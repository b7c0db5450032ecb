import NIOCore
import PluginKit

/// What hosts send each other through Redis pub/sub. Every message starts with the sending host's instance id,
/// so a host skips its own.
///
/// - Room event (`<prefix>:room:<room>`): `origin \n event \n conflationKey \n payload`. The payload is the
///   JSON the sending host encoded for its own clients, passed on untouched.
/// - Bars (`<prefix>:bars:<ticker>`) and stream states (`<prefix>:state`): a compact binary form of the
///   provider's records, for each host's chart hub to fold into its own candles.
enum ClusterMessage {
    static let newline = UInt8(ascii: "\n")

    static func roomEvent(origin: String, event: String, conflationKey: String, payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(origin.utf8.count + event.utf8.count + conflationKey.utf8.count + payload.count + 3)
        out.append(contentsOf: origin.utf8)
        out.append(newline)
        out.append(contentsOf: event.utf8)
        out.append(newline)
        out.append(contentsOf: conflationKey.utf8)
        out.append(newline)
        out.append(contentsOf: payload)
        return out
    }

    struct RoomEvent {
        var origin: Substring
        var event: String
        var conflationKey: String
        var payload: [UInt8]
    }

    static func parseRoomEvent(_ bytes: [UInt8]) -> RoomEvent? {
        var fields: [Int] = []
        var index = 0
        while fields.count < 3, index < bytes.count {
            if bytes[index] == newline { fields.append(index) }
            index += 1
        }
        guard fields.count == 3 else { return nil }
        return RoomEvent(
            origin: Substring(decoding: bytes[..<fields[0]], as: UTF8.self),
            event: String(decoding: bytes[(fields[0] + 1)..<fields[1]], as: UTF8.self),
            conflationKey: String(decoding: bytes[(fields[1] + 1)..<fields[2]], as: UTF8.self),
            payload: Array(bytes[(fields[2] + 1)...])
        )
    }

    // MARK: Binary records

    static func bars(origin: String, _ bars: [Bar]) -> [UInt8] {
        var buffer = ByteBuffer()
        write(origin, &buffer)
        buffer.writeInteger(UInt32(bars.count))
        for bar in bars {
            write(bar.symbol, &buffer)
            buffer.writeInteger(bar.timespan.rawValue)
            buffer.writeInteger(bar.multiplier)
            buffer.writeInteger(bar.startMilliseconds)
            buffer.writeInteger(bar.endMilliseconds)
            for value in [bar.open, bar.high, bar.low, bar.close, bar.volume, bar.vwap] {
                buffer.writeInteger(value.bitPattern)
            }
            buffer.writeInteger(bar.transactions)
            buffer.writeInteger(bar.updatedMilliseconds)
            write(bar.source, &buffer)
        }
        return Array(buffer.readableBytesView)
    }

    static func parseBars(_ bytes: [UInt8]) -> (origin: String, bars: [Bar])? {
        var buffer = ByteBuffer(bytes: bytes)
        guard let origin = read(&buffer), let count = buffer.readInteger(as: UInt32.self), count <= 100_000 else {
            return nil
        }
        var bars: [Bar] = []
        for _ in 0..<count {
            guard let symbol = read(&buffer), let span = buffer.readInteger(as: UInt32.self),
                let timespan = Timespan(rawValue: span), let multiplier = buffer.readInteger(as: Int32.self),
                let start = buffer.readInteger(as: Int64.self), let end = buffer.readInteger(as: Int64.self)
            else { return nil }
            var values: [Double] = []
            for _ in 0..<6 {
                guard let bits = buffer.readInteger(as: UInt64.self) else { return nil }
                values.append(Double(bitPattern: bits))
            }
            guard let transactions = buffer.readInteger(as: Int64.self),
                let updated = buffer.readInteger(as: Int64.self), let source = read(&buffer)
            else { return nil }
            bars.append(
                Bar(
                    symbol: symbol, timespan: timespan, multiplier: multiplier, startMilliseconds: start,
                    endMilliseconds: end, open: values[0], high: values[1], low: values[2], close: values[3],
                    volume: values[4], vwap: values[5], transactions: transactions, updatedMilliseconds: updated,
                    source: source))
        }
        return (origin, bars)
    }

    static func state(origin: String, _ state: StreamState) -> [UInt8] {
        var buffer = ByteBuffer()
        write(origin, &buffer)
        buffer.writeInteger(state.kind.rawValue)
        write(state.feed, &buffer)
        write(state.reason, &buffer)
        buffer.writeInteger(state.retryAfterMilliseconds ?? -1)
        buffer.writeInteger(UInt8(state.gap == nil ? 0 : 1))
        buffer.writeInteger(state.gap?.lowerBound ?? 0)
        buffer.writeInteger(state.gap?.upperBound ?? 0)
        return Array(buffer.readableBytesView)
    }

    static func parseState(_ bytes: [UInt8]) -> (origin: String, state: StreamState)? {
        var buffer = ByteBuffer(bytes: bytes)
        guard let origin = read(&buffer), let raw = buffer.readInteger(as: Int32.self),
            let kind = StreamState.Kind(rawValue: raw), let feed = read(&buffer), let reason = read(&buffer),
            let retry = buffer.readInteger(as: Int64.self), let hasGap = buffer.readInteger(as: UInt8.self),
            let lower = buffer.readInteger(as: Int64.self), let upper = buffer.readInteger(as: Int64.self),
            lower <= upper
        else { return nil }
        return (
            origin,
            StreamState(
                kind: kind, feed: feed, reason: reason, retryAfterMilliseconds: retry >= 0 ? retry : nil,
                gap: hasGap == 1 ? lower...upper : nil)
        )
    }

    private static func write(_ text: String, _ buffer: inout ByteBuffer) {
        let bytes = Array(text.utf8.prefix(Int(UInt16.max)))
        buffer.writeInteger(UInt16(bytes.count))
        buffer.writeBytes(bytes)
    }

    private static func read(_ buffer: inout ByteBuffer) -> String? {
        guard let length = buffer.readInteger(as: UInt16.self) else { return nil }
        return buffer.readString(length: Int(length))
    }
}
