import PluginAPI

/// Reading and writing arrays of ABI records (rule 4 of the header: the stride of an array is the struct_size
/// of its first element, so writers built against other minor versions interoperate).
public enum Records {
    /// Copies `count` records starting at `base` into Swift values of the caller's layout. Fields the writer
    /// did not have read as zero. Returns nil when the array is malformed (a stride smaller than the
    /// `minimumSize` this reader needs, or larger than 64 KiB).
    public static func read<Record>(
        _ base: UnsafeRawPointer?, count: Int, as type: Record.Type = Record.self,
        minimumSize: Int = MemoryLayout<Record>.size
    ) -> [Record]? {
        guard count > 0 else { return [] }
        guard let base else { return nil }
        let stride = Int(base.loadUnaligned(as: UInt32.self))
        guard stride >= minimumSize, stride >= MemoryLayout<UInt32>.size, stride <= 65_536 else { return nil }
        let copySize = min(stride, MemoryLayout<Record>.size)
        let scratch = UnsafeMutableRawPointer.allocate(
            byteCount: MemoryLayout<Record>.size, alignment: MemoryLayout<Record>.alignment
        )
        defer { scratch.deallocate() }
        var out: [Record] = []
        out.reserveCapacity(count)
        for index in 0..<count {
            scratch.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<Record>.size)
            scratch.copyMemory(from: base + index * stride, byteCount: copySize)
            out.append(scratch.load(as: Record.self))
        }
        return out
    }

    /// Calls `body` with a C array of quote records borrowing `quotes`' strings.
    public static func withQuotes<R>(
        _ quotes: [Quote], _ body: (UnsafePointer<mh_quote>?, Int) throws -> R
    ) rethrows -> R {
        let arena = StringArena(quotes.map(\.symbol))
        return try arena.withStrings { symbols in
            let records = quotes.indices.map { quotes[$0].record(symbol: symbols[$0]) }
            return try records.withUnsafeBufferPointer { try body($0.baseAddress, $0.count) }
        }
    }

    /// Calls `body` with a C array of trade records borrowing `trades`' strings.
    public static func withTrades<R>(
        _ trades: [Trade], _ body: (UnsafePointer<mh_trade>?, Int) throws -> R
    ) rethrows -> R {
        let arena = StringArena(trades.flatMap { [$0.symbol, $0.tradeID] })
        return try arena.withStrings { strings in
            let records = trades.indices.map {
                trades[$0].record(symbol: strings[2 * $0], tradeID: strings[2 * $0 + 1])
            }
            return try records.withUnsafeBufferPointer { try body($0.baseAddress, $0.count) }
        }
    }

    /// Calls `body` with a C array of bar records borrowing `bars`' strings.
    public static func withBars<R>(_ bars: [Bar], _ body: (UnsafePointer<mh_bar>?, Int) throws -> R) rethrows -> R {
        let arena = StringArena(bars.flatMap { [$0.symbol, $0.source] })
        return try arena.withStrings { strings in
            let records = bars.indices.map { bars[$0].record(symbol: strings[2 * $0], source: strings[2 * $0 + 1]) }
            return try records.withUnsafeBufferPointer { try body($0.baseAddress, $0.count) }
        }
    }

    /// Calls `body` with a C array of last-quote records borrowing `quotes`' strings.
    public static func withLastQuotes<R>(
        _ quotes: [LastQuote], _ body: (UnsafePointer<mh_last_quote>?, Int) throws -> R
    ) rethrows -> R {
        let arena = StringArena(quotes.map(\.symbol))
        return try arena.withStrings { symbols in
            let records = quotes.indices.map { quotes[$0].record(symbol: symbols[$0]) }
            return try records.withUnsafeBufferPointer { try body($0.baseAddress, $0.count) }
        }
    }

    public static func quotes(_ base: UnsafePointer<mh_quote>?, count: Int) -> [Quote]? {
        read(UnsafeRawPointer(base), count: count, as: mh_quote.self).map { $0.map(Quote.init) }
    }

    public static func trades(_ base: UnsafePointer<mh_trade>?, count: Int) -> [Trade]? {
        read(UnsafeRawPointer(base), count: count, as: mh_trade.self).map { $0.map(Trade.init) }
    }

    /// Bars with a timespan unknown to this build make the whole array malformed (nil).
    public static func bars(_ base: UnsafePointer<mh_bar>?, count: Int) -> [Bar]? {
        guard let records = read(UnsafeRawPointer(base), count: count, as: mh_bar.self) else { return nil }
        var bars: [Bar] = []
        bars.reserveCapacity(records.count)
        for record in records {
            guard let bar = Bar(record) else { return nil }
            bars.append(bar)
        }
        return bars
    }

    public static func lastQuotes(_ base: UnsafePointer<mh_last_quote>?, count: Int) -> [LastQuote]? {
        read(UnsafeRawPointer(base), count: count, as: mh_last_quote.self).map { $0.map(LastQuote.init) }
    }
}
