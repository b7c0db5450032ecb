import PluginKit

extension AggregatesRoutes {
    /// The `/api/market/aggs` body, written straight into bytes: the same JSON as `encode(_:)` (same members, same
    /// order, same number texts) without building a `JSONValue` tree first. A year of daily bars is ~2,000 values;
    /// building and then serialising the tree cost most of a cached request's time.
    static func encodeBytes(_ answer: AggregatesAnswer) -> [UInt8] {
        var out = JSONBytes(capacity: 256 + answer.bars.count * 110)
        out.raw("{\"ticker\":")
        out.string(answer.ticker)
        out.raw(",\"resultTicker\":")
        out.string(answer.resultTicker)
        out.raw(",\"multiplier\":")
        out.integer(Int64(answer.query.multiplier))
        out.raw(",\"timespan\":")
        out.string(answer.query.timespan.name)
        out.raw(",\"resultGranularity\":")
        out.string(answer.resultGranularity)
        out.raw(",\"sessionMode\":")
        out.string(answer.query.sessionMode.rawValue)
        out.raw(",\"from\":")
        out.integer(answer.fromMilliseconds)
        out.raw(",\"to\":")
        out.integer(answer.toMilliseconds)
        out.raw(",\"count\":")
        out.integer(Int64(answer.bars.count))
        out.raw(",\"bars\":[")
        for (index, bar) in answer.bars.enumerated() {
            out.raw(index == 0 ? "{\"t\":" : ",{\"t\":")
            out.integer(bar.startMilliseconds)
            out.raw(",\"o\":")
            out.number(bar.open)
            out.raw(",\"h\":")
            out.number(bar.high)
            out.raw(",\"l\":")
            out.number(bar.low)
            out.raw(",\"c\":")
            out.number(bar.close)
            out.raw(",\"v\":")
            out.number(bar.volume)
            out.raw(",\"vw\":")
            if bar.vwap.isFinite { out.number(bar.vwap) } else { out.raw("null") }
            out.raw(",\"n\":")
            if bar.transactions >= 0 { out.integer(bar.transactions) } else { out.raw("null") }
            out.raw("}")
        }
        out.raw("],\"marketClosed\":")
        out.bool(answer.marketClosed)
        out.raw(",\"afterHours\":")
        out.bool(answer.afterHours)
        out.raw(",\"usingLastSession\":")
        out.bool(answer.usingLastSession)
        out.raw(",\"note\":")
        if answer.notes.isEmpty { out.raw("null") } else { out.string(answer.notes.joined(separator: " ")) }
        out.raw(",\"health\":")
        out.string(answer.health)
        out.raw(",\"source\":")
        out.string(answer.source)
        out.raw(",\"marketStatus\":{\"market\":")
        out.string(answer.marketStatus.market)
        out.raw(",\"earlyHours\":")
        out.bool(answer.marketStatus.earlyHours)
        out.raw(",\"afterHours\":")
        out.bool(answer.marketStatus.afterHours)
        out.raw(",\"source\":")
        out.string(answer.marketStatus.source)
        out.raw("}}")
        return out.bytes
    }
}

/// A JSON text being written into bytes.
struct JSONBytes {
    var bytes: [UInt8] = []

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func bool(_ value: Bool) { raw(value ? "true" : "false") }

    mutating func string(_ value: String) {
        var text = ""
        JSONNumber.appendString(value, to: &text)
        bytes.append(contentsOf: text.utf8)
    }

    /// Decimal digits of an integer.
    mutating func integer(_ value: Int64) {
        if value < 0 { bytes.append(0x2D) }
        var magnitude = value.magnitude
        var divisor: UInt64 = 1
        while divisor <= magnitude / 10 { divisor *= 10 }
        repeat {
            bytes.append(UInt8(truncatingIfNeeded: magnitude / divisor) + 0x30)
            magnitude %= divisor
            divisor /= 10
        } while divisor > 0
    }

    /// The same text as `JSONNumber.text`: integral values without a fraction, others the shortest round trip.
    mutating func number(_ value: Double) {
        guard value.isFinite else {
            raw("null")
            return
        }
        if value == value.rounded(), abs(value) < 1e15 {
            integer(Int64(value))
        } else {
            bytes.append(contentsOf: value.description.utf8)
        }
    }
}
