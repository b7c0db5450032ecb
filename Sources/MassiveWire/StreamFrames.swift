import PluginAPI
import PluginKit

/// A vendor WebSocket `status` message (`connected`, `auth_success`, `auth_failed`, `success`...).
public struct StatusEvent: Sendable, Equatable {
    public var status: String
    public var message: String

    public init(status: String, message: String) {
        self.status = status
        self.message = message
    }
}

/// One event of a vendor WebSocket frame, in PluginKit's value types.
public enum StreamEvent: Sendable, Equatable {
    case quote(Quote)
    case trade(Trade)
    /// `A` (per-second, timespan `.second`) or `AM` (per-minute, timespan `.minute`), multiplier 1.
    case aggregate(Bar)
    case status(StatusEvent)

    /// The symbol the event is about; empty for status messages.
    public var symbol: String {
        switch self {
        case .quote(let quote): quote.symbol
        case .trade(let trade): trade.symbol
        case .aggregate(let bar): bar.symbol
        case .status: ""
        }
    }

    /// The channel the event belongs to; empty for status messages.
    public var channel: Channels {
        switch self {
        case .quote: .quotes
        case .trade: .trades
        case .aggregate(let bar): bar.timespan == .second ? .aggSecond : .aggMinute
        case .status: []
        }
    }
}

/// A problem with one frame or one element of it. Decoding never traps: bad input becomes one of these and
/// the rest of the frame (when it can still be read) is decoded.
public struct FrameIssue: Error, Sendable, Equatable, CustomStringConvertible {
    /// Index of the element in the frame's array, or nil when the frame as a whole could not be read.
    public var element: Int?
    public var message: String

    public init(element: Int?, message: String) {
        self.element = element
        self.message = message
    }

    public var description: String {
        element.map { "frame element \($0): \(message)" } ?? "frame: \(message)"
    }
}

/// Vendor option tickers start with this prefix; everything else on the stream is treated as a stock.
@inline(__always)
func isOptionSymbol(_ symbol: String) -> Bool {
    var iterator = symbol.utf8.makeIterator()
    return iterator.next() == UInt8(ascii: "O") && iterator.next() == UInt8(ascii: ":")
}

/// Decodes Massive WebSocket frames: a JSON array of event objects (`Q`, `T`, `A`, `AM`, `status`).
///
/// Stream timestamps are milliseconds; quotes and trades come out in nanoseconds as the ABI wants. Stock quote
/// sizes arrive in round lots and come out in shares. Unknown event types are skipped silently (the vendor has
/// more channels than MarketHub uses); events missing a required field are skipped and reported.
public struct FrameDecoder: Sendable {
    /// Added to every timestamp (replays use it to move a recorded session in time).
    public var shiftMilliseconds: Int64
    /// Bars are labelled with this provenance.
    public var source: String

    /// Whether well-formed elements go through the single-pass fast reader (`FastElementReader`). Turning it
    /// off leaves every element to the general reader; the results are the same either way, which the tests and
    /// the fuzz harness check by decoding with both.
    public var usesFastPath: Bool

    public init(shiftMilliseconds: Int64 = 0, source: String = "stream", usesFastPath: Bool = true) {
        self.shiftMilliseconds = shiftMilliseconds
        self.source = source
        self.usesFastPath = usesFastPath
    }

    /// Decodes a whole frame into events plus the issues met on the way.
    public func decode(_ frame: [UInt8]) -> (events: [StreamEvent], issues: [FrameIssue]) {
        var events: [StreamEvent] = []
        let issues = frame.withUnsafeBufferPointer { buffer in decode(buffer) { events.append($0) } }
        return (events, issues)
    }

    public func decode(_ frame: String) -> (events: [StreamEvent], issues: [FrameIssue]) { decode(Array(frame.utf8)) }

    /// Decodes a frame, handing each event to `handle` in order; returns the issues.
    public func decode(_ frame: UnsafeBufferPointer<UInt8>, _ handle: (StreamEvent) -> Void) -> [FrameIssue] {
        var symbols = SymbolTable()
        return decode(frame, symbols: &symbols) { event, _ in handle(event) }
    }

    /// Decodes a frame, interning symbols in `symbols`: each event comes with its symbol's slot (-1 for status
    /// messages), and events of one symbol share one string.
    public func decode(
        _ frame: UnsafeBufferPointer<UInt8>, symbols: inout SymbolTable, _ handle: (consuming StreamEvent, Int) -> Void
    ) -> [FrameIssue] {
        var scanner = JSONScanner(frame)
        var issues: [FrameIssue] = []
        do {
            try scanner.expect(0x5B)
            if scanner.consume(0x5D) {
                try finish(&scanner)
                return issues
            }
            var index = 0
            repeat {
                if usesFastPath, let failure = fastElement(&scanner, &symbols, handle) {
                    if let message = failure { issues.append(FrameIssue(element: index, message: message)) }
                } else if let message = try decodeElement(&scanner, &symbols, handle) {
                    issues.append(FrameIssue(element: index, message: message))
                }
                index += 1
            } while scanner.consume(0x2C)
            try scanner.expect(0x5D)
            try finish(&scanner)
        } catch {
            issues.append(FrameIssue(element: nil, message: error.description))
        }
        return issues
    }

    /// Decodes the element at the scanner with the fast reader and hands its event to `handle`. Returns nil
    /// (with the scanner where it was and nothing handled) when the general reader must decode it instead;
    /// otherwise `.some(nil)`, or `.some(message)` for an element that is well-formed JSON but not a usable event.
    @inline(__always)
    private func fastElement(
        _ scanner: inout JSONScanner, _ symbols: inout SymbolTable, _ handle: (consuming StreamEvent, Int) -> Void
    ) -> String?? {
        guard let base = scanner.bytes.baseAddress else { return nil }
        var reader = FastElementReader(base, count: scanner.bytes.count, at: scanner.position)
        var f = Fields()
        guard reader.read(into: &f, symbols: &symbols) else { return nil }
        let failure: String?
        do {
            failure = try build(
                f, symbol: f.symbol >= 0 ? symbols.symbols[f.symbol] : nil, slot: f.symbol, scanner: scanner, handle)
        } catch {
            // Only the text of an escaped string can fail, and the fast reader accepts none: nothing was handled.
            return nil
        }
        scanner.position = reader.index
        return .some(failure)
    }

    private func finish(_ scanner: inout JSONScanner) throws(JSONError) {
        scanner.skipWhitespace()
        guard scanner.isAtEnd else { throw scanner.error("unexpected text after the frame") }
    }

    /// The fields an event object may carry. `s` and `c` change meaning with the event type, so both
    /// readings are kept until the type is known.
    /// The event types the decoder knows, read from `ev` without building a string.
    enum Kind {
        case quote
        case trade
        case second
        case minute
        case status
        case other
    }

    /// Everything in it is plain data (strings are kept as byte ranges of the frame and made into `String`s
    /// only for the event that is built), so filling and dropping one per event costs no reference counting.
    struct Fields {
        var ev: Kind?
        /// The symbol's slot in the symbol table (-1: no `sym`).
        var symbol = -1
        /// Whether the symbol is an option ticker (`O:` prefix), noted while its bytes are at hand.
        var isOption = false
        var bidExchange: Int64?
        var askExchange: Int64?
        var bidPrice: Double?
        var askPrice: Double?
        var bidSize: Double?
        var askSize: Double?
        var t: Int64?
        var q: Int64?
        var x: Int64?
        var p: Double?
        var s: Double?
        var cNumber: Double?
        var conditions = Conditions()
        var tradeID: (range: Range<Int>, escaped: Bool)?
        var v: Double?
        var vw: Double?
        var o: Double?
        var h: Double?
        var l: Double?
        var e: Int64?
        var n: Int64?
        var status: (range: Range<Int>, escaped: Bool)?
        var message: (range: Range<Int>, escaped: Bool)?
    }

    /// Up to eight trade condition codes (what the ABI's record holds), stored inline.
    struct Conditions {
        var codes: (Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32) = (0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0

        mutating func append(_ code: Int32) {
            guard count < 8 else { return }
            withUnsafeMutableBytes(of: &codes) { $0.storeBytes(of: code, toByteOffset: count * 4, as: Int32.self) }
            count += 1
        }

        var array: [Int32] {
            guard count > 0 else { return [] }
            return withUnsafeBytes(of: codes) { raw in
                (0..<count).map { raw.load(fromByteOffset: $0 * 4, as: Int32.self) }
            }
        }
    }

    /// Decodes one element with the general reader and hands its event to `handle`; returns why the element
    /// is not a usable event, or nil.
    private func decodeElement(
        _ scanner: inout JSONScanner, _ symbols: inout SymbolTable, _ handle: (consuming StreamEvent, Int) -> Void
    ) throws(JSONError) -> String? {
        guard scanner.peek() == 0x7B else {
            try scanner.skipValue()
            return "not an object"
        }
        scanner.position += 1
        var f = Fields()
        var typeError: String?
        if !scanner.consume(0x7D) {
            repeat {
                let (key, escaped) = try scanner.readStringRange()
                try scanner.expect(0x3A)
                if escaped || key.count > 7 {
                    try scanner.skipValue()
                    continue
                }
                if scanner.consumeNull() { continue }
                if key.count == 3, scanner.equals(key, "sym"), scanner.peek() == 0x22 {
                    let (range, escaped) = try scanner.readStringRange()
                    if escaped {
                        let text = try scanner.text(range, escaped: true)
                        f.symbol = symbols.intern(text)
                        f.isOption = isOptionSymbol(text)
                    } else {
                        f.symbol = symbols.intern(UnsafeBufferPointer(rebasing: scanner.bytes[range]))
                        f.isOption =
                            range.count > 2 && scanner.bytes[range.lowerBound] == UInt8(ascii: "O")
                            && scanner.bytes[range.lowerBound + 1] == UInt8(ascii: ":")
                    }
                    continue
                }
                do {
                    try read(key, &scanner, &f)
                } catch let error as FieldTypeError {
                    typeError = typeError ?? error.message
                    try scanner.skipValue()
                } catch let error as JSONError {
                    throw error
                } catch {
                    throw scanner.error("\(error)")
                }
            } while scanner.consume(0x2C)
            try scanner.expect(0x7D)
        }
        if let typeError { return typeError }
        return try build(
            f, symbol: f.symbol >= 0 ? symbols.symbols[f.symbol] : nil, slot: f.symbol, scanner: scanner, handle)
    }

    private struct FieldTypeError: Error { let message: String }

    /// Reads one member. Throws `FieldTypeError` (leaving the scanner before the value) when the value has the
    /// wrong JSON type, and `JSONError` when the text is not JSON at all.
    /// Packs a short key into an integer (little-endian bytes) so members are matched with one comparison.
    @inline(__always)
    static func pack(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> UInt64 {
        var code: UInt64 = 0
        var shift: UInt64 = 0
        for index in range {
            code |= UInt64(bytes[index]) << shift
            shift += 8
        }
        return code
    }

    // Member names packed by `pack` (little-endian bytes), as literals so the hot switch needs no lazy globals.
    static let keyT: UInt64 = 0x74  // "t"
    static let keyQ: UInt64 = 0x71  // "q"
    static let keyX: UInt64 = 0x78  // "x"
    static let keyP: UInt64 = 0x70  // "p"
    static let keyS: UInt64 = 0x73  // "s"
    static let keyV: UInt64 = 0x76  // "v"
    static let keyO: UInt64 = 0x6F  // "o"
    static let keyH: UInt64 = 0x68  // "h"
    static let keyL: UInt64 = 0x6C  // "l"
    static let keyE: UInt64 = 0x65  // "e"
    static let keyN: UInt64 = 0x6E  // "n"
    static let keyI: UInt64 = 0x69  // "i"
    static let keyC: UInt64 = 0x63  // "c"
    static let keyEv: UInt64 = 0x7665  // "ev"
    static let keySym: UInt64 = 0x6D_7973  // "sym"
    static let keyBp: UInt64 = 0x7062  // "bp"
    static let keyAp: UInt64 = 0x7061  // "ap"
    static let keyBs: UInt64 = 0x7362  // "bs"
    static let keyAs: UInt64 = 0x7361  // "as"
    static let keyBx: UInt64 = 0x7862  // "bx"
    static let keyAx: UInt64 = 0x7861  // "ax"
    static let keyVw: UInt64 = 0x7776  // "vw"
    static let keyStatus: UInt64 = 0x7375_7461_7473  // "status"
    static let keyMessage: UInt64 = 0x65_6761_7373_656D  // "message"
    static let evQ: UInt64 = 0x51  // "Q"
    static let evT: UInt64 = 0x54  // "T"
    static let evA: UInt64 = 0x41  // "A"
    static let evAM: UInt64 = 0x4D41  // "AM"

    /// The event type named by an `ev` value packed with `pack` (0 for a value longer than eight bytes).
    @inline(__always)
    static func kind(ofEv code: UInt64) -> Kind {
        switch code {
        case evQ: .quote
        case evT: .trade
        case evA: .second
        case evAM: .minute
        case keyStatus: .status
        default: .other
        }
    }

    private func typeError(_ key: Range<Int>, _ scanner: JSONScanner, _ expected: String) -> FieldTypeError {
        FieldTypeError(message: "field \(name(key, scanner)) is not \(expected)")
    }

    @inline(__always)
    private func number(_ key: Range<Int>, _ scanner: inout JSONScanner, _ isNumber: Bool) throws(any Error) -> Double {
        guard isNumber else { throw typeError(key, scanner, "a number") }
        let start = scanner.position
        let value = try scanner.scanNumber().double
        // A literal beyond the double range reads as infinity, which no price, size or time can be.
        guard value.isFinite else {
            scanner.position = start
            throw typeError(key, scanner, "a finite number")
        }
        return value
    }

    @inline(__always)
    private func integer(_ key: Range<Int>, _ scanner: inout JSONScanner, _ isNumber: Bool) throws(any Error) -> Int64 {
        guard isNumber else { throw typeError(key, scanner, "a number") }
        let start = scanner.position
        guard let integer = try scanner.scanNumber().exactInteger else {
            scanner.position = start
            throw typeError(key, scanner, "an integer")
        }
        return integer
    }

    private func string(
        _ key: Range<Int>, _ scanner: inout JSONScanner, _ isString: Bool
    ) throws(any Error) -> (range: Range<Int>, escaped: Bool) {
        guard isString else { throw typeError(key, scanner, "a string") }
        return try scanner.readStringRange()
    }

    /// Reads one member. Throws `FieldTypeError` (leaving the scanner before the value) when the value has the
    /// wrong JSON type, and `JSONError` when the text is not JSON at all.
    private func read(_ key: Range<Int>, _ scanner: inout JSONScanner, _ f: inout Fields) throws(any Error) {
        let next = scanner.peek()
        let isNumber = next.map { $0 == 0x2D || ($0 >= 0x30 && $0 <= 0x39) } ?? false
        let isString = next == 0x22
        let code = Self.pack(scanner.bytes, key)
        switch code {
        case Self.keyT: f.t = try integer(key, &scanner, isNumber)
        case Self.keyQ: f.q = try integer(key, &scanner, isNumber)
        case Self.keyBp: f.bidPrice = try number(key, &scanner, isNumber)
        case Self.keyAp: f.askPrice = try number(key, &scanner, isNumber)
        case Self.keyBs: f.bidSize = try number(key, &scanner, isNumber)
        case Self.keyAs: f.askSize = try number(key, &scanner, isNumber)
        case Self.keyBx: f.bidExchange = try integer(key, &scanner, isNumber)
        case Self.keyAx: f.askExchange = try integer(key, &scanner, isNumber)
        case Self.keyX: f.x = try integer(key, &scanner, isNumber)
        case Self.keyP: f.p = try number(key, &scanner, isNumber)
        case Self.keyS: f.s = try number(key, &scanner, isNumber)
        case Self.keyV: f.v = try number(key, &scanner, isNumber)
        case Self.keyO: f.o = try number(key, &scanner, isNumber)
        case Self.keyH: f.h = try number(key, &scanner, isNumber)
        case Self.keyL: f.l = try number(key, &scanner, isNumber)
        case Self.keyE: f.e = try integer(key, &scanner, isNumber)
        case Self.keyN: f.n = try integer(key, &scanner, isNumber)
        case Self.keyVw: f.vw = try number(key, &scanner, isNumber)
        case Self.keyI:
            if isString { f.tradeID = try scanner.readStringRange() } else { try scanner.skipValue() }
        case Self.keyC:
            if next == 0x5B {
                try readConditions(&scanner, &f)
            } else {
                f.cNumber = try number(key, &scanner, isNumber)
            }
        case Self.keyEv:
            guard isString else { throw typeError(key, scanner, "a string") }
            let (range, _) = try scanner.readStringRange()
            f.ev = Self.kind(ofEv: range.count <= 8 ? Self.pack(scanner.bytes, range) : 0)
        case Self.keyStatus: f.status = try string(key, &scanner, isString)
        case Self.keyMessage: f.message = try string(key, &scanner, isString)
        default: try scanner.skipValue()
        }
    }

    private func readConditions(_ scanner: inout JSONScanner, _ f: inout Fields) throws(any Error) {
        try scanner.expect(0x5B)
        if scanner.consume(0x5D) { return }
        repeat {
            let start = scanner.position
            guard let code = try scanner.scanNumber().exactInteger, let narrow = Int32(exactly: code) else {
                scanner.position = start
                throw FieldTypeError(message: "condition codes must be integers")
            }
            f.conditions.append(narrow)
        } while scanner.consume(0x2C)
        try scanner.expect(0x5D)
    }

    private func name(_ key: Range<Int>, _ scanner: JSONScanner) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: scanner.bytes[key]), as: UTF8.self)
    }

    /// Stream milliseconds as nanoseconds plus `shift`; nil when that does not fit in 64 bits.
    static func nanoseconds(_ milliseconds: Int64, shift: Int64) -> Int64? {
        let (scaled, overflow) = milliseconds.multipliedReportingOverflow(by: 1_000_000)
        let (shifted, shiftOverflow) = scaled.addingReportingOverflow(shift)
        return overflow || shiftOverflow ? nil : shifted
    }

    /// Makes the event of a read element and hands it to `handle`; returns why the element is not a usable
    /// event instead, or nil.
    func build(
        _ f: borrowing Fields, symbol: String?, slot: Int, scanner: JSONScanner,
        _ handle: (consuming StreamEvent, Int) -> Void
    ) throws(JSONError) -> String? {
        guard let ev = f.ev else { return "missing ev" }
        let shiftNanoseconds = shiftMilliseconds &* 1_000_000
        func text(_ value: (range: Range<Int>, escaped: Bool)?) throws(JSONError) -> String? {
            guard let value else { return nil }
            return try scanner.text(value.range, escaped: value.escaped)
        }
        switch ev {
        case .quote:
            guard let symbol, !symbol.isEmpty else { return "quote without sym" }
            guard let t = f.t, let bid = f.bidPrice, let ask = f.askPrice else {
                return "quote \(symbol) lacks t, bp or ap"
            }
            guard let nanoseconds = Self.nanoseconds(t, shift: shiftNanoseconds) else {
                return "quote \(symbol) has a timestamp out of range"
            }
            let lot: Double = f.isOption ? 1 : 100
            var flags: UInt32 = 0
            if bid > ask, ask > 0 { flags |= UInt32(MH_QUOTE_CROSSED) }
            if bid == ask, bid > 0 { flags |= UInt32(MH_QUOTE_LOCKED) }
            if bid == 0 || ask == 0 { flags |= UInt32(MH_QUOTE_ZERO) }
            handle(
                .quote(
                    Quote(
                        symbol: symbol, timestampNanoseconds: nanoseconds, bidPrice: bid,
                        askPrice: ask, bidSize: (f.bidSize ?? .nan) * lot, askSize: (f.askSize ?? .nan) * lot,
                        bidExchange: Int32(clamping: f.bidExchange ?? -1),
                        askExchange: Int32(clamping: f.askExchange ?? -1), sequence: f.q ?? -1, flags: flags
                    )), slot)
            return nil
        case .trade:
            guard let symbol, !symbol.isEmpty else { return "trade without sym" }
            guard let t = f.t, let price = f.p, let size = f.s else {
                return "trade \(symbol) lacks t, p or s"
            }
            guard let nanoseconds = Self.nanoseconds(t, shift: shiftNanoseconds) else {
                return "trade \(symbol) has a timestamp out of range"
            }
            handle(
                .trade(
                    Trade(
                        symbol: symbol, timestampNanoseconds: nanoseconds, price: price,
                        size: size, exchange: Int32(clamping: f.x ?? -1), conditions: f.conditions.array,
                        sequence: f.q ?? -1, tradeID: try text(f.tradeID) ?? ""
                    )), slot)
            return nil
        case .second, .minute:
            guard let symbol, !symbol.isEmpty else { return "aggregate without sym" }
            guard let start = f.s, let open = f.o, let high = f.h, let low = f.l, let close = f.cNumber else {
                return "aggregate \(symbol) lacks s, o, h, l or c"
            }
            let second = ev == .second
            // Times beyond ±10^15 ms (year 33,000) are garbage, and would overflow once shifted or converted.
            let limit: Int64 = 1_000_000_000_000_000
            guard start.isFinite, abs(start) < Double(limit), (f.e ?? 0).magnitude < UInt64(limit) else {
                return "aggregate \(symbol) has a start or end out of range"
            }
            let startMilliseconds = Int64(start) &+ shiftMilliseconds
            let end = f.e.map { $0 &+ shiftMilliseconds } ?? startMilliseconds + (second ? 1_000 : 60_000)
            handle(
                .aggregate(
                    Bar(
                        symbol: symbol, timespan: second ? .second : .minute, multiplier: 1,
                        startMilliseconds: startMilliseconds, endMilliseconds: end, open: open, high: high, low: low,
                        close: close, volume: f.v ?? 0, vwap: f.vw ?? .nan, transactions: f.n ?? -1, source: source
                    )), slot)
            return nil
        case .status:
            handle(.status(StatusEvent(status: try text(f.status) ?? "", message: try text(f.message) ?? "")), slot)
            return nil
        case .other:
            return nil
        }
    }
}
