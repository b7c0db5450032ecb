import Synchronization

/// Counters, gauges and histograms with labels, rendered in the Prometheus text format for `/metrics`.
/// Host code and plugins (through `mh_host_api.metric`) report into one registry.
public final class MetricsRegistry: Sendable {
    public enum Kind: String, Sendable {
        case counter
        case gauge
        case histogram
    }

    /// Upper bounds of histogram buckets (seconds for durations).
    public static let defaultBuckets: [Double] = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ]

    private struct Series {
        var value: Double = 0
        var bucketCounts: [UInt64] = []
        var sum: Double = 0
        var count: UInt64 = 0
    }

    private struct Family {
        var kind: Kind
        var help: String
        var series: [String: Series] = [:]
    }

    private struct State {
        var families: [String: Family] = [:]
        var rejected: UInt64 = 0
    }

    private let state = Mutex(State())
    /// Most distinct label sets one metric may have; more are dropped (unbounded labels are a bug).
    public let maximumSeriesPerMetric: Int

    public init(maximumSeriesPerMetric: Int = 10_000) {
        self.maximumSeriesPerMetric = maximumSeriesPerMetric
    }

    public func increment(_ name: String, by value: Double = 1, labels: [(String, String)] = [], help: String = "") {
        guard value >= 0 else { return reject() }
        update(name, .counter, labels, help) { $0.value += value }
    }

    public func set(_ name: String, to value: Double, labels: [(String, String)] = [], help: String = "") {
        update(name, .gauge, labels, help) { $0.value = value }
    }

    public func observe(_ name: String, _ value: Double, labels: [(String, String)] = [], help: String = "") {
        update(name, .histogram, labels, help) { series in
            if series.bucketCounts.isEmpty {
                series.bucketCounts = Array(repeating: 0, count: Self.defaultBuckets.count)
            }
            for (index, bound) in Self.defaultBuckets.enumerated() where value <= bound {
                series.bucketCounts[index] += 1
            }
            series.sum += value
            series.count += 1
        }
    }

    /// The current value of a counter or gauge series (for tests and health).
    public func value(_ name: String, labels: [(String, String)] = []) -> Double? {
        let key = Self.labelText(labels)
        return state.withLock { $0.families[name]?.series[key]?.value }
    }

    /// Metric updates refused because of an invalid name, label, kind clash or series limit.
    public var rejectedUpdates: UInt64 { state.withLock { $0.rejected } }

    private func reject() { state.withLock { $0.rejected += 1 } }

    private func update(
        _ name: String, _ kind: Kind, _ labels: [(String, String)], _ help: String, _ body: (inout Series) -> Void
    ) {
        guard Self.isValidName(name), labels.allSatisfy({ Self.isValidName($0.0) && !$0.0.hasPrefix("__") }) else {
            return reject()
        }
        let key = Self.labelText(labels)
        state.withLock { state in
            // Mutated in place: copying the family out and back would copy its series on every update.
            guard state.families[name, default: Family(kind: kind, help: help)].kind == kind else {
                state.rejected += 1
                return
            }
            if state.families[name]?.series[key] == nil,
                (state.families[name]?.series.count ?? 0) >= maximumSeriesPerMetric
            {
                state.rejected += 1
                return
            }
            body(&state.families[name, default: Family(kind: kind, help: help)].series[key, default: Series()])
        }
    }

    /// Prometheus metric and label names: `[a-zA-Z_:][a-zA-Z0-9_:]*`. Checked on the UTF-8 bytes, since every
    /// update checks its names and this sits on hot paths (one call per HTTP request and stream batch).
    static func isValidName(_ name: String) -> Bool {
        var utf8 = name.utf8.makeIterator()
        guard let first = utf8.next(), isNameByte(first, first: true) else { return false }
        while let byte = utf8.next() {
            if !isNameByte(byte, first: false) { return false }
        }
        return true
    }

    private static func isNameByte(_ byte: UInt8, first: Bool) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"),
            UInt8(ascii: ":"):
            return true
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return !first
        default: return false
        }
    }

    /// The series key: labels sorted by name, `name="escaped value"`, comma-separated.
    static func labelText(_ labels: [(String, String)]) -> String {
        switch labels.count {
        case 0: return ""
        case 1: return pair(labels[0])
        default: return labels.sorted { $0.0 < $1.0 }.map(pair).joined(separator: ",")
        }
    }

    private static func pair(_ label: (String, String)) -> String {
        var text = label.0
        text += "=\""
        text += escape(label.1)
        text += "\""
        return text
    }

    /// Escapes `\`, `"` and newlines as the text format requires (values without them are returned as they are).
    static func escape(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == 10 }) else {
            return value
        }
        var out = ""
        out.reserveCapacity(value.utf8.count + 4)
        for character in value.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// The Prometheus text exposition (version 0.0.4) of every metric.
    public func render() -> String {
        let snapshot = state.withLock { $0 }
        var out = ""
        for name in snapshot.families.keys.sorted() {
            guard let family = snapshot.families[name] else { continue }
            if !family.help.isEmpty { out += "# HELP \(name) \(family.help)\n" }
            out += "# TYPE \(name) \(family.kind.rawValue)\n"
            for key in family.series.keys.sorted() {
                guard let series = family.series[key] else { continue }
                switch family.kind {
                case .counter, .gauge:
                    out += "\(name)\(key.isEmpty ? "" : "{\(key)}") \(Self.number(series.value))\n"
                case .histogram:
                    let prefix = key.isEmpty ? "" : key + ","
                    for (index, bound) in Self.defaultBuckets.enumerated() {
                        out += "\(name)_bucket{\(prefix)le=\"\(Self.number(bound))\"} \(series.bucketCounts[index])\n"
                    }
                    out += "\(name)_bucket{\(prefix)le=\"+Inf\"} \(series.count)\n"
                    out += "\(name)_sum\(key.isEmpty ? "" : "{\(key)}") \(Self.number(series.sum))\n"
                    out += "\(name)_count\(key.isEmpty ? "" : "{\(key)}") \(series.count)\n"
                }
            }
        }
        return out
    }

    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value.rounded() == value, abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
