/// Why a codec refused its input. Every malformed packet or payload produces one of these instead of a trap.
public struct ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A stable, machine-readable category.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// An empty packet or payload.
        public static let empty = Code("empty")
        /// A packet type byte outside the protocol's range.
        public static let unknownPacketType = Code("unknown_packet_type")
        /// Text that is not valid JSON, or JSON nested too deeply.
        public static let invalidJSON = Code("invalid_json")
        /// JSON of the wrong shape for the packet type (e.g. an EVENT that is not a non-empty array).
        public static let invalidPayload = Code("invalid_payload")
        /// A malformed attachment count, namespace or ack id.
        public static let invalidHeader = Code("invalid_header")
        /// A `b`-prefixed polling packet whose base64 does not decode.
        public static let invalidBase64 = Code("invalid_base64")
        /// A binary attachment that arrived when none was expected.
        public static let unexpectedAttachment = Code("unexpected_attachment")
        /// A packet that exceeds a configured size limit.
        public static let tooLarge = Code("too_large")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
