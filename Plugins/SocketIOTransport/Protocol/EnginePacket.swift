/// The Engine.IO v4 packet types.
public enum EnginePacketType: UInt8, Sendable, CaseIterable {
    case open = 0
    case close = 1
    case ping = 2
    case pong = 3
    case message = 4
    case upgrade = 5
    case noop = 6

    /// The ASCII digit that starts the packet's text form.
    public var character: UInt8 { UInt8(ascii: "0") + rawValue }
}

/// One Engine.IO v4 packet: a type plus a text or binary payload. Binary payloads only exist on `message`
/// packets; over WebSocket they travel as raw binary frames, over polling as `b` + base64.
public struct EnginePacket: Sendable, Equatable {
    /// The payload of a packet.
    public enum Payload: Sendable, Equatable {
        case text([UInt8])
        case binary([UInt8])
    }

    public var type: EnginePacketType
    public var payload: Payload

    public init(_ type: EnginePacketType, text: String = "") {
        self.type = type
        self.payload = .text(Array(text.utf8))
    }

    public init(_ type: EnginePacketType, textBytes: [UInt8]) {
        self.type = type
        self.payload = .text(textBytes)
    }

    /// A binary message packet.
    public static func binary(_ bytes: [UInt8]) -> EnginePacket {
        EnginePacket(type: .message, payload: .binary(bytes))
    }

    public init(type: EnginePacketType, payload: Payload) {
        self.type = type
        self.payload = payload
    }

    /// The text payload decoded as UTF-8 (empty for binary packets).
    public var text: String {
        if case .text(let bytes) = payload { return String(decoding: bytes, as: UTF8.self) }
        return ""
    }

    /// Decodes a WebSocket text frame (or one text packet of a polling payload): a type digit and the rest.
    public static func decodeText<Bytes: Collection<UInt8>>(_ frame: Bytes) throws(ProtocolError) -> EnginePacket {
        guard let first = frame.first else { throw ProtocolError(.empty, "empty Engine.IO packet") }
        guard first >= UInt8(ascii: "0"), let type = EnginePacketType(rawValue: first &- UInt8(ascii: "0")) else {
            throw ProtocolError(.unknownPacketType, "unknown Engine.IO packet type")
        }
        return EnginePacket(type: type, payload: .text(Array(frame.dropFirst())))
    }

    /// The text form used in WebSocket text frames and polling payloads. Binary packets encode as `b` + base64.
    public func encodedForPolling() -> [UInt8] {
        switch payload {
        case .text(let bytes):
            var out: [UInt8] = [type.character]
            out.append(contentsOf: bytes)
            return out
        case .binary(let bytes):
            var out: [UInt8] = [UInt8(ascii: "b")]
            out.append(contentsOf: Base64.encode(bytes))
            return out
        }
    }
}

/// The HTTP long-polling payload format: packets separated by the record separator `\u{1e}`.
public enum PollingPayload {
    /// The record separator between packets.
    public static let separator: UInt8 = 0x1E

    /// Splits a POST body into packets.
    /// - Throws: `ProtocolError` for an empty body, an empty packet, an unknown type or bad base64.
    public static func decode<Bytes: Collection<UInt8>>(_ body: Bytes) throws(ProtocolError) -> [EnginePacket] {
        guard !body.isEmpty else { throw ProtocolError(.empty, "empty polling payload") }
        var packets: [EnginePacket] = []
        for part in Array(body).split(separator: separator, omittingEmptySubsequences: false) {
            if part.first == UInt8(ascii: "b") {
                packets.append(.binary(try Base64.decode(part.dropFirst())))
            } else {
                packets.append(try EnginePacket.decodeText(part))
            }
        }
        return packets
    }

    /// Joins already-encoded packets into one payload.
    public static func encode(_ encodedPackets: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        for (index, packet) in encodedPackets.enumerated() {
            if index > 0 { out.append(separator) }
            out.append(contentsOf: packet)
        }
        return out
    }
}

/// The body of the Engine.IO `open` packet.
public struct EngineHandshake: Sendable, Equatable {
    public var sid: String
    public var upgrades: [String]
    public var pingInterval: Int
    public var pingTimeout: Int
    public var maxPayload: Int

    public init(sid: String, upgrades: [String], pingInterval: Int, pingTimeout: Int, maxPayload: Int) {
        self.sid = sid
        self.upgrades = upgrades
        self.pingInterval = pingInterval
        self.pingTimeout = pingTimeout
        self.maxPayload = maxPayload
    }

    /// The JSON object sent after the `0` type digit.
    public var json: JSONValue {
        .object([
            JSONMember("sid", .string(sid)),
            JSONMember("upgrades", .array(upgrades.map { .string($0) })),
            JSONMember("pingInterval", .integer(pingInterval)),
            JSONMember("pingTimeout", .integer(pingTimeout)),
            JSONMember("maxPayload", .integer(maxPayload)),
        ])
    }

    /// The complete open packet.
    public var packet: EnginePacket { EnginePacket(.open, textBytes: json.jsonBytes) }
}
