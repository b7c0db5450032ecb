import CachePluginKit
import PluginKit

/// The documents of the spec's collections, and the deterministic `_id`s that make upserts single-key writes.
///
/// - `option_aggregates`: `_id` "ticker|timespan|multiplier|timestamp"; `ticker`, `timespan` (name),
///   `multiplier`, `timestamp` (bar start, epoch ms), `endTimestamp`, `open`, `high`, `low`, `close`, `volume`,
///   `vwap` and `transactions` (null when unknown), `source`, `updatedAt` (date).
/// - `option_chain_snapshots`: `_id` "<underlying byte count>:<underlying>|<expiration>"; `underlying`,
///   `expiration`, `data` (the snapshot's JSON text, byte for byte), `updatedAt` (date).
/// - `option_quotes`: `_id` = `ticker`; `bidPrice`, `askPrice`, `lastPrice`, `midpoint` (null when unknown),
///   `updatedAt` (date).
/// - `selections`: `_id` = `key`; `data` (JSON text), `updatedAt` (date).
enum MongoDocuments {
    /// The ticker comes first and the other three parts never contain "|", so the id is unambiguous.
    static func barID(_ bar: Bar) -> String {
        "\(bar.symbol)|\(bar.timespan.name)|\(bar.multiplier)|\(bar.startMilliseconds)"
    }

    static func bar(_ bar: Bar, id: String, now: Int64) -> BSONDocument {
        BSONDocument().append("_id", id).append("ticker", bar.symbol).append("timespan", bar.timespan.name)
            .append("multiplier", int32: bar.multiplier).append("timestamp", int64: bar.startMilliseconds)
            .append("endTimestamp", int64: bar.endMilliseconds).append("open", double: bar.open)
            .append("high", double: bar.high).append("low", double: bar.low).append("close", double: bar.close)
            .append("volume", double: bar.volume).append("vwap", double: bar.vwap)
            .appendTransactions(bar.transactions).append("source", bar.source)
            .append("updatedAt", dateMilliseconds: now)
    }

    /// Decodes one stored bar; nil when a field is missing or of the wrong type (a corrupt document).
    static func bar(_ fields: BSONFields, query: CacheBarQuery) -> Bar? {
        guard let symbol = fields.string("ticker"), let start = fields.integer("timestamp"),
            let open = fields.number("open"), let high = fields.number("high"), let low = fields.number("low"),
            let close = fields.number("close"), let volume = fields.number("volume"),
            let vwap = fields.optionalNumber("vwap"), let updated = fields.date("updatedAt")
        else { return nil }
        let transactionsField = fields.optionalNumber("transactions")
        guard let transactionsField else { return nil }
        let transactions = transactionsField.isNaN ? -1 : fields.integer("transactions") ?? -1
        return Bar(
            symbol: symbol, timespan: query.timespan, multiplier: query.multiplier, startMilliseconds: start,
            endMilliseconds: fields.integer("endTimestamp") ?? 0, open: open, high: high, low: low, close: close,
            volume: volume, vwap: vwap, transactions: transactions, updatedMilliseconds: updated,
            source: fields.string("source") ?? ""
        )
    }

    static func chainID(underlying: String, expiration: String) -> String {
        "\(underlying.utf8.count):\(underlying)|\(expiration)"
    }

    static func validateExpiration(_ expiration: String) throws(PluginError) {
        guard expiration.utf8.count <= 64,
            !expiration.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { throw .invalid("expiration must be at most 64 bytes of printable UTF-8") }
    }

    static func chainWrite(
        underlying: String, expiration: String, data: String, now: Int64
    ) -> (filter: BSONDocument, replacement: BSONDocument) {
        let id = chainID(underlying: underlying, expiration: expiration)
        return (
            BSONDocument().append("_id", id),
            BSONDocument().append("_id", id).append("underlying", underlying).append("expiration", expiration)
                .append("data", data).append("updatedAt", dateMilliseconds: now)
        )
    }

    static func lastQuoteWrite(_ quote: LastQuote) -> (filter: BSONDocument, replacement: BSONDocument) {
        (
            BSONDocument().append("_id", quote.symbol).append(
                "updatedAt", document: BSONDocument().append("$lte", dateMilliseconds: quote.updatedMilliseconds)),
            BSONDocument().append("_id", quote.symbol).append("ticker", quote.symbol)
                .append("bidPrice", double: quote.bidPrice).append("askPrice", double: quote.askPrice)
                .append("lastPrice", double: quote.lastPrice).append("midpoint", double: quote.midpoint)
                .append("updatedAt", dateMilliseconds: quote.updatedMilliseconds)
        )
    }

    static func lastQuote(_ fields: BSONFields) -> LastQuote? {
        guard let symbol = fields.string("ticker"), let bid = fields.optionalNumber("bidPrice"),
            let ask = fields.optionalNumber("askPrice"), let last = fields.optionalNumber("lastPrice"),
            let mid = fields.optionalNumber("midpoint"), let updated = fields.date("updatedAt")
        else { return nil }
        return LastQuote(
            symbol: symbol, bidPrice: bid, askPrice: ask, lastPrice: last, midpoint: mid, updatedMilliseconds: updated)
    }

    static func selectionWrite(
        key: String, data: String, now: Int64
    ) -> (filter: BSONDocument, replacement: BSONDocument) {
        (
            BSONDocument().append("_id", key),
            BSONDocument().append("_id", key).append("key", key).append("data", data)
                .append("updatedAt", dateMilliseconds: now)
        )
    }
}

extension BSONDocument {
    @discardableResult
    fileprivate func appendTransactions(_ value: Int64) -> Self {
        value >= 0 ? append("transactions", int64: value) : append("transactions", double: .nan)
    }
}
