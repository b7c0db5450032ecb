// libFuzzer harness: the vendor WebSocket frame decoder (MassiveWire.FrameDecoder).
// Invariants: decoding is deterministic; the fast reader and the general reader agree (events, slots, issues and
// interned symbols); and every decoded quote, trade and status event re-encodes (FrameEncoder) to a frame that
// decodes to the same events without issues.
import MassiveWire
import PluginKit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMassiveFrames(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let decoder = FrameDecoder()
    let first = decoder.decode(bytes)
    let second = decoder.decode(bytes)
    // Events are compared by description: absent sizes decode to NaN, which is never == itself.
    check(
        "\(first.events)" == "\(second.events)" && first.issues == second.issues, "decoding is not deterministic")

    check(
        readerOutcome(bytes, fast: true) == readerOutcome(bytes, fast: false),
        "the fast and general readers disagree on \(String(decoding: bytes, as: UTF8.self))")

    var encoder = FrameEncoder()
    var expected: [StreamEvent] = []
    for event in first.events {
        switch event {
        case .quote(let quote):
            encoder.append(quote)
            // The vendor sends whole lots (100 shares for stocks, 1 contract for options) and so does the
            // encoder, rounding down: a fractional size read from the input comes back as whole lots.
            let lot: Double = quote.symbol.hasPrefix("O:") ? 1 : 100
            var whole = quote
            whole.bidSize = (quote.bidSize / lot).rounded(.down) * lot
            whole.askSize = (quote.askSize / lot).rounded(.down) * lot
            expected.append(.quote(whole))
        case .trade(let trade):
            encoder.append(trade)
            expected.append(event)
        case .status(let status):
            encoder.append(status)
            expected.append(event)
        case .aggregate:
            continue
        }
    }
    if !expected.isEmpty {
        let frame = encoder.take()
        let again = decoder.decode(frame)
        check(again.issues.isEmpty, "a re-encoded frame has issues: \(again.issues) in \(frame)")
        check("\(again.events)" == "\(expected)", "re-encoding changed the events: \(frame)")
    }
    return 0
}

/// What one reader makes of a frame, in comparable form (events by description: NaN is never == itself).
func readerOutcome(_ bytes: [UInt8], fast: Bool) -> String {
    let decoder = FrameDecoder(shiftMilliseconds: 1_000, source: "fuzz", usesFastPath: fast)
    var table = SymbolTable()
    var events: [String] = []
    let issues = bytes.withUnsafeBufferPointer { buffer in
        decoder.decode(buffer, symbols: &table) { event, slot in events.append("\(slot) \(event)") }
    }
    return "\(events) \(issues) \(table.symbols)"
}

/// A failed invariant stops the run with its message (unlike `precondition`, also in optimized builds).
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError(message()) }
}
