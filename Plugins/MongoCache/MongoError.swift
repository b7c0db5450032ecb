import CMongoc
import PluginKit

/// A libmongoc error (`bson_error_t`), classified for the cache's status codes.
struct MongoError: Error, Sendable, CustomStringConvertible {
    var domain: UInt32
    var code: UInt32
    var message: String

    init(domain: UInt32, code: UInt32, message: String) {
        self.domain = domain
        self.code = code
        self.message = message
    }

    init(_ error: bson_error_t) {
        var error = error
        domain = error.domain
        code = error.code
        message = withUnsafeBytes(of: &error.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// The server could not be reached or the connection broke: the cache is degraded, not broken.
    var isUnreachable: Bool {
        domain == MONGOC_ERROR_SERVER_SELECTION.rawValue || domain == MONGOC_ERROR_STREAM.rawValue
            || domain == MONGOC_ERROR_PROTOCOL.rawValue
    }

    /// A unique index refused a write (code 11000 whatever the server's wording).
    var isDuplicateKey: Bool { code == MONGOC_ERROR_DUPLICATE_KEY.rawValue }

    var isAuthentication: Bool {
        domain == MONGOC_ERROR_CLIENT.rawValue && code == MONGOC_ERROR_CLIENT_AUTHENTICATE.rawValue
    }

    var description: String { "\(message) (domain \(domain), code \(code))" }
}
