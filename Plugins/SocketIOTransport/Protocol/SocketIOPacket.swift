/// The Socket.IO v5 packet types.
public enum SocketIOPacketType: UInt8, Sendable, CaseIterable {
    case connect = 0
    case disconnect = 1
    case event = 2
    case ack = 3
    case connectError = 4
    case binaryEvent = 5
    case binaryAck = 6

    /// True for the two types that carry binary attachments.
    public var isBinary: Bool { self == .binaryEvent || self == .binaryAck }
}

/// One Socket.IO v5 packet. Its text form rides inside an Engine.IO `message` packet:
/// `<type>[<attachments>-][<namespace>,][<ackId>][<JSON>]`; binary attachments follow as separate messages.
///
/// Binary data inside `data` is represented by placeholder objects `{"_placeholder":true,"num":N}` that refer
/// to `attachments[N]`, exactly as on the wire.
public struct SocketIOPacket: Sendable, Equatable {
    public var type: SocketIOPacketType
    public var namespace: String
    public var ackId: UInt64?
    public var data: JSONValue?
    public var attachments: [[UInt8]]

    /// The largest ack id accepted (what a JavaScript number represents exactly).
    public static let maximumAckId: UInt64 = (1 << 53) - 1

    public init(
        _ type: SocketIOPacketType, namespace: String = "/", ackId: UInt64? = nil, data: JSONValue? = nil,
        attachments: [[UInt8]] = []
    ) {
        self.type = type
        self.namespace = namespace
        self.ackId = ackId
        self.data = data
        self.attachments = attachments
    }

    /// An EVENT (or BINARY_EVENT when attachments are given) with `name` followed by `arguments`.
    public static func event(
        _ name: String, _ arguments: [JSONValue], namespace: String = "/", ackId: UInt64? = nil,
        attachments: [[UInt8]] = []
    ) -> SocketIOPacket {
        SocketIOPacket(
            attachments.isEmpty ? .event : .binaryEvent, namespace: namespace, ackId: ackId,
            data: .array([.string(name)] + arguments), attachments: attachments
        )
    }

    /// For EVENT packets: the event name.
    public var eventName: String? {
        guard type == .event || type == .binaryEvent else { return nil }
        return data?.arrayValue?.first?.stringValue
    }

    /// For EVENT packets: the arguments after the name; for ACK packets: all arguments.
    public var arguments: [JSONValue] {
        guard let elements = data?.arrayValue else { return [] }
        switch type {
        case .event, .binaryEvent: return Array(elements.dropFirst())
        case .ack, .binaryAck: return elements
        default: return []
        }
    }

    /// The text part of the packet (without the Engine.IO `4` prefix).
    public func encodedText() -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "0") + type.rawValue]
        if type.isBinary {
            out.append(contentsOf: String(attachments.count).utf8)
            out.append(UInt8(ascii: "-"))
        }
        if namespace != "/" && !namespace.isEmpty {
            out.append(contentsOf: namespace.utf8)
            out.append(UInt8(ascii: ","))
        }
        if let ackId { out.append(contentsOf: String(ackId).utf8) }
        data?.write(into: &out)
        return out
    }

    /// Decodes the text part of a packet. For binary types, `attachments` is left empty and the expected count
    /// is returned separately so the caller can collect the attachments that follow.
    /// - Throws: `ProtocolError` for any malformed header or a payload of the wrong shape for the type.
    public static func decode<Bytes: Collection<UInt8>>(
        _ text: Bytes
    ) throws(ProtocolError) -> (packet: SocketIOPacket, expectedAttachments: Int) {
        let bytes = Array(text)
        guard let first = bytes.first else { throw ProtocolError(.empty, "empty Socket.IO packet") }
        guard first >= UInt8(ascii: "0"), let type = SocketIOPacketType(rawValue: first &- UInt8(ascii: "0")) else {
            throw ProtocolError(.unknownPacketType, "unknown Socket.IO packet type")
        }
        var index = 1
        func isDigit(_ i: Int) -> Bool { i < bytes.count && bytes[i] >= 0x30 && bytes[i] <= 0x39 }

        var expectedAttachments = 0
        if type.isBinary {
            let start = index
            while isDigit(index) { index += 1 }
            guard index > start, index - start <= 6, index < bytes.count, bytes[index] == UInt8(ascii: "-") else {
                throw ProtocolError(.invalidHeader, "invalid attachment count")
            }
            expectedAttachments = Int(String(decoding: bytes[start..<index], as: UTF8.self)) ?? 0
            index += 1
        }

        var namespace = "/"
        if index < bytes.count, bytes[index] == UInt8(ascii: "/") {
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: ",") { index += 1 }
            guard let name = String(validating: bytes[start..<index], as: UTF8.self) else {
                throw ProtocolError(.invalidHeader, "namespace is not valid UTF-8")
            }
            namespace = name
            if index < bytes.count { index += 1 }
        }

        var ackId: UInt64?
        if isDigit(index) {
            let start = index
            while isDigit(index) { index += 1 }
            guard index - start <= 16, let value = UInt64(String(decoding: bytes[start..<index], as: UTF8.self)),
                value <= maximumAckId
            else { throw ProtocolError(.invalidHeader, "invalid ack id") }
            ackId = value
        }

        var data: JSONValue?
        if index < bytes.count { data = try JSONValue.parse(bytes[index...]) }

        let packet = SocketIOPacket(type, namespace: namespace, ackId: ackId, data: data)
        try packet.validatePayload()
        if type.isBinary {
            let placeholders = data.map(Self.countPlaceholders) ?? 0
            guard placeholders == expectedAttachments else {
                throw ProtocolError(.invalidPayload, "attachment count does not match the placeholders")
            }
        }
        return (packet, expectedAttachments)
    }

    private func validatePayload() throws(ProtocolError) {
        switch type {
        case .connect:
            guard data == nil || data?.isObject == true else {
                throw ProtocolError(.invalidPayload, "CONNECT payload must be an object")
            }
        case .disconnect:
            guard data == nil else { throw ProtocolError(.invalidPayload, "DISCONNECT carries no payload") }
        case .event, .binaryEvent:
            guard let elements = data?.arrayValue, elements.first?.stringValue != nil else {
                throw ProtocolError(.invalidPayload, "EVENT payload must be an array starting with the event name")
            }
        case .ack, .binaryAck:
            guard ackId != nil, data?.arrayValue != nil else {
                throw ProtocolError(.invalidPayload, "ACK needs an id and an array payload")
            }
        case .connectError:
            guard data?.isObject == true || data?.stringValue != nil else {
                throw ProtocolError(.invalidPayload, "CONNECT_ERROR payload must be an object or a string")
            }
        }
    }

    /// Counts `{"_placeholder":true,"num":N}` objects anywhere inside `value`.
    public static func countPlaceholders(_ value: JSONValue) -> Int {
        switch value {
        case .array(let elements): return elements.reduce(0) { $0 + countPlaceholders($1) }
        case .object(let members):
            if value["_placeholder"] == .bool(true), value["num"] != nil { return 1 }
            return members.reduce(0) { $0 + countPlaceholders($1.value) }
        default: return 0
        }
    }

    /// The placeholder object for attachment `index`.
    public static func placeholder(_ index: Int) -> JSONValue {
        .object([JSONMember("_placeholder", .bool(true)), JSONMember("num", .integer(index))])
    }
}

/// Reassembles Socket.IO packets from the Engine.IO messages of one connection: a binary packet's text header
/// is followed by its attachments as separate binary messages.
public struct SocketIOPacketAssembler: Sendable {
    private var pending: SocketIOPacket?
    private var remaining = 0
    /// The most attachments one packet may announce.
    public let maximumAttachments: Int

    public init(maximumAttachments: Int = 10) { self.maximumAttachments = maximumAttachments }

    /// True while a binary packet is waiting for attachments.
    public var isAwaitingAttachments: Bool { pending != nil }

    /// Feeds a text message; returns the packet when it is complete (no attachments needed).
    public mutating func receive(text: [UInt8]) throws(ProtocolError) -> SocketIOPacket? {
        guard pending == nil else {
            throw ProtocolError(.unexpectedAttachment, "text packet received while waiting for attachments")
        }
        let (packet, expected) = try SocketIOPacket.decode(text)
        guard expected <= maximumAttachments else {
            throw ProtocolError(.tooLarge, "packet announces \(expected) attachments")
        }
        if expected == 0 { return packet }
        pending = packet
        remaining = expected
        return nil
    }

    /// Feeds a binary message; returns the packet once its last attachment arrived.
    public mutating func receive(binary: [UInt8]) throws(ProtocolError) -> SocketIOPacket? {
        guard var packet = pending else {
            throw ProtocolError(.unexpectedAttachment, "binary message without a pending binary packet")
        }
        packet.attachments.append(binary)
        remaining -= 1
        if remaining > 0 {
            pending = packet
            return nil
        }
        pending = nil
        return packet
    }
}
