// libFuzzer harness: the Socket.IO v5 packet decoder and the binary-attachment assembler.
// Invariant: decode → encode → decode yields the same packet and attachment count.
import SocketIOProtocol

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSocketIO(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))

    if let (packet, expected) = try? SocketIOPacket.decode(bytes) {
        var withAttachments = packet
        withAttachments.attachments = Array(repeating: [], count: expected)
        let encoded = withAttachments.encodedText()
        guard let (again, expectedAgain) = try? SocketIOPacket.decode(encoded) else {
            fatalError("re-encoded packet no longer decodes: \(String(decoding: encoded, as: UTF8.self))")
        }
        check(again == packet, "round trip changed the packet")
        check(expectedAgain == expected, "round trip changed the attachment count")
        _ = packet.eventName
        _ = packet.arguments
    }

    // The same bytes as a stream of messages: split at 0x1F, odd pieces as binary attachments.
    var assembler = SocketIOPacketAssembler()
    for (index, part) in bytes.split(separator: 0x1F, omittingEmptySubsequences: false).enumerated() {
        do {
            if index % 2 == 1 && assembler.isAwaitingAttachments {
                _ = try assembler.receive(binary: Array(part))
            } else {
                _ = try assembler.receive(text: Array(part))
            }
        } catch {
            break
        }
    }
    return 0
}

/// A failed invariant stops the run with its message (unlike `precondition`, also in optimized builds).
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError(message()) }
}
