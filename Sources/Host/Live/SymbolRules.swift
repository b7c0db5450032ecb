/// What the host accepts as a market symbol from a client.
enum SymbolRules {
    /// Normalizes (trims, upper-cases) and validates a client-supplied symbol; nil when it is not a stock,
    /// index or OCC option ticker.
    /// Works on the UTF-8 bytes (every valid ticker is ASCII): this runs for every REST request and socket
    /// subscription, and Foundation's trimming and Unicode case mapping cost more than the rest of a cached answer.
    static func normalize(_ raw: String) -> String? {
        var bytes = Array(raw.utf8)
        func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
        while let last = bytes.last, isBlank(last) { bytes.removeLast() }
        let leading = bytes.prefix(while: isBlank).count
        if leading > 0 { bytes.removeFirst(leading) }
        guard !bytes.isEmpty, bytes.count <= 32 else { return nil }
        for index in bytes.indices {
            let byte = bytes[index]
            guard byte < 0x80 else { return nil }
            if byte >= 0x61 && byte <= 0x7A { bytes[index] = byte - 0x20 }
        }
        func isLetter(_ byte: UInt8) -> Bool { byte >= 0x41 && byte <= 0x5A }
        func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
        let symbol = String(decoding: bytes, as: UTF8.self)
        if bytes.count >= 2, bytes[1] == 0x3A, bytes[0] == 0x4F {  // "O:"
            return isOptionTicker(symbol) ? symbol : nil
        }
        if bytes.count >= 2, bytes[1] == 0x3A, bytes[0] == 0x49 {  // "I:"
            let body = bytes.dropFirst(2)
            return !body.isEmpty && body.count <= 10 && body.allSatisfy({ isLetter($0) || isDigit($0) }) ? symbol : nil
        }
        guard isLetter(bytes[0]), bytes.count <= 10 else { return nil }
        return bytes.allSatisfy { isLetter($0) || isDigit($0) || $0 == 0x2E || $0 == 0x2D } ? symbol : nil
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
