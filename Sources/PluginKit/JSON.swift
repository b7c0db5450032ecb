/// A JSON value, as parsed by `JSONScanner`. Objects keep their members in document order so that encoding
/// a value back is deterministic.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// Integers that fit in 64 bits keep their exact value (nanosecond timestamps need all 19 digits).
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.integer(let a), .integer(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// The member named `key` of an object; nil otherwise.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    /// The element at `index` of an array; nil otherwise or out of range.
    public subscript(index: Int) -> JSONValue? {
        guard case .array(let values) = self, values.indices.contains(index) else { return nil }
        return values[index]
    }

    public var double: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .number(let value): value
        default: nil
        }
    }

    /// An integer value; a number with no fractional part also counts (vendors send `100.0` sizes).
    public var int64: Int64? {
        switch self {
        case .integer(let value): value
        case .number(let value):
            value.rounded() == value && abs(value) < 9.2e18 ? Int64(value) : nil
        default: nil
        }
    }

    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var array: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Parses one JSON document (surrounding whitespace allowed).
    public static func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer throws(JSONError) in
            var scanner = JSONScanner(buffer)
            let value = try scanner.readValue()
            scanner.skipWhitespace()
            guard scanner.isAtEnd else { throw scanner.error("unexpected text after the JSON value") }
            return value
        }
    }

    public static func parse(_ text: String) throws(JSONError) -> JSONValue { try parse(Array(text.utf8)) }

    /// Returns a copy of this object with `key` set to `value` (appended when new). Non-objects become objects.
    public func setting(_ key: String, to value: JSONValue) -> JSONValue {
        var members: [(String, JSONValue)] = []
        if case .object(let existing) = self { members = existing }
        if let index = members.firstIndex(where: { $0.0 == key }) {
            members[index].1 = value
        } else {
            members.append((key, value))
        }
        return .object(members)
    }

    /// Compact JSON text as UTF-8 bytes.
    public var bytes: [UInt8] { Array(text.utf8) }

    /// Compact JSON text; object members in stored order.
    public var text: String {
        var out = ""
        write(to: &out)
        return out
    }

    public func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .integer(let value): out += String(value)
        case .number(let value): out += JSONNumber.text(value)
        case .string(let value): JSONNumber.appendString(value, to: &out)
        case .array(let values):
            out += "["
            for (index, value) in values.enumerated() {
                if index > 0 { out += "," }
                value.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { out += "," }
                JSONNumber.appendString(member.0, to: &out)
                out += ":"
                member.1.write(to: &out)
            }
            out += "}"
        }
    }
}

/// Why some JSON text could not be read.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    /// Byte offset of the problem.
    public let offset: Int

    public init(message: String, offset: Int) {
        self.message = message
        self.offset = offset
    }
    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}

/// Text forms of numbers and strings, shared by every JSON encoder in the project.
public enum JSONNumber {
    /// The shortest text that reads back as `value`; non-finite values (which JSON cannot hold) become null.
    public static func text(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return value.description
    }

    /// Appends a quoted, escaped JSON string.
    public static func appendString(_ value: String, to out: inout String) {
        out += "\""
        var plain = true
        for byte in value.utf8 where byte < 0x20 || byte == 0x22 || byte == 0x5C {
            plain = false
            break
        }
        if plain {
            out += value
        } else {
            for scalar in value.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case let c where c.value < 0x20:
                    let hex = String(c.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

/// A forward-only JSON reader over borrowed bytes. It never traps on bad input: every problem is a thrown
/// `JSONError` with the byte offset. Numbers are read without Foundation: integers exactly, decimals through
/// an exact fast path when the digits and exponent allow it, otherwise through the standard library parser.
public struct JSONScanner {
    public let bytes: UnsafeBufferPointer<UInt8>
    public var position: Int = 0
    /// Nesting limit so hostile input cannot exhaust the stack.
    static let maximumDepth = 128
    var depth = 0

    public init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    public var isAtEnd: Bool { position >= bytes.count }

    public func error(_ message: String) -> JSONError { JSONError(message: message, offset: position) }

    @inlinable @inline(__always)
    public mutating func skipWhitespace() {
        while position < bytes.count {
            let byte = bytes[position]
            guard byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return }
            position += 1
        }
    }

    @inlinable @inline(__always)
    public mutating func peek() -> UInt8? {
        skipWhitespace()
        return position < bytes.count ? bytes[position] : nil
    }

    @inlinable @inline(__always)
    public mutating func expect(_ byte: UInt8) throws(JSONError) {
        guard peek() == byte else { throw error("expected '\(Character(Unicode.Scalar(byte)))'") }
        position += 1
    }

    /// Consumes `byte` if it is next (after whitespace).
    @inlinable @inline(__always)
    public mutating func consume(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        position += 1
        return true
    }

    /// Reads a string and returns the byte range of its raw contents (between the quotes) plus whether it held
    /// escapes. Use `decodeString` to turn an escaped range into text.
    @inlinable
    public mutating func readStringRange() throws(JSONError) -> (range: Range<Int>, escaped: Bool) {
        try expect(0x22)
        let start = position
        var escaped = false
        while position < bytes.count {
            let byte = bytes[position]
            if byte == 0x22 {
                let range = start..<position
                position += 1
                return (range, escaped)
            }
            if byte == 0x5C {
                escaped = true
                position += 2
                continue
            }
            if byte < 0x20 { throw error("control character inside a string") }
            position += 1
        }
        throw error("unterminated string")
    }

    public mutating func readString() throws(JSONError) -> String {
        let (range, escaped) = try readStringRange()
        return try text(range, escaped: escaped)
    }

    /// The text of a string range returned by `readStringRange`.
    public func text(_ range: Range<Int>, escaped: Bool) throws(JSONError) -> String {
        let slice = UnsafeBufferPointer(rebasing: bytes[range])
        if !escaped { return String(decoding: slice, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(range.count)
        var index = range.lowerBound
        while index < range.upperBound {
            let byte = bytes[index]
            guard byte == 0x5C else {
                out.append(byte)
                index += 1
                continue
            }
            guard index + 1 < range.upperBound else { throw JSONError(message: "dangling escape", offset: index) }
            let code = bytes[index + 1]
            index += 2
            switch code {
            case 0x22: out.append(0x22)
            case 0x5C: out.append(0x5C)
            case 0x2F: out.append(0x2F)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                var scalar = try hex4(at: index)
                index += 4
                if (0xD800..<0xDC00).contains(scalar), index + 6 <= range.upperBound, bytes[index] == 0x5C,
                    bytes[index + 1] == 0x75
                {
                    let low = try hex4(at: index + 2)
                    if (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        index += 6
                    }
                }
                let character = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(character)).utf8))
            default: throw JSONError(message: "unknown escape", offset: index - 1)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private func hex4(at index: Int) throws(JSONError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw JSONError(message: "short \\u escape", offset: index) }
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = bytes[index + offset]
            let digit: UInt32
            switch byte {
            case 0x30...0x39: digit = UInt32(byte - 0x30)
            case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
            default: throw JSONError(message: "bad \\u escape", offset: index + offset)
            }
            value = value << 4 | digit
        }
        return value
    }

    /// Compares the raw bytes of a string range with an ASCII key.
    @inline(__always)
    @inlinable
    public func equals(_ range: Range<Int>, _ key: StaticString) -> Bool {
        guard range.count == key.utf8CodeUnitCount else { return false }
        let pointer = key.utf8Start
        for offset in 0..<range.count where bytes[range.lowerBound + offset] != pointer[offset] { return false }
        return true
    }

    /// A number: `.integer` when it is written without fraction or exponent and fits, else `.number`.
    public mutating func readNumber() throws(JSONError) -> JSONValue {
        let scanned = try scanNumber()
        return scanned.isInteger ? .integer(scanned.integer) : .number(scanned.double)
    }

    /// A scanned number: exact when integral (`isInteger`), else its nearest double.
    public struct ScannedNumber {
        public var isInteger: Bool
        public var integer: Int64
        public var double: Double

        @inlinable
        init(isInteger: Bool, integer: Int64, double: Double) {
            self.isInteger = isInteger
            self.integer = integer
            self.double = double
        }

        /// The value as an integer when it has no fractional part.
        @inline(__always)
        public var exactInteger: Int64? {
            if isInteger { return integer }
            return double.rounded() == double && abs(double) < 9.2e18 ? Int64(double) : nil
        }
    }

    /// Scans a number without building a `JSONValue`.
    @inlinable @inline(__always)
    public mutating func scanNumber() throws(JSONError) -> ScannedNumber {
        skipWhitespace()
        let start = position
        var negative = false
        if position < bytes.count, bytes[position] == 0x2D {
            negative = true
            position += 1
        }
        var mantissa: UInt64 = 0
        var digits = 0
        var exactDigits = true
        while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 {
            if digits < 19 {
                mantissa = mantissa * 10 + UInt64(bytes[position] - 0x30)
            } else {
                exactDigits = false
            }
            digits += 1
            position += 1
        }
        guard digits > 0 else { throw error("expected a value") }
        if digits > 1, bytes[start + (negative ? 1 : 0)] == 0x30 { throw error("leading zero in a number") }
        var fractionDigits = 0
        var isInteger = true
        if position < bytes.count, bytes[position] == 0x2E {
            isInteger = false
            position += 1
            var any = false
            while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 {
                if digits < 19 {
                    mantissa = mantissa * 10 + UInt64(bytes[position] - 0x30)
                    fractionDigits += 1
                } else {
                    exactDigits = false
                }
                digits += 1
                any = true
                position += 1
            }
            guard any else { throw error("digits expected after '.'") }
        }
        var exponent = 0
        if position < bytes.count, bytes[position] == 0x65 || bytes[position] == 0x45 {
            isInteger = false
            position += 1
            var exponentNegative = false
            if position < bytes.count, bytes[position] == 0x2B || bytes[position] == 0x2D {
                exponentNegative = bytes[position] == 0x2D
                position += 1
            }
            var any = false
            while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 {
                if exponent < 10_000 { exponent = exponent * 10 + Int(bytes[position] - 0x30) }
                any = true
                position += 1
            }
            guard any else { throw error("digits expected in exponent") }
            if exponentNegative { exponent = -exponent }
        }
        if isInteger, exactDigits, mantissa <= UInt64(Int64.max) {
            let value = negative ? -Int64(mantissa) : Int64(mantissa)
            return ScannedNumber(isInteger: true, integer: value, double: Double(value))
        }
        let power = exponent - fractionDigits
        if exactDigits, mantissa < (1 << 53), power >= -22, power <= 22 {
            // Both operands are exact doubles, so one correctly rounded operation gives the nearest double.
            let base = Double(mantissa)
            let scaled = power < 0 ? base / Self.powersOfTen[-power] : base * Self.powersOfTen[power]
            return ScannedNumber(isInteger: false, integer: 0, double: negative ? -scaled : scaled)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        guard let value = Double(text) else { throw JSONError(message: "number out of range", offset: start) }
        return ScannedNumber(isInteger: false, integer: 0, double: value)
    }

    @usableFromInline static let powersOfTen: [Double] = (0...22).map { exponent in
        var value = 1.0
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    /// Reads a number as a Double (integers converted).
    @inline(__always)
    public mutating func readDouble() throws(JSONError) -> Double { try scanNumber().double }

    /// Reads a number that must be integral.
    @inline(__always)
    public mutating func readInt64() throws(JSONError) -> Int64 {
        let start = position
        guard let value = try scanNumber().exactInteger else {
            throw JSONError(message: "expected an integer", offset: start)
        }
        return value
    }

    /// Reads `null` if it is next; returns whether it did.
    @inline(__always)
    @inlinable
    public mutating func consumeNull() -> Bool {
        guard peek() == 0x6E, position + 4 <= bytes.count, bytes[position + 1] == 0x75, bytes[position + 2] == 0x6C,
            bytes[position + 3] == 0x6C
        else { return false }
        position += 4
        return true
    }

    private mutating func literal(_ word: StaticString) throws(JSONError) {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw error("unexpected end of input") }
        for offset in 0..<count where bytes[position + offset] != word.utf8Start[offset] {
            throw error("unknown literal")
        }
        position += count
    }

    /// Reads any value.
    public mutating func readValue() throws(JSONError) -> JSONValue {
        guard let next = peek() else { throw error("unexpected end of input") }
        switch next {
        case 0x7B:
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.maximumDepth else { throw error("nesting too deep") }
            position += 1
            var members: [(String, JSONValue)] = []
            if consume(0x7D) { return .object(members) }
            repeat {
                let key = try readString()
                try expect(0x3A)
                members.append((key, try readValue()))
            } while consume(0x2C)
            try expect(0x7D)
            return .object(members)
        case 0x5B:
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.maximumDepth else { throw error("nesting too deep") }
            position += 1
            var values: [JSONValue] = []
            if consume(0x5D) { return .array(values) }
            repeat { values.append(try readValue()) } while consume(0x2C)
            try expect(0x5D)
            return .array(values)
        case 0x22: return .string(try readString())
        case 0x74:
            try literal("true")
            return .bool(true)
        case 0x66:
            try literal("false")
            return .bool(false)
        case 0x6E:
            try literal("null")
            return .null
        default: return try readNumber()
        }
    }

    /// Skips one value of any kind without building it; returns the byte range it occupied.
    @discardableResult
    public mutating func skipValue() throws(JSONError) -> Range<Int> {
        guard let next = peek() else { throw error("unexpected end of input") }
        let start = position
        switch next {
        case 0x7B, 0x5B:
            let close: UInt8 = next == 0x7B ? 0x7D : 0x5D
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.maximumDepth else { throw error("nesting too deep") }
            position += 1
            if consume(close) { return start..<position }
            repeat {
                if next == 0x7B {
                    _ = try readStringRange()
                    try expect(0x3A)
                }
                try skipValue()
            } while consume(0x2C)
            try expect(close)
        case 0x22: _ = try readStringRange()
        case 0x74: try literal("true")
        case 0x66: try literal("false")
        case 0x6E: try literal("null")
        default: _ = try readNumber()
        }
        return start..<position
    }
}
