import MarketCalendar
import MassiveWire
import PluginKit

/// The trader's selected contract, persisted in the cache: one per bearer-token subject when the transport
/// authenticates, else one shared selection.
public struct SelectionStore: Sendable {
    let cache: CachePlugin
    let clock: any HostClock

    public init(cache: CachePlugin, clock: any HostClock) {
        self.cache = cache
        self.clock = clock
    }

    /// The cache key for a request's authenticated subject ("" when auth is off).
    static func key(subject: String) -> String { subject.isEmpty ? "selection:global" : "selection:subject:" + subject }

    /// Validates a POST body: `{"underlying","expiration","contract"}` that agree with each other.
    static func validate(_ body: [UInt8]) throws(MarketDataFailure) -> (String, String, String) {
        let example = #"{"underlying":"SPY","expiration":"2025-12-19","contract":"O:SPY251219C00610000"}"#
        guard let document = try? JSONValue.parse(body), case .object = document else {
            throw .invalid("body must be a JSON object like \(example)")
        }
        guard let rawUnderlying = document["underlying"]?.string,
            let underlying = SymbolRules.normalize(rawUnderlying), !SymbolRules.isOption(underlying)
        else { throw .invalid("underlying must be a stock or index ticker like SPY") }
        guard let expiration = document["expiration"]?.string, CivilDate(expiration)?.description == expiration else {
            throw .invalid("expiration must be a date YYYY-MM-DD")
        }
        guard let rawContract = document["contract"]?.string, let contract = SymbolRules.normalize(rawContract),
            SymbolRules.isOption(contract), let ticker = OptionTicker(contract)
        else { throw .invalid("contract must be an option ticker like O:SPY251219C00610000") }
        guard ticker.expiration.description == expiration else {
            throw .invalid("contract \(contract) expires on \(ticker.expiration), not \(expiration)")
        }
        return (underlying, expiration, contract)
    }

    /// Stores a validated selection; returns the stored document.
    public func save(body: [UInt8], subject: String) async throws(MarketDataFailure) -> JSONValue {
        let (underlying, expiration, contract) = try Self.validate(body)
        let document = JSONValue.object([
            ("underlying", .string(underlying)), ("expiration", .string(expiration)), ("contract", .string(contract)),
            ("updatedAt", .integer(clock.nowMilliseconds)),
        ])
        let result = await cache.putSelection(key: Self.key(subject: subject), json: document.bytes)
        guard result.isOK else {
            throw MarketDataFailure(
                status: 503, code: "unavailable", message: "the selection could not be stored: \(result.message)")
        }
        return document
    }

    /// The stored selection, or 404.
    public func load(subject: String) async throws(MarketDataFailure) -> JSONValue {
        let result = await cache.getSelection(key: Self.key(subject: subject))
        if result.error?.statusName == "not_found" { throw .notFound("no selection has been saved") }
        guard result.isOK, let document = try? JSONValue.parse(result.json) else {
            throw MarketDataFailure(
                status: 503, code: "unavailable", message: "the selection could not be read: \(result.message)")
        }
        return document
    }
}
