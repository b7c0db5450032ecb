import Foundation
import MassiveWire
import PluginKit

/// A whole recording in memory: its header, the entries that could be read, and what could not.
public struct Recording: Sendable {
    public var header: RecordingHeader
    public var entries: [RecordingEntry]
    /// Lines that were skipped (corrupt JSON, unknown entry types, missing members).
    public var issues: [RecordingIssue]
    /// True when the file ended in the middle of an entry; replay stops at the last whole entry.
    public var truncated: Bool

    public init(
        header: RecordingHeader, entries: [RecordingEntry], issues: [RecordingIssue] = [], truncated: Bool = false
    ) {
        self.header = header
        self.entries = entries
        self.issues = issues
        self.truncated = truncated
    }

    /// Faults embedded in the recording.
    public var faults: FaultScript {
        FaultScript(
            entries.compactMap {
                if case .fault(let fault) = $0 { return fault }
                return nil
            })
    }
}

/// Turns entries into recording lines (JSON text, one per line, `\n`-terminated).
public enum RecordingLines {
    public static func header(_ header: RecordingHeader) -> String { header.json.text + "\n" }

    /// A frame line. The frame bytes are embedded verbatim; they must be one JSON value (as vendor frames are).
    public static func frame(atMilliseconds: Int64, feed: String, frame: some Collection<UInt8>) -> String {
        var line = "{\"type\":\"frame\",\"at\":\(atMilliseconds),\"feed\":"
        JSONNumber.appendString(feed, to: &line)
        line += ",\"frame\":"
        line += String(decoding: frame, as: UTF8.self)
        line += "}\n"
        return line
    }

    /// A REST line. A JSON body is embedded verbatim as `body`; anything else is stored as the string `bodyText`.
    public static func rest(_ exchange: RESTExchange) -> String {
        var line = "{\"type\":\"rest\",\"at\":\(exchange.atMilliseconds),\"method\":"
        JSONNumber.appendString(exchange.method, to: &line)
        line += ",\"path\":"
        JSONNumber.appendString(exchange.path, to: &line)
        line += ",\"query\":"
        JSONNumber.appendString(RESTExchange.redact(exchange.query), to: &line)
        line += ",\"status\":\(exchange.status),\"retryAfter\":"
        line += exchange.retryAfterSeconds.map(String.init) ?? "null"
        let bodyIsJSON = (try? JSONValue.parse(exchange.body)) != nil && !exchange.body.contains(0x0A)
        if bodyIsJSON {
            line += ",\"body\":" + String(decoding: exchange.body, as: UTF8.self)
        } else {
            line += ",\"bodyText\":"
            JSONNumber.appendString(String(decoding: exchange.body, as: UTF8.self), to: &line)
        }
        line += "}\n"
        return line
    }

    /// A fault line; `header` places the fault's offset in recording time.
    public static func fault(_ fault: Fault, header: RecordingHeader) -> String {
        JSONValue.object([
            ("type", .string("fault")), ("at", .integer(header.clockOrigin + fault.offsetMilliseconds)),
            ("fault", .object(fault.members())),
        ]).text + "\n"
    }
}

/// Reads recordings. Never traps on bad input: the header must be readable (else a `RecordingError`), every
/// later line that cannot be used becomes a `RecordingIssue`, and a final partial line marks the recording
/// truncated.
public enum RecordingReader {
    /// Reads a recording file, plain or gzip-compressed.
    public static func read(path: String) throws(RecordingError) -> Recording {
        try read(try readFile(path))
    }

    /// The bytes of a file, or a clear error.
    public static func readFile(_ path: String) throws(RecordingError) -> [UInt8] {
        do {
            return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw .io("cannot read \(path): \(error.localizedDescription)")
        }
    }

    /// Reads a recording, plain or gzip-compressed. Damage inside compressed data keeps what came before it:
    /// a cut-off file replays up to its last whole entry and is marked truncated.
    public static func read(_ bytes: [UInt8]) throws(RecordingError) -> Recording {
        guard Gzip.isCompressed(bytes) else {
            return try bytes.withUnsafeBufferPointer { buffer throws(RecordingError) in try read(buffer) }
        }
        let (plain, problem) = Gzip.decompress(bytes)
        var recording = try plain.withUnsafeBufferPointer { buffer throws(RecordingError) in try read(buffer) }
        if let problem {
            let lines = plain.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            recording.issues.append(RecordingIssue(line: lines + 1, message: problem))
            recording.truncated = true
        }
        return recording
    }

    static func read(_ buffer: UnsafeBufferPointer<UInt8>) throws(RecordingError) -> Recording {
        var lineNumber = 0
        var start = 0
        var header: RecordingHeader?
        var entries: [RecordingEntry] = []
        var issues: [RecordingIssue] = []
        var truncated = false
        while start < buffer.count {
            var end = start
            while end < buffer.count, buffer[end] != 0x0A { end += 1 }
            let complete = end < buffer.count
            lineNumber += 1
            let line = UnsafeBufferPointer(rebasing: buffer[start..<end])
            start = end + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { continue }
            guard let knownHeader = header else {
                let json: JSONValue
                do {
                    var scanner = JSONScanner(line)
                    json = try scanner.readValue()
                } catch {
                    throw .notARecording("line \(lineNumber) is not a JSON header (\(error.description))")
                }
                header = try RecordingHeader(json: json)
                continue
            }
            do {
                if let entry = try entry(line, header: knownHeader) { entries.append(entry) }
            } catch {
                if !complete {
                    truncated = true
                    issues.append(
                        RecordingIssue(
                            line: lineNumber,
                            message:
                                "the recording ends in the middle of an entry (truncated); replay stops at the last whole entry"
                        ))
                } else {
                    issues.append(RecordingIssue(line: lineNumber, message: error.message))
                }
            }
        }
        guard let header else { throw .notARecording("the file is empty") }
        return Recording(header: header, entries: entries, issues: issues, truncated: truncated)
    }

    struct LineError: Error {
        let message: String
    }

    /// Decodes one entry line. Frame and body values are located, not parsed, so their bytes stay verbatim.
    static func entry(_ line: UnsafeBufferPointer<UInt8>, header: RecordingHeader) throws(LineError) -> RecordingEntry?
    {
        var scanner = JSONScanner(line)
        var type: String?
        var at: Int64?
        var feed = ""
        var frame: Range<Int>?
        var method = "GET"
        var path: String?
        var query = ""
        var status: Int64?
        var retryAfter: Int64?
        var body: Range<Int>?
        var bodyText: String?
        var fault: JSONValue?
        do throws(JSONError) {
            try scanner.expect(0x7B)
            if !scanner.consume(0x7D) {
                repeat {
                    let key = try scanner.readString()
                    try scanner.expect(0x3A)
                    switch key {
                    case "type": type = try scanner.readValue().string
                    case "at": at = try scanner.readValue().int64
                    case "feed": feed = try scanner.readValue().string ?? ""
                    case "frame": frame = try scanner.skipValue()
                    case "method": method = try scanner.readValue().string ?? "GET"
                    case "path": path = try scanner.readValue().string
                    case "query": query = try scanner.readValue().string ?? ""
                    case "status": status = try scanner.readValue().int64
                    case "retryAfter": retryAfter = try scanner.readValue().int64
                    case "body": body = try scanner.skipValue()
                    case "bodyText": bodyText = try scanner.readValue().string
                    case "fault": fault = try scanner.readValue()
                    default: try scanner.skipValue()
                    }
                } while scanner.consume(0x2C)
                try scanner.expect(0x7D)
            }
            scanner.skipWhitespace()
            guard scanner.isAtEnd else { throw scanner.error("unexpected text after the entry") }
        } catch {
            throw LineError(message: "corrupt entry: \(error.description)")
        }
        func bytes(_ range: Range<Int>) -> [UInt8] { Array(UnsafeBufferPointer(rebasing: line[range])) }
        switch type {
        case "frame":
            guard let at, let frame else { throw LineError(message: "a frame entry needs at and frame") }
            return .frame(atMilliseconds: at, feed: feed, bytes: bytes(frame))
        case "rest":
            guard let at, let path, let status else {
                throw LineError(message: "a rest entry needs at, path and status")
            }
            let payload = body.map(bytes) ?? Array((bodyText ?? "").utf8)
            return .rest(
                RESTExchange(
                    atMilliseconds: at, method: method, path: path, query: query, status: Int(status),
                    retryAfterSeconds: retryAfter, body: payload))
        case "fault":
            guard let at, let fault else { throw LineError(message: "a fault entry needs at and fault") }
            do {
                return .fault(try Fault(json: fault, offset: at - header.clockOrigin))
            } catch {
                throw LineError(message: error.message)
            }
        case let other:
            throw LineError(message: "unknown entry type \(other.map { "\"\($0)\"" } ?? "(none)")")
        }
    }
}

/// Appends entries to a recording file as they happen. Opening an existing recording continues it (its header
/// must be readable and of this major version); opening a new or empty file writes `header` first. A path
/// ending in `.gz` is written gzip-compressed: every flush appends one gzip member.
public final class RecordingWriter {
    private let handle: FileHandle
    public let header: RecordingHeader
    public let compressed: Bool
    private var pending: [UInt8] = []

    public init(path: String, header: RecordingHeader) throws(RecordingError) {
        let manager = FileManager.default
        var effectiveHeader = header
        var needsHeader = true
        compressed = path.hasSuffix(".gz")
        if manager.fileExists(atPath: path), let data = manager.contents(atPath: path), !data.isEmpty {
            let existing = Array(data)
            let plain = Gzip.isCompressed(existing) ? Gzip.decompress(existing).bytes : existing
            let firstLine = Array(plain.prefix { $0 != 0x0A })
            let json: JSONValue
            do {
                json = try JSONValue.parse(firstLine)
            } catch {
                throw .notARecording("\(path) exists and does not start with a recording header")
            }
            effectiveHeader = try RecordingHeader(json: json)
            needsHeader = false
        } else if !manager.createFile(atPath: path, contents: nil) {
            throw .io("cannot create recording \(path)")
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw .io("cannot open recording \(path)") }
        self.handle = handle
        self.header = effectiveHeader
        do {
            try handle.seekToEnd()
        } catch {
            throw .io("cannot append to recording \(path): \(error.localizedDescription)")
        }
        if needsHeader { pending.append(contentsOf: RecordingLines.header(effectiveHeader).utf8) }
    }

    public func appendFrame(atMilliseconds: Int64, feed: String, frame: some Collection<UInt8>) {
        pending.append(contentsOf: RecordingLines.frame(atMilliseconds: atMilliseconds, feed: feed, frame: frame).utf8)
    }

    public func append(_ exchange: RESTExchange) { pending.append(contentsOf: RecordingLines.rest(exchange).utf8) }

    public func append(_ fault: Fault) { pending.append(contentsOf: RecordingLines.fault(fault, header: header).utf8) }

    /// Writes what has been appended so far.
    public func flush() throws(RecordingError) {
        guard !pending.isEmpty else { return }
        do {
            try handle.write(contentsOf: compressed ? Gzip.compress(pending) : pending)
        } catch {
            throw .io("cannot write recording: \(error.localizedDescription)")
        }
        pending.removeAll(keepingCapacity: true)
    }

    public func close() throws(RecordingError) {
        try flush()
        do {
            try handle.close()
        } catch {
            throw .io("cannot close recording: \(error.localizedDescription)")
        }
    }
}
