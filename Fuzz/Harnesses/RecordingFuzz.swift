// libFuzzer harness: the recording reader (plain and gzip; RecordedProvider's Recording module).
// Invariant: the entries of a readable recording, written back with RecordingLines under its own header, read
// back to the same entries.
import Recording

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecording(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let recording = try? RecordingReader.read(bytes) else { return 0 }
    _ = recording.faults

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
        preconditionFailure("a re-written recording no longer reads:\n\(text)")
    }
    precondition(again.header == recording.header, "header changed in the round trip:\n\(text)")
    precondition(again.entries == recording.entries, "entries changed in the round trip:\n\(text)")
    precondition(again.issues.isEmpty, "the re-written recording has issues: \(again.issues)\n\(text)")
    return 0
}
