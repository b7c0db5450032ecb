/// Why a call on `SocketIOServer`'s public API was refused.
public struct SocketIOServerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A stable category that maps onto the plugin ABI's status codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// No such client or ack token.
        public static let notFound = Code("not_found")
        /// Malformed JSON or arguments.
        public static let invalid = Code("invalid")
        /// A configured limit (rooms per client) was hit.
        public static let limitExceeded = Code("limit_exceeded")
        /// The server is not running.
        public static let unavailable = Code("unavailable")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
