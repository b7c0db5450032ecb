import Foundation

/// What the host accepts as a market symbol from a client.
enum SymbolRules {
    /// Normalizes (trims, upper-cases) and validates a client-supplied symbol; nil when it is not a stock,
    /// index or OCC option ticker.
    static func normalize(_ raw: String) -> String? {
        let symbol = raw.trimmingCharacters(in: .whitespaces).uppercased()
        guard !symbol.isEmpty, symbol.utf8.count <= 32 else { return nil }
        if symbol.hasPrefix("O:") { return isOptionTicker(symbol) ? symbol : nil }
        if symbol.hasPrefix("I:") {
            let body = symbol.dropFirst(2)
            return !body.isEmpty && body.count <= 10 && body.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
                ? symbol : nil
        }
        guard let first = symbol.first, first.isASCII, first.isLetter, symbol.count <= 10 else { return nil }
        return symbol.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") } ? symbol : nil
    }

    /// `O:` + root (1–6 letters/digits) + YYMMDD + C/P + strike × 1000 in 8 digits.
    static func isOptionTicker(_ symbol: String) -> Bool {
        let body = Array(symbol.utf8.dropFirst(2))
        guard body.count >= 16, body.count <= 21 else { return false }
        let rootLength = body.count - 15
        let root = body[0..<rootLength]
        let date = body[rootLength..<rootLength + 6]
        let right = body[rootLength + 6]
        let strike = body[(rootLength + 7)...]
        func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
        func isUpperAlnum(_ byte: UInt8) -> Bool { isDigit(byte) || (byte >= 0x41 && byte <= 0x5A) }
        guard root.allSatisfy(isUpperAlnum), date.allSatisfy(isDigit), right == 0x43 || right == 0x50,
            strike.count == 8, strike.allSatisfy(isDigit)
        else { return false }
        let month = Int(date[date.startIndex + 2] - 0x30) * 10 + Int(date[date.startIndex + 3] - 0x30)
        let day = Int(date[date.startIndex + 4] - 0x30) * 10 + Int(date[date.startIndex + 5] - 0x30)
        return (1...12).contains(month) && (1...31).contains(day)
    }

    static func isOption(_ symbol: String) -> Bool { symbol.hasPrefix("O:") }
}
