import PluginKit

/// The spec's indexes, created at start with `createIndexes` (a no-op when they exist).
enum MongoIndexes {
    struct Index {
        var collection: String
        var name: String
        var keys: [String]
        var unique: Bool
        var expireAfterSeconds: Int32?
    }

    static func all(chainTimeToLiveSeconds: Int32) -> [Index] {
        [
            Index(
                collection: MongoCacheBackend.aggregates, name: "ticker_timespan_multiplier_timestamp",
                keys: ["ticker", "timespan", "multiplier", "timestamp"], unique: true),
            Index(
                collection: MongoCacheBackend.chains, name: "underlying_expiration",
                keys: ["underlying", "expiration"], unique: true),
            Index(
                collection: MongoCacheBackend.chains, name: "updatedAt_ttl", keys: ["updatedAt"], unique: false,
                expireAfterSeconds: chainTimeToLiveSeconds),
            Index(collection: MongoCacheBackend.quotes, name: "ticker", keys: ["ticker"], unique: true),
            Index(collection: MongoCacheBackend.selections, name: "key", keys: ["key"], unique: true),
        ]
    }

    /// Creates every index. An index that exists under the same name with other options (say, a changed TTL)
    /// is an error naming it, so an operator does not silently run with the old TTL.
    static func create(on connection: MongoConnection, chainTimeToLiveSeconds: Int32) throws(MongoError) {
        let byCollection = Dictionary(grouping: all(chainTimeToLiveSeconds: chainTimeToLiveSeconds), by: \.collection)
        for (collection, indexes) in byCollection.sorted(by: { $0.key < $1.key }) {
            let models = indexes.map { index in
                let keys = BSONDocument()
                for key in index.keys { keys.append(key, int32: 1) }
                let model = BSONDocument().append("key", document: keys).append("name", index.name)
                if index.unique { model.append("unique", bool: true) }
                if let seconds = index.expireAfterSeconds { model.append("expireAfterSeconds", int32: seconds) }
                return model
            }
            let command = BSONDocument().append("createIndexes", collection).append("indexes", array: models)
            do throws(MongoError) {
                _ = try connection.command(collection, command)
            } catch  where !error.isUnreachable {
                throw MongoError(
                    domain: error.domain, code: error.code,
                    message: "creating the indexes of \(collection) failed: \(error.message)")
            }
        }
    }
}
