import MassiveWire
import PluginKit

/// A recording format version. Readers accept any minor of their major and refuse other majors.
public struct FormatVersion: Sendable, Equatable, CustomStringConvertible {
    public var major: Int
    public var minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Parses `"1.0"`.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]), major >= 0, minor >= 0 else {
            return nil
        }
        self.init(major: major, minor: minor)
    }

    public var description: String { "\(major).\(minor)" }
}

/// The first line of a recording.
public struct RecordingHeader: Sendable, Equatable {
    public static let formatName = "markethub-recording"
    public static let currentVersion = FormatVersion(major: 1, minor: 0)

    public var version: FormatVersion
    /// When the file was written (RFC 3339).
    public var createdAt: String
    /// Where the data came from: "synthetic", "massive", ...
    public var source: String
    public var symbols: [String]
    /// Recorded time span, UTC epoch milliseconds.
    public var startMilliseconds: Int64
    public var endMilliseconds: Int64
    /// The instant that replay offset 0 refers to (usually `startMilliseconds`).
    public var clockOrigin: Int64
    /// The New York session date the recording covers, when it covers one.
    public var sessionDate: String?
    /// The generator seed for synthetic recordings.
    public var seed: UInt64?

    public init(
        version: FormatVersion = RecordingHeader.currentVersion, createdAt: String, source: String,
        symbols: [String], startMilliseconds: Int64, endMilliseconds: Int64, clockOrigin: Int64? = nil,
        sessionDate: String? = nil, seed: UInt64? = nil
    ) {
        self.version = version
        self.createdAt = createdAt
        self.source = source
        self.symbols = symbols
        self.startMilliseconds = startMilliseconds
        self.endMilliseconds = endMilliseconds
        self.clockOrigin = clockOrigin ?? startMilliseconds
        self.sessionDate = sessionDate
        self.seed = seed
    }

    public var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("type", .string("header")), ("format", .string(Self.formatName)),
            ("version", .string(version.description)),
            ("createdAt", .string(createdAt)), ("source", .string(source)),
            ("symbols", .array(symbols.map { .string($0) })), ("start", .integer(startMilliseconds)),
            ("end", .integer(endMilliseconds)), ("clockOrigin", .integer(clockOrigin)),
        ]
        if let sessionDate { members.append(("session", .string(sessionDate))) }
        if let seed { members.append(("seed", .string(String(seed)))) }
        return .object(members)
    }

    init(json: JSONValue) throws(RecordingError) {
        guard json["type"]?.string == "header", json["format"]?.string == Self.formatName else {
            throw .notARecording("the first line is not a \(Self.formatName) header")
        }
        guard let text = json["version"]?.string, let version = FormatVersion(text) else {
            throw .notARecording("the header has no readable version")
        }
        guard version.major == Self.currentVersion.major else {
            throw .unsupportedVersion(found: version, supported: Self.currentVersion)
        }
        guard let start = json["start"]?.int64, let end = json["end"]?.int64 else {
            throw .notARecording("the header lacks start or end")
        }
        self.init(
            version: version, createdAt: json["createdAt"]?.string ?? "", source: json["source"]?.string ?? "unknown",
            symbols: (json["symbols"]?.array ?? []).compactMap(\.string), startMilliseconds: start,
            endMilliseconds: end, clockOrigin: json["clockOrigin"]?.int64, sessionDate: json["session"]?.string,
            seed: json["seed"]?.string.flatMap { UInt64($0) } ?? json["seed"]?.int64.flatMap { UInt64(exactly: $0) }
        )
    }
}

/// A REST exchange as the vendor answered it.
public struct RESTExchange: Sendable, Equatable {
    public var atMilliseconds: Int64
    public var method: String
    /// The path, e.g. `/v2/aggs/ticker/SPY/range/1/day/2025-01-02/2025-12-08`.
    public var path: String
    /// The query without `?`, with any `apiKey` removed.
    public var query: String
    public var status: Int
    /// The Retry-After header in seconds, when sent.
    public var retryAfterSeconds: Int64?
    /// The body bytes exactly as received.
    public var body: [UInt8]

    public init(
        atMilliseconds: Int64, method: String = "GET", path: String, query: String = "", status: Int = 200,
        retryAfterSeconds: Int64? = nil, body: [UInt8]
    ) {
        self.atMilliseconds = atMilliseconds
        self.method = method
        self.path = path
        self.query = RESTExchange.redact(query)
        self.status = status
        self.retryAfterSeconds = retryAfterSeconds
        self.body = body
    }

    /// Removes every `apiKey` parameter (any case of the name) from a query string.
    public static func redact(_ query: String) -> String {
        query.split(separator: "&", omittingEmptySubsequences: true)
            .filter { !$0.lowercased().hasPrefix("apikey=") && $0.lowercased() != "apikey" }
            .joined(separator: "&")
    }

    /// The query's parameters, in order (names and values still percent-encoded).
    public var parameters: [(String, String)] {
        query.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
    }
}

/// One timestamped entry after the header.
public enum RecordingEntry: Sendable, Equatable {
    /// A WebSocket frame exactly as the vendor sent it, on connection `feed` ("stocks", "options").
    case frame(atMilliseconds: Int64, feed: String, bytes: [UInt8])
    case rest(RESTExchange)
    /// A fault marker; its offset is relative to the header's start.
    case fault(Fault)

    public var atMilliseconds: Int64? {
        switch self {
        case .frame(let at, _, _): at
        case .rest(let exchange): exchange.atMilliseconds
        case .fault: nil
        }
    }
}

/// Why a recording (or part of one) could not be read.
public enum RecordingError: Error, Sendable, Equatable, CustomStringConvertible {
    case notARecording(String)
    case unsupportedVersion(found: FormatVersion, supported: FormatVersion)
    case invalidFaults(String)
    case io(String)

    public var message: String {
        switch self {
        case .notARecording(let detail): "not a MarketHub recording: \(detail)"
        case .unsupportedVersion(let found, let supported):
            "recording format version \(found) is not supported: this reader understands \(supported.major).x"
        case .invalidFaults(let detail): "invalid fault script: \(detail)"
        case .io(let detail): detail
        }
    }

    public var description: String { message }
}

/// A line of a recording that could not be used; the rest still replays.
public struct RecordingIssue: Sendable, Equatable, CustomStringConvertible {
    /// 1-based line number.
    public var line: Int
    public var message: String

    public var description: String { "line \(line): \(message)" }
}
