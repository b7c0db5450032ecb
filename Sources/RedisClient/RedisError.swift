/// Why a Redis call failed.
public struct RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The connection could not be made, or it closed before the reply.
        case connection
        /// Redis answered with an error reply (`-ERR ...`).
        case server
        /// The reply did not come within the command timeout; the connection is closed.
        case timeout
        /// The bytes received are not RESP, or a reply had an unexpected shape.
        case protocolViolation
        /// The endpoint URL is not `redis://host[:port][/db]`.
        case invalidURL
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "redis \(code): \(message)" }
}
