import MassiveWire
import PluginKit

/// A scripted failure that a replay applies on purpose, so the host's fallbacks can be tested.
public struct Fault: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// The stream disconnects at `offset` for `duration`: CONNECTING, then LIVE with the gap reported.
        case streamDrop = "stream-drop"
        /// REST answers 429 for `duration`, with `retryAfterMilliseconds` when set.
        case rateLimit = "rest-429"
        /// REST answers a 5xx (`httpStatus`, default 503) for `duration`.
        case serverError = "rest-5xx"
        /// REST answers are delayed by `latencyMilliseconds` for `duration`.
        case latency
        /// The stream stays connected but delivers nothing for `duration`; what it held arrives at the end.
        case stall
        /// One malformed frame (`payload`, or a default broken text) is delivered at `offset`.
        case malformedFrame = "malformed-frame"
        /// Authentication fails at `offset`: the stream fails for good and REST answers 401 for `duration`
        /// (to the end of the session when the duration is zero).
        case authFailure = "auth-failure"
        /// The market closes at `offset` for `duration` (to the end when zero): status says closed, no frames.
        case marketClose = "market-close"
    }

    public var kind: Kind
    /// Milliseconds from the start of the recording.
    public var offsetMilliseconds: Int64
    /// How long it lasts, in milliseconds (0 where the kind is instantaneous or "until the end").
    public var durationMilliseconds: Int64
    public var retryAfterMilliseconds: Int64?
    public var httpStatus: Int?
    public var latencyMilliseconds: Int64?
    public var payload: String?
    /// Which stream connection it affects ("stocks", "options"); nil for all.
    public var feed: String?

    public init(
        kind: Kind, offsetMilliseconds: Int64, durationMilliseconds: Int64 = 0, retryAfterMilliseconds: Int64? = nil,
        httpStatus: Int? = nil, latencyMilliseconds: Int64? = nil, payload: String? = nil, feed: String? = nil
    ) {
        self.kind = kind
        self.offsetMilliseconds = offsetMilliseconds
        self.durationMilliseconds = durationMilliseconds
        self.retryAfterMilliseconds = retryAfterMilliseconds
        self.httpStatus = httpStatus
        self.latencyMilliseconds = latencyMilliseconds
        self.payload = payload
        self.feed = feed
    }

    /// The end of the fault window; `Int64.max` for open-ended kinds with no duration.
    public var endOffsetMilliseconds: Int64 {
        if durationMilliseconds > 0 { return offsetMilliseconds + durationMilliseconds }
        switch kind {
        case .authFailure, .marketClose: return Int64.max
        default: return offsetMilliseconds
        }
    }

    /// True when `offset` lies inside the fault's window.
    public func covers(_ offset: Int64) -> Bool {
        offset >= offsetMilliseconds && offset < endOffsetMilliseconds
    }

    /// The members of the fault object (without the time, which the caller places).
    func members() -> [(String, JSONValue)] {
        var members: [(String, JSONValue)] = [("kind", .string(kind.rawValue))]
        if durationMilliseconds != 0 { members.append(("durationMs", .integer(durationMilliseconds))) }
        if let retryAfterMilliseconds { members.append(("retryAfterMs", .integer(retryAfterMilliseconds))) }
        if let httpStatus { members.append(("httpStatus", .integer(Int64(httpStatus)))) }
        if let latencyMilliseconds { members.append(("latencyMs", .integer(latencyMilliseconds))) }
        if let payload { members.append(("payload", .string(payload))) }
        if let feed { members.append(("feed", .string(feed))) }
        return members
    }

    /// Reads a fault object; `offset` is where it happens (from `atMs` or the recording line's time).
    init(json: JSONValue, offset: Int64) throws(RecordingError) {
        guard case .object = json else { throw .invalidFaults("a fault must be a JSON object") }
        guard let name = json["kind"]?.string else { throw .invalidFaults("a fault needs a kind") }
        guard let kind = Kind(rawValue: name) else {
            let known = Kind.allCases.map(\.rawValue).joined(separator: ", ")
            throw .invalidFaults("unknown fault kind \"\(name)\" (known: \(known))")
        }
        func milliseconds(_ key: String) throws(RecordingError) -> Int64? {
            guard let value = json[key], !value.isNull else { return nil }
            guard let integer = value.int64, integer >= 0 else {
                throw .invalidFaults("\(key) of a \(name) fault must be a non-negative integer")
            }
            return integer
        }
        self.init(
            kind: kind, offsetMilliseconds: offset, durationMilliseconds: try milliseconds("durationMs") ?? 0,
            retryAfterMilliseconds: try milliseconds("retryAfterMs"),
            httpStatus: try milliseconds("httpStatus").map { Int($0) },
            latencyMilliseconds: try milliseconds("latencyMs"),
            payload: json["payload"]?.string, feed: json["feed"]?.string
        )
        if kind == .serverError, let status = httpStatus, !(500...599).contains(status) {
            throw .invalidFaults("httpStatus of a rest-5xx fault must be 500-599, not \(status)")
        }
        if kind == .latency, latencyMilliseconds == nil {
            throw .invalidFaults("a latency fault needs latencyMs")
        }
    }
}

/// A list of faults, either embedded in a recording or kept in a side file:
/// `{"version":1,"faults":[{"kind":"stream-drop","atMs":60000,"durationMs":5000}, ...]}`
/// (a bare array of fault objects is accepted too). `atMs` counts from the start of the recording.
public struct FaultScript: Sendable, Equatable {
    public var faults: [Fault]

    public init(_ faults: [Fault] = []) {
        self.faults = faults.sorted { $0.offsetMilliseconds < $1.offsetMilliseconds }
    }

    public static func parse(_ bytes: [UInt8]) throws(RecordingError) -> FaultScript {
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            throw .invalidFaults("the fault script is not JSON: \(error.description)")
        }
        return try parse(json)
    }

    public static func parse(_ json: JSONValue) throws(RecordingError) -> FaultScript {
        let list: [JSONValue]
        if let array = json.array {
            list = array
        } else if case .object = json {
            if let version = json["version"], version.int64 != 1 {
                throw .invalidFaults("fault script version \(version.text) is not supported (this reader knows 1)")
            }
            guard let array = json["faults"]?.array else {
                throw .invalidFaults("the fault script has no faults array")
            }
            list = array
        } else {
            throw .invalidFaults("a fault script is an object with a faults array, or an array")
        }
        var faults: [Fault] = []
        for (index, entry) in list.enumerated() {
            guard let at = entry["atMs"]?.int64, at >= 0 else {
                throw .invalidFaults("fault \(index) needs a non-negative atMs")
            }
            do {
                faults.append(try Fault(json: entry, offset: at))
            } catch {
                throw .invalidFaults("fault \(index): \(error.message)")
            }
        }
        return FaultScript(faults)
    }

    public var json: JSONValue {
        .object([
            ("version", .integer(1)),
            ("faults", .array(faults.map { .object([("atMs", .integer($0.offsetMilliseconds))] + $0.members()) })),
        ])
    }
}
