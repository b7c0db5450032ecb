import MarketCalendar

/// Call or put.
public enum OptionRight: String, Sendable, Hashable, Codable {
    case call
    case put
}

/// A vendor option ticker in OCC layout: `O:` + root (1–6 letters or digits) + `YYMMDD` + `C`/`P` + strike
/// × 1000 as eight digits, e.g. `O:SPY251219C00650000`.
public struct OptionTicker: Sendable, Hashable, CustomStringConvertible {
    public var root: String
    public var expiration: CivilDate
    public var right: OptionRight
    /// Strike in thousandths of a dollar (exact).
    public var strikeThousandths: Int64

    public init(root: String, expiration: CivilDate, right: OptionRight, strike: Double) {
        self.root = root
        self.expiration = expiration
        self.right = right
        self.strikeThousandths = Int64((strike * 1_000).rounded())
    }

    public var strike: Double { Double(strikeThousandths) / 1_000 }

    /// Parses a ticker, from the right as the layout requires; the `O:` prefix is optional. Nil when malformed.
    public init?(_ text: String) {
        var body = Substring(text)
        if body.hasPrefix("O:") { body = body.dropFirst(2) }
        let bytes = Array(body.utf8)
        guard bytes.count >= 16, bytes.count <= 21 else { return nil }
        let rootBytes = bytes[0..<(bytes.count - 15)]
        guard
            rootBytes.allSatisfy({
                ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z"))
                    || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
            })
        else { return nil }
        let tail = bytes[(bytes.count - 15)...]
        func digits(_ slice: ArraySlice<UInt8>) -> Int64? {
            var value: Int64 = 0
            for byte in slice {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        let base = tail.startIndex
        guard let yy = digits(tail[base..<base + 2]), let mm = digits(tail[base + 2..<base + 4]),
            let dd = digits(tail[base + 4..<base + 6]), let strike = digits(tail[base + 7..<base + 15]),
            let date = CivilDate(year: 2000 + Int(yy), month: Int(mm), day: Int(dd))
        else { return nil }
        switch tail[base + 6] {
        case UInt8(ascii: "C"): right = .call
        case UInt8(ascii: "P"): right = .put
        default: return nil
        }
        root = String(decoding: rootBytes, as: UTF8.self)
        expiration = date
        strikeThousandths = strike
    }

    /// `O:SPY251219C00650000`.
    public var description: String {
        let year = expiration.year % 100
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let strikeText = String(strikeThousandths)
        return "O:\(root)\(two(year))\(two(expiration.month))\(two(expiration.day))\(right == .call ? "C" : "P")"
            + String(repeating: "0", count: max(0, 8 - strikeText.count)) + strikeText
    }
}
