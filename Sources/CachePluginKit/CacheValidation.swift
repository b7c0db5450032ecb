import PluginKit

/// The input rules every cache enforces the same way, so the host sees one behaviour whichever cache is
/// configured.
public enum CacheValidation {
    /// The largest chain or selection document accepted.
    public static let maximumDocumentBytes = 16 * 1024 * 1024

    /// Symbols may hold any printable Unicode (option tickers have colons; case is kept) but no control
    /// characters, and are 1 to 64 bytes of UTF-8.
    public static func symbol(_ symbol: String) throws(PluginError) {
        guard !symbol.isEmpty, symbol.utf8.count <= 64 else {
            throw .invalid("symbol must be 1 to 64 bytes of UTF-8, got \(symbol.utf8.count) bytes")
        }
        guard !symbol.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .invalid("symbol contains control characters")
        }
    }

    public static func bars(_ bars: [Bar]) throws(PluginError) {
        for bar in bars {
            try symbol(bar.symbol)
            guard bar.multiplier > 0 else { throw .invalid("bar for \(bar.symbol) has multiplier \(bar.multiplier)") }
            guard [bar.open, bar.high, bar.low, bar.close, bar.volume].allSatisfy(\.isFinite) else {
                throw .invalid("bar for \(bar.symbol) at \(bar.startMilliseconds) has a non-finite price or volume")
            }
        }
    }

    public static func document(_ json: [UInt8], what: String) throws(PluginError) {
        guard !json.isEmpty else { throw .invalid("\(what) document is empty") }
        guard json.count <= maximumDocumentBytes else {
            throw .invalid("\(what) document is \(json.count) bytes, over the \(maximumDocumentBytes)-byte limit")
        }
    }

    public static func key(_ key: String) throws(PluginError) {
        guard !key.isEmpty, key.utf8.count <= 256 else { throw .invalid("selection key must be 1 to 256 bytes") }
    }
}
