import Foundation
import MassiveWire
import Recording
import Testing

@Suite struct RecordingFormatTests {
    let header = RecordingHeader(
        createdAt: "2025-12-08T21:00:00Z", source: "test", symbols: ["SPY", "O:SPY251219C00650000"],
        startMilliseconds: 1_765_202_400_000, endMilliseconds: 1_765_231_200_000, sessionDate: "2025-12-08", seed: 7)

    func sample() -> String {
        var text = RecordingLines.header(header)
        text += RecordingLines.frame(
            atMilliseconds: 1_765_202_400_100, feed: "stocks",
            frame: Array(#"[{"ev":"T","sym":"SPY","p":600.1,"s":100,"t":1765202400090}]"#.utf8))
        text += RecordingLines.rest(
            RESTExchange(
                atMilliseconds: 1_765_202_400_200, path: "/v1/marketstatus/now", query: "apiKey=SECRET&x=1",
                status: 200, body: Array(#"{"market":"open"}"#.utf8)))
        text += RecordingLines.rest(
            RESTExchange(
                atMilliseconds: 1_765_202_400_300, path: "/v2/unknown", status: 404,
                body: Array("404 page not found".utf8)))
        text += RecordingLines.fault(
            Fault(
                kind: .rateLimit, offsetMilliseconds: 5_000, durationMilliseconds: 2_000, retryAfterMilliseconds: 1_000),
            header: header)
        return text
    }

    @Test func roundTripsEveryEntryKind() throws {
        let recording = try RecordingReader.read(Array(sample().utf8))
        #expect(recording.header == header)
        #expect(recording.issues.isEmpty && !recording.truncated)
        #expect(recording.entries.count == 4)
        guard case .frame(let at, let feed, let bytes) = recording.entries[0] else {
            Issue.record("expected a frame")
            return
        }
        #expect(at == 1_765_202_400_100 && feed == "stocks")
        #expect(
            String(decoding: bytes, as: UTF8.self) == #"[{"ev":"T","sym":"SPY","p":600.1,"s":100,"t":1765202400090}]"#)
        guard case .rest(let status) = recording.entries[1], case .rest(let missing) = recording.entries[2] else {
            Issue.record("expected rest entries")
            return
        }
        #expect(status.query == "x=1" && String(decoding: status.body, as: UTF8.self) == #"{"market":"open"}"#)
        #expect(missing.status == 404 && String(decoding: missing.body, as: UTF8.self) == "404 page not found")
        #expect(
            recording.faults.faults == [
                Fault(
                    kind: .rateLimit, offsetMilliseconds: 5_000, durationMilliseconds: 2_000,
                    retryAfterMilliseconds: 1_000)
            ])
    }

    @Test func apiKeysNeverReachTheFile() {
        #expect(!sample().contains("SECRET"))
        #expect(RESTExchange.redact("a=1&APIKEY=zz&apiKey=yy&b=2") == "a=1&b=2")
    }

    @Test func unknownMajorVersionIsRefusedClearly() {
        var newer = header
        newer.version = FormatVersion(major: 2, minor: 0)
        let text = RecordingLines.header(newer)
        #expect(
            throws: RecordingError.unsupportedVersion(
                found: FormatVersion(major: 2, minor: 0), supported: RecordingHeader.currentVersion)
        ) {
            try RecordingReader.read(Array(text.utf8))
        }
        var minor = header
        minor.version = FormatVersion(major: 1, minor: 7)
        #expect((try? RecordingReader.read(Array(RecordingLines.header(minor).utf8)))?.header.version.minor == 7)
    }

    @Test func notARecording() {
        for text in [
            "", "hello\n", #"{"type":"frame"}"# + "\n", #"{"type":"header","format":"other","version":"1.0"}"#,
        ] {
            #expect(throws: RecordingError.self, "\(text)") { try RecordingReader.read(Array(text.utf8)) }
        }
        let error = RecordingError.unsupportedVersion(
            found: FormatVersion(major: 3, minor: 1), supported: RecordingHeader.currentVersion)
        #expect(error.message == "recording format version 3.1 is not supported: this reader understands 1.x")
        #expect(throws: RecordingError.self) { try RecordingReader.read([0x1F, 0x8B, 0x08, 0x00]) }
    }

    @Test func truncatedFileReplaysUpToTheLastWholeEntry() throws {
        let text = sample()
        let cut = String(text.dropLast(25))
        let recording = try RecordingReader.read(Array(cut.utf8))
        #expect(recording.truncated)
        #expect(recording.entries.count == 3)
        #expect(recording.issues.count == 1 && recording.issues[0].line == 5)
        #expect(recording.issues[0].message.contains("truncated"))
    }

    @Test func corruptLinesAreReportedAndSkipped() throws {
        var lines = sample().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.insert("{\"type\":\"frame\",\"at\":1,\"frame\":[{\"ev\":", at: 2)
        lines.insert("garbage", at: 3)
        lines.insert(#"{"type":"teleport","at":5}"#, at: 4)
        lines.insert(#"{"type":"fault","at":5,"fault":{"kind":"meteor"}}"#, at: 5)
        let recording = try RecordingReader.read(Array(lines.joined(separator: "\n").utf8))
        #expect(!recording.truncated)
        #expect(recording.entries.count == 4)
        #expect(recording.issues.map(\.line) == [3, 4, 5, 6])
        #expect(recording.issues[2].message.contains("teleport"))
        #expect(recording.issues[3].message.contains("meteor"))
    }

    @Test func writerAppendsAndContinuesAFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rec-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let first = try RecordingWriter(path: path, header: header)
        first.appendFrame(atMilliseconds: 10, feed: "stocks", frame: Array("[]".utf8))
        try first.close()
        var other = header
        other.source = "ignored because the file already has a header"
        let second = try RecordingWriter(path: path, header: other)
        second.append(RESTExchange(atMilliseconds: 11, path: "/v1/marketstatus/now", body: Array("{}".utf8)))
        second.append(Fault(kind: .stall, offsetMilliseconds: 3, durationMilliseconds: 4))
        try second.close()
        let recording = try RecordingReader.read(path: path)
        #expect(recording.header.source == "test")
        #expect(recording.entries.count == 3 && recording.issues.isEmpty)
    }

    @Test func faultScriptSideFile() throws {
        let text = #"""
            {"version":1,"faults":[
              {"kind":"stream-drop","atMs":60000,"durationMs":5000,"feed":"options"},
              {"kind":"rest-429","atMs":1000,"durationMs":3000},
              {"kind":"rest-5xx","atMs":2000,"durationMs":1000,"httpStatus":502},
              {"kind":"latency","atMs":0,"durationMs":1000,"latencyMs":250},
              {"kind":"stall","atMs":7000,"durationMs":1000},
              {"kind":"malformed-frame","atMs":8000,"payload":"[{\"ev\":"},
              {"kind":"auth-failure","atMs":9000},
              {"kind":"market-close","atMs":10000,"durationMs":60000}]}
            """#
        let script = try FaultScript.parse(Array(text.utf8))
        #expect(
            script.faults.map(\.kind) == [
                .latency, .rateLimit, .serverError, .stall, .malformedFrame, .authFailure, .marketClose, .streamDrop,
            ])
        #expect(script.faults[0].latencyMilliseconds == 250 && script.faults[2].httpStatus == 502)
        #expect(script.faults[5].endOffsetMilliseconds == Int64.max)
        #expect(script.faults[1].covers(1_000) && script.faults[1].covers(3_999) && !script.faults[1].covers(4_000))
        #expect(try FaultScript.parse(script.json) == script)
    }

    @Test func badFaultScriptsSayWhy() {
        let cases: [(String, String)] = [
            (#"{"faults":[{"kind":"rest-429"}]}"#, "atMs"),
            (#"{"faults":[{"kind":"quake","atMs":1}]}"#, "quake"),
            (#"{"faults":[{"kind":"rest-5xx","atMs":1,"httpStatus":404}]}"#, "500-599"),
            (#"{"faults":[{"kind":"latency","atMs":1}]}"#, "latencyMs"),
            (#"{"version":2,"faults":[]}"#, "version"),
            (#"{"faults":[{"kind":"stall","atMs":1,"durationMs":-5}]}"#, "durationMs"),
            ("nope", "not JSON"),
        ]
        for (text, needle) in cases {
            do {
                _ = try FaultScript.parse(Array(text.utf8))
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.message.contains(needle), "\(error.message)")
            }
        }
    }
}

@Suite struct CompressedRecordingTests {
    let header = RecordingHeader(
        createdAt: "2025-12-08T09:30:00-05:00", source: "test", symbols: ["SPY"], startMilliseconds: 1_000,
        endMilliseconds: 9_000)

    func path() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("rec-\(UUID().uuidString).jsonl.gz").path
    }

    @Test func gzipRoundTripAcrossAppends() throws {
        let path = path()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try RecordingWriter(path: path, header: header)
        #expect(writer.compressed)
        for index in 0..<500 {
            writer.appendFrame(
                atMilliseconds: 1_000 + Int64(index), feed: "stocks",
                frame: Array(#"[{"ev":"T","sym":"SPY","p":600.\#(index % 10),"s":100,"t":\#(1_000 + index)}]"#.utf8))
            if index % 100 == 0 { try writer.flush() }
        }
        try writer.close()
        let again = try RecordingWriter(path: path, header: header)
        again.append(Fault(kind: .stall, offsetMilliseconds: 5, durationMilliseconds: 5))
        try again.close()
        let bytes = try RecordingReader.readFile(path)
        #expect(Gzip.isCompressed(bytes))
        let recording = try RecordingReader.read(bytes)
        #expect(recording.header == header && recording.entries.count == 501 && recording.issues.isEmpty)
        #expect(!recording.truncated)
        // Compression is worth having: the text is repetitive.
        let plainSize = Gzip.decompress(bytes).bytes.count
        #expect(bytes.count * 4 < plainSize)
    }

    @Test func cutOrDamagedCompressedFilesReplayWhatCameBefore() throws {
        var text = RecordingLines.header(header)
        for index in 0..<2_000 {
            text += RecordingLines.frame(
                atMilliseconds: 1_000 + Int64(index), feed: "stocks",
                frame: Array(#"[{"ev":"Q","sym":"SPY","bp":\#(index),"ap":\#(index + 1),"t":\#(index)}]"#.utf8))
        }
        let compressed = Gzip.compress(Array(text.utf8))
        let cut = try RecordingReader.read(Array(compressed.prefix(compressed.count / 2)))
        #expect(cut.truncated && cut.entries.count > 100 && cut.entries.count < 2_000)
        #expect(cut.issues.contains { $0.message.contains("ends in the middle") })
        var damaged = compressed
        for index in (compressed.count / 2)..<(compressed.count / 2 + 64) { damaged[index] ^= 0x5A }
        let broken = try RecordingReader.read(damaged)
        #expect(broken.truncated && broken.entries.count < 2_000)
        #expect(broken.issues.contains { $0.message.contains("damaged") || $0.message.contains("ends in the middle") })
    }
}
