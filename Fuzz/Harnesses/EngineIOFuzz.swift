// libFuzzer harness: the Engine.IO v4 text packet and HTTP long-polling payload parsers.
// Invariants: a decoded polling payload re-encodes to a payload that decodes to the same packets, and a decoded
// text packet re-encodes to exactly the bytes it came from.
import SocketIOProtocol

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEngineIO(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))

    if let packet = try? EnginePacket.decodeText(bytes) {
        check(packet.encodedForPolling() == bytes, "text packet did not re-encode to its own bytes")
    }

    if let packets = try? PollingPayload.decode(bytes) {
        let encoded = PollingPayload.encode(packets.map { $0.encodedForPolling() })
        guard let again = try? PollingPayload.decode(encoded) else {
            fatalError("a re-encoded polling payload no longer decodes")
        }
        check(again == packets, "polling payload round trip changed the packets")
    }
    return 0
}

/// A failed invariant stops the run with its message (unlike `precondition`, also in optimized builds).
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError(message()) }
}
