import PluginKit

/// The day-level fields an aggregate event carries besides its own window.
public struct AggregateDayFields: Sendable, Equatable {
    /// Accumulated volume for the day (`av`).
    public var accumulatedVolume: Double
    /// The day's official open (`op`).
    public var dayOpen: Double
    /// The day's running VWAP (`a`).
    public var dayVWAP: Double
    /// Average trade size in the window (`z`).
    public var averageSize: Double

    public init(accumulatedVolume: Double, dayOpen: Double, dayVWAP: Double, averageSize: Double) {
        self.accumulatedVolume = accumulatedVolume
        self.dayOpen = dayOpen
        self.dayVWAP = dayVWAP
        self.averageSize = averageSize
    }
}

/// Writes vendor WebSocket frames exactly in the vendor's shape, so generated sessions and a fake server look
/// like the real feed. Output is deterministic: fixed member order, shortest round-tripping numbers.
public struct FrameEncoder: Sendable {
    private var elements: [String] = []

    public init() {}

    public var isEmpty: Bool { elements.isEmpty }

    /// Appends a quote (`Q`). Timestamps are truncated to milliseconds; stock sizes are written in round lots.
    public mutating func append(_ quote: Quote) {
        let lot: Double = isOptionSymbol(quote.symbol) ? 1 : 100
        var out = "{\"ev\":\"Q\",\"sym\":"
        JSONNumber.appendString(quote.symbol, to: &out)
        out += ",\"bx\":\(quote.bidExchange),\"ax\":\(quote.askExchange)"
        out += ",\"bp\":\(JSONNumber.text(quote.bidPrice)),\"ap\":\(JSONNumber.text(quote.askPrice))"
        out += ",\"bs\":\(JSONNumber.text((quote.bidSize / lot).rounded(.down)))"
        out += ",\"as\":\(JSONNumber.text((quote.askSize / lot).rounded(.down)))"
        out += ",\"t\":\(Self.milliseconds(quote.timestampNanoseconds)),\"q\":\(quote.sequence)}"
        elements.append(out)
    }

    /// Appends a trade (`T`).
    public mutating func append(_ trade: Trade) {
        var out = "{\"ev\":\"T\",\"sym\":"
        JSONNumber.appendString(trade.symbol, to: &out)
        out += ",\"x\":\(trade.exchange)"
        if !trade.tradeID.isEmpty {
            out += ",\"i\":"
            JSONNumber.appendString(trade.tradeID, to: &out)
        }
        out += ",\"p\":\(JSONNumber.text(trade.price)),\"s\":\(JSONNumber.text(trade.size))"
        if !trade.conditions.isEmpty {
            out += ",\"c\":[" + trade.conditions.map(String.init).joined(separator: ",") + "]"
        }
        out += ",\"t\":\(Self.milliseconds(trade.timestampNanoseconds)),\"q\":\(trade.sequence)}"
        elements.append(out)
    }

    /// Appends an aggregate: `A` for a one-second bar, `AM` for a one-minute bar.
    public mutating func append(_ bar: Bar, day: AggregateDayFields) {
        var out = bar.timespan == .second ? "{\"ev\":\"A\",\"sym\":" : "{\"ev\":\"AM\",\"sym\":"
        JSONNumber.appendString(bar.symbol, to: &out)
        out += ",\"v\":\(JSONNumber.text(bar.volume)),\"av\":\(JSONNumber.text(day.accumulatedVolume))"
        out += ",\"op\":\(JSONNumber.text(day.dayOpen)),\"vw\":\(JSONNumber.text(bar.vwap))"
        out += ",\"o\":\(JSONNumber.text(bar.open)),\"c\":\(JSONNumber.text(bar.close))"
        out += ",\"h\":\(JSONNumber.text(bar.high)),\"l\":\(JSONNumber.text(bar.low))"
        out += ",\"a\":\(JSONNumber.text(day.dayVWAP)),\"z\":\(JSONNumber.text(day.averageSize.rounded()))"
        let end =
            bar.endMilliseconds != 0
            ? bar.endMilliseconds : bar.startMilliseconds + (bar.timespan.fixedMilliseconds ?? 0)
        out += ",\"s\":\(bar.startMilliseconds),\"e\":\(end)}"
        elements.append(out)
    }

    /// Appends a status message.
    public mutating func append(_ status: StatusEvent) {
        var out = "{\"ev\":\"status\",\"status\":"
        JSONNumber.appendString(status.status, to: &out)
        out += ",\"message\":"
        JSONNumber.appendString(status.message, to: &out)
        out += "}"
        elements.append(out)
    }

    /// The encoded event objects (each one JSON object text), leaving the encoder empty. Callers that group
    /// events into frames themselves join them inside `[` and `]`.
    public mutating func takeElements() -> [String] {
        let taken = elements
        elements.removeAll(keepingCapacity: true)
        return taken
    }

    /// The frame text (a JSON array) and a reset encoder.
    public mutating func take() -> String {
        let frame = "[" + elements.joined(separator: ",") + "]"
        elements.removeAll(keepingCapacity: true)
        return frame
    }

    static func milliseconds(_ nanoseconds: Int64) -> Int64 {
        let quotient = nanoseconds / 1_000_000
        return nanoseconds % 1_000_000 < 0 ? quotient - 1 : quotient
    }
}
