/// The frame decoder's fast path: reads one event object of a well-formed vendor frame in a single pass over raw
/// bytes, fusing the scanning of each member name with its packing and each value with its conversion.
///
/// It accepts only the plain shapes the vendor sends (no whitespace, no escapes, no nulls, numbers of at most 18
/// digits without an exponent, integers without a fraction). On anything else it gives up without side effects
/// beyond interning a symbol, and the decoder reads the same element again with the general reader, which has the
/// final word on meaning and on error messages. Both readers therefore agree on every input; the tests and the
/// fuzz harness check that they do.
struct FastElementReader {
    let base: UnsafePointer<UInt8>
    let end: Int
    var index: Int

    @inline(__always)
    init(_ base: UnsafePointer<UInt8>, count: Int, at index: Int) {
        self.base = base
        self.end = count
        self.index = index
    }

    // Inlining: `readValue`, `readDouble` and `readInteger` are `@_transparent` because the optimizer kept them
    // out of line despite `@inline(__always)`, and the calls (register saves, the position spilled through
    // `self`) cost 8 % of the replay's instructions (callgrind, ReplayBenchmark). Everything else inlines as asked.

    /// The next byte, or 0 at the end (0 never starts or continues anything this reader accepts).
    @inline(__always)
    private var current: UInt8 { index < end ? base[index] : 0 }

    /// Reads the object at `index` into `f`; false when the general reader must take over.
    @inline(__always)
    mutating func read(into f: inout FrameDecoder.Fields, symbols: inout SymbolTable) -> Bool {
        guard current == 0x7B else { return false }
        index += 1
        while true {
            guard current == 0x22, let key = readKey(), current == 0x3A else { return false }
            index += 1
            guard readValue(key, &f, &symbols) else { return false }
            let next = current
            index += 1
            if next == 0x2C { continue }
            return next == 0x7D
        }
    }

    /// A member name packed little-endian into 64 bits; names longer than eight bytes pack to a code no known
    /// member has. Nil on an escape, a control character or the end of input.
    @inline(__always)
    private mutating func readKey() -> UInt64? {
        // Most vendor member names are one or two letters: look for the closing quote there first.
        if index + 3 < end {
            let first = base[index + 1]
            let second = base[index + 2]
            if first != 0x22, first != 0x5C, first >= 0x20 {
                if second == 0x22 {
                    index += 3
                    return UInt64(first)
                }
                if second != 0x5C, second >= 0x20, base[index + 3] == 0x22 {
                    index += 4
                    return UInt64(first) | UInt64(second) << 8
                }
            }
        }
        var i = index &+ 1
        var code: UInt64 = 0
        var shift: UInt64 = 0
        while i < end {
            let byte = base[i]
            i &+= 1
            if byte == 0x22 {
                index = i
                return shift > 64 ? .max : code
            }
            if byte == 0x5C || byte < 0x20 { return nil }
            if shift < 64 { code |= UInt64(byte) << shift }
            shift &+= 8
        }
        return nil
    }

    /// The raw byte range of a string value without escapes; nil otherwise.
    @inline(__always)
    private mutating func readPlainString() -> Range<Int>? {
        guard current == 0x22 else { return nil }
        let start = index &+ 1
        var i = start
        while i < end {
            let byte = base[i]
            if byte == 0x22 {
                index = i &+ 1
                return start..<i
            }
            if byte == 0x5C || byte < 0x20 { return nil }
            i &+= 1
        }
        return nil
    }

    /// Exact powers of ten up to 10^18, without a lazily initialized global on the hot path.
    @inline(__always)
    private static func powerOfTen(_ exponent: Int) -> Double {
        switch exponent {
        case 0: 1
        case 1: 1e1
        case 2: 1e2
        case 3: 1e3
        case 4: 1e4
        case 5: 1e5
        case 6: 1e6
        case 7: 1e7
        case 8: 1e8
        case 9: 1e9
        case 10: 1e10
        case 11: 1e11
        case 12: 1e12
        case 13: 1e13
        case 14: 1e14
        case 15: 1e15
        case 16: 1e16
        case 17: 1e17
        default: 1e18
        }
    }

    /// Whether all eight bytes of a little-endian word are ASCII digits: each high nibble is 3, and adding 6
    /// to the low nibble does not carry out of it.
    @inline(__always)
    static func isEightDigits(_ chunk: UInt64) -> Bool {
        let high: UInt64 = 0xF0F0_F0F0_F0F0_F0F0
        return chunk & high == 0x3030_3030_3030_3030 && (chunk &+ 0x0606_0606_0606_0606) & high == 0x3030_3030_3030_3030
    }

    /// The value of eight ASCII digits held little-endian (the first digit in the lowest byte), combined in three
    /// multiply-and-shift steps: pairs, then groups of four, then all eight.
    @inline(__always)
    static func eightDigits(_ chunk: UInt64) -> UInt64 {
        var value = chunk & 0x0F0F_0F0F_0F0F_0F0F
        value = (value &* (10 << 8 + 1)) >> 8
        value = ((value & 0x00FF_00FF_00FF_00FF) &* (100 << 16 + 1)) >> 16
        return ((value & 0x0000_FFFF_0000_FFFF) &* (10_000 << 32 + 1)) >> 32
    }

    /// The parts of a plain number: its digits as one integer, how many of them follow the point (-1: no
    /// point), and the sign.
    typealias PlainNumber = (mantissa: UInt64, fractionDigits: Int, negative: Bool)

    /// A number in the plain form `-?(0|[1-9][0-9]*)(\.[0-9]+)?` with at most 18 digits, converted exactly as
    /// `JSONScanner.scanNumber` converts it.
    @inline(__always)
    private mutating func readPlainNumber(long: Bool = false) -> PlainNumber? {
        // The position lives in a local while scanning, so it stays in a register (stores through `self` could
        // alias the bytes as far as the compiler knows). On failure it is not written back: the read is abandoned.
        let base = self.base
        let end = self.end
        var i = index
        var negative = false
        if i < end, base[i] == 0x2D {
            negative = true
            i &+= 1
        }
        let start = i
        var mantissa: UInt64 = 0
        // For integers that are usually long (times have 13 digits, sequence numbers up to 10): eight digits at a
        // time while they last. Wrapping beyond 18 digits does not matter, such numbers are declined below.
        while long, i &+ 8 <= end {
            let chunk = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self).littleEndian
            guard Self.isEightDigits(chunk) else { break }
            mantissa = mantissa &* 100_000_000 &+ Self.eightDigits(chunk)
            i &+= 8
        }
        while i < end {
            let digit = base[i] &- 0x30
            guard digit < 10 else { break }
            mantissa = mantissa &* 10 &+ UInt64(digit)
            i &+= 1
        }
        let integerDigits = i &- start
        guard integerDigits > 0, integerDigits == 1 || base[start] != 0x30 else { return nil }
        var fractionDigits = -1
        if i < end, base[i] == 0x2E {
            i &+= 1
            let fractionStart = i
            while i < end {
                let digit = base[i] &- 0x30
                guard digit < 10 else { break }
                mantissa = mantissa &* 10 &+ UInt64(digit)
                i &+= 1
            }
            fractionDigits = i &- fractionStart
            guard fractionDigits > 0 else { return nil }
        }
        // Exponents, and digits beyond what fits exactly, are the general reader's business.
        guard integerDigits &+ max(fractionDigits, 0) <= 18 else { return nil }
        if i < end, base[i] | 0x20 == 0x65 { return nil }
        index = i
        return (mantissa, fractionDigits, negative)
    }

    @_transparent
    private mutating func readDouble() -> Double? {
        guard let (mantissa, fractionDigits, negative) = readPlainNumber() else { return nil }
        if fractionDigits < 0 {
            // As the general reader: an integer goes through Int64, so "-0" is +0.0.
            let value = Int64(mantissa)
            return Double(negative ? -value : value)
        }
        guard mantissa < (1 << 53) else { return nil }
        let scaled = Double(mantissa) / Self.powerOfTen(fractionDigits)
        return negative ? -scaled : scaled
    }

    @_transparent
    private mutating func readInteger(long: Bool = false) -> Int64? {
        guard let (mantissa, fractionDigits, negative) = readPlainNumber(long: long), fractionDigits < 0 else {
            return nil
        }
        let value = Int64(mantissa)
        return negative ? -value : value
    }

    @_transparent
    private mutating func readValue(_ key: UInt64, _ f: inout FrameDecoder.Fields, _ table: inout SymbolTable) -> Bool {
        typealias D = FrameDecoder
        switch key {
        case D.keyEv:
            guard let range = readPlainString() else { return false }
            f.ev = D.kind(ofEv: range.count <= 8 ? D.pack(UnsafeBufferPointer(start: base, count: end), range) : 0)
        case D.keySym:
            guard let range = readPlainString() else { return false }
            f.symbol = table.intern(UnsafeBufferPointer(start: base + range.lowerBound, count: range.count))
            f.isOption = range.count > 2 && base[range.lowerBound] == 0x4F && base[range.lowerBound + 1] == 0x3A
        case D.keyT:
            f.t = readInteger(long: true)
            return f.t != nil
        case D.keyQ:
            f.q = readInteger(long: true)
            return f.q != nil
        case D.keyBp:
            f.bidPrice = readDouble()
            return f.bidPrice != nil
        case D.keyAp:
            f.askPrice = readDouble()
            return f.askPrice != nil
        case D.keyBs:
            f.bidSize = readDouble()
            return f.bidSize != nil
        case D.keyAs:
            f.askSize = readDouble()
            return f.askSize != nil
        case D.keyBx:
            f.bidExchange = readInteger()
            return f.bidExchange != nil
        case D.keyAx:
            f.askExchange = readInteger()
            return f.askExchange != nil
        case D.keyX:
            f.x = readInteger()
            return f.x != nil
        case D.keyP:
            f.p = readDouble()
            return f.p != nil
        case D.keyS:
            f.s = readDouble()
            return f.s != nil
        case D.keyV:
            f.v = readDouble()
            return f.v != nil
        case D.keyO:
            f.o = readDouble()
            return f.o != nil
        case D.keyH:
            f.h = readDouble()
            return f.h != nil
        case D.keyL:
            f.l = readDouble()
            return f.l != nil
        case D.keyE:
            f.e = readInteger(long: true)
            return f.e != nil
        case D.keyN:
            f.n = readInteger()
            return f.n != nil
        case D.keyVw:
            f.vw = readDouble()
            return f.vw != nil
        case D.keyI:
            if current == 0x22 {
                guard let range = readPlainString() else { return false }
                f.tradeID = (range, false)
            } else {
                return skipPlainValue()
            }
        case D.keyC:
            if current == 0x5B {
                return readConditions(&f)
            }
            guard let value = readDouble() else { return false }
            f.cNumber = value
        case D.keyStatus:
            guard let range = readPlainString() else { return false }
            f.status = (range, false)
        case D.keyMessage:
            guard let range = readPlainString() else { return false }
            f.message = (range, false)
        default:
            return skipPlainValue()
        }
        return true
    }

    /// Condition codes: integers that fit in 32 bits.
    @inline(__always)
    private mutating func readConditions(_ f: inout FrameDecoder.Fields) -> Bool {
        readFlatArray { reader in
            guard let code = reader.readInteger(), let narrow = Int32(exactly: code) else { return false }
            f.conditions.append(narrow)
            return true
        }
    }

    /// Skips a member the decoder does not use, when it is a plain string or number, or a flat array of those
    /// (quote indicators, `"i":[604]`).
    @inline(__always)
    private mutating func skipPlainValue() -> Bool {
        guard current == 0x5B else { return skipPlainScalar() }
        return readFlatArray { $0.skipPlainScalar() }
    }

    /// Walks the array at `index` (its `[` is next), reading each element with `element`; false on anything but
    /// elements separated by commas and closed by `]`.
    @inline(__always)
    private mutating func readFlatArray(_ element: (inout FastElementReader) -> Bool) -> Bool {
        index += 1
        if current == 0x5D {
            index += 1
            return true
        }
        while true {
            guard element(&self) else { return false }
            let next = current
            index += 1
            if next == 0x2C { continue }
            return next == 0x5D
        }
    }

    @inline(__always)
    private mutating func skipPlainScalar() -> Bool {
        if current == 0x22 { return readPlainString() != nil }
        return readPlainNumber() != nil
    }
}
