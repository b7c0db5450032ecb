// libFuzzer harness: the recording reader (plain and gzip; RecordedProvider's Recording module).
// Invariant: the entries of a readable recording (valid UTF-8, no apiKey), written back with RecordingLines
// under its own header, read back to the same entries.
import Recording

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecording(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let recording = try? RecordingReader.read(bytes) else { return 0 }
    _ = recording.faults
    // The writer stores text as UTF-8 and drops API keys from queries by design, so the round trip is only
    // exact for valid UTF-8 without an apiKey parameter; everything else must merely read without trapping.
    let plain = Gzip.isCompressed(bytes) ? Gzip.decompress(bytes).0 : bytes
    guard String(validating: plain, as: UTF8.self) != nil,
        !String(decoding: plain, as: UTF8.self).lowercased().contains("apikey")
    else { return 0 }

    var text = RecordingLines.header(recording.header)
    for entry in recording.entries {
        switch entry {
        case .frame(let at, let feed, let frame):
            text += RecordingLines.frame(atMilliseconds: at, feed: feed, frame: frame)
        case .rest(let exchange):
            text += RecordingLines.rest(exchange)
        case .fault(let fault):
            text += RecordingLines.fault(fault, header: recording.header)
        }
    }
    guard let again = try? RecordingReader.read(Array(text.utf8)) else {
        fatalError("a re-written recording no longer reads:\n\(text)")
    }
    check(again.header == recording.header, "header changed in the round trip:\n\(text)")
    check(again.entries == recording.entries, "entries changed in the round trip:\n\(text)")
    check(again.issues.isEmpty, "the re-written recording has issues: \(again.issues)\n\(text)")
    return 0
}

/// A failed invariant stops the run with its message (unlike `precondition`, also in optimized builds).
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError(message()) }
}
