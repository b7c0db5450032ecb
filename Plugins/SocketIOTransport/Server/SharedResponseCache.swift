import HTTPTypes
import NIOCore
import Synchronization

/// A small shared cache for forwarded `GET` answers that the host marks as shareable, so a burst of identical
/// requests (a chart many traders open at once) is answered here without crossing the plugin boundary again:
/// micro-caching, as a reverse proxy does it.
///
/// Only answers with status 200 and a `Cache-Control` that has `s-maxage=N` (N ≥ 1 second) and none of
/// `private`, `no-store`, `no-cache` are kept, for N seconds at most (and never longer than `maximumAge`).
/// Keys are the request's path and query exactly as sent. Requests are authorized before the cache is asked,
/// and CORS headers are added per request after it, so neither is stored.
final class SharedResponseCache: Sendable {
    struct Entry {
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var body: ByteBuffer
        var expires: Int64
    }

    let maximumEntries: Int
    let maximumBytes: Int
    /// Upper bound on an entry's lifetime, in nanoseconds, whatever the answer says.
    let maximumAge: Int64

    private struct State {
        var entries: [String: Entry] = [:]
        var bytes = 0
    }

    private let state = Mutex(State())
    private let hitCount = Atomic<UInt64>(0)

    init(maximumEntries: Int, maximumBytes: Int, maximumAgeMilliseconds: Int) {
        self.maximumEntries = maximumEntries
        self.maximumBytes = maximumBytes
        maximumAge = Int64(maximumAgeMilliseconds) * 1_000_000
    }

    var isEnabled: Bool { maximumEntries > 0 && maximumBytes > 0 && maximumAge > 0 }

    /// Answers served from the cache so far.
    var hits: UInt64 { hitCount.load(ordering: .relaxed) }

    static func key(path: String, query: String?) -> String {
        guard let query, !query.isEmpty else { return path }
        return path + "?" + query
    }

    /// The stored answer for `key` if it is still fresh at `now` (monotonic nanoseconds).
    func answer(for key: String, now: Int64) -> Entry? {
        let entry = state.withLock { state -> Entry? in
            guard let entry = state.entries[key] else { return nil }
            guard now < entry.expires else {
                state.entries[key] = nil
                state.bytes -= entry.body.readableBytes
                return nil
            }
            return entry
        }
        if entry != nil { hitCount.add(1, ordering: .relaxed) }
        return entry
    }

    /// Keeps a host answer when its `Cache-Control` allows a shared cache to.
    func store(
        _ key: String, status: HTTPResponse.Status, headers: HTTPFields, body: ByteBuffer, now: Int64
    ) {
        guard isEnabled, status == .ok, body.readableBytes <= maximumBytes,
            let lifetime = Self.sharedLifetime(headers[values: .cacheControl])
        else { return }
        let entry = Entry(status: status, headers: headers, body: body, expires: now + min(lifetime, maximumAge))
        state.withLock { state in
            if let old = state.entries.removeValue(forKey: key) { state.bytes -= old.body.readableBytes }
            // When full, the entries closest to expiring (expired ones first) make room.
            while !state.entries.isEmpty,
                state.entries.count >= maximumEntries || state.bytes + body.readableBytes > maximumBytes,
                let oldest = state.entries.min(by: { $0.value.expires < $1.value.expires })
            {
                state.entries[oldest.key] = nil
                state.bytes -= oldest.value.body.readableBytes
            }
            state.entries[key] = entry
            state.bytes += body.readableBytes
        }
    }

    /// Whether a request's `Cache-Control` asks for an answer from the origin (`no-cache`, `no-store` or
    /// `max-age=0`), which a shared cache must not answer from storage.
    static func wantsFreshAnswer(_ values: [String]) -> Bool {
        for value in values {
            for directive in value.split(separator: ",") {
                let trimmed = directive.trimmingSpaces().lowercased()
                if trimmed == "no-cache" || trimmed == "no-store" || trimmed == "max-age=0" { return true }
            }
        }
        return false
    }

    /// The `s-maxage` of `Cache-Control` values in nanoseconds, or nil when a shared cache must not keep the
    /// answer (no `s-maxage`, zero, or `private` / `no-store` / `no-cache`).
    static func sharedLifetime(_ values: [String]) -> Int64? {
        var seconds: Int64?
        for value in values {
            for directive in value.split(separator: ",") {
                let trimmed = directive.trimmingSpaces().lowercased()
                if trimmed == "private" || trimmed == "no-store" || trimmed == "no-cache"
                    || trimmed.hasPrefix("private=") || trimmed.hasPrefix("no-cache=")
                {
                    return nil
                }
                if trimmed.hasPrefix("s-maxage=") {
                    guard let parsed = Int64(trimmed.dropFirst("s-maxage=".count)), parsed >= 0 else { return nil }
                    seconds = parsed
                }
            }
        }
        guard let seconds, seconds > 0 else { return nil }
        return min(seconds, 86_400) * 1_000_000_000
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}
