import PluginAPI

/// An error that maps onto an ABI status code. Plugins throw it; entry points turn it into `mh_status`.
public struct PluginError: Error, CustomStringConvertible, Sendable, Equatable {
    public var status: mh_status
    public var message: String
    /// For `MH_RATE_LIMITED`: how long to wait in milliseconds, or nil when unknown.
    public var retryAfterMilliseconds: Int64?

    public init(_ status: mh_status, _ message: String, retryAfterMilliseconds: Int64? = nil) {
        self.status = status
        self.message = message
        self.retryAfterMilliseconds = retryAfterMilliseconds
    }

    public static func notFound(_ message: String) -> Self { .init(mh_status(MH_NOT_FOUND), message) }
    public static func invalid(_ message: String) -> Self { .init(mh_status(MH_INVALID), message) }
    public static func internalError(_ message: String) -> Self { .init(mh_status(MH_INTERNAL), message) }
    public static func unavailable(_ message: String) -> Self { .init(mh_status(MH_UNAVAILABLE), message) }
    public static func unsupported(_ message: String) -> Self { .init(mh_status(MH_UNSUPPORTED), message) }
    public static func cancelled(_ message: String) -> Self { .init(mh_status(MH_CANCELLED), message) }
    public static func unauthorized(_ message: String) -> Self { .init(mh_status(MH_UNAUTHORIZED), message) }
    public static func notEntitled(_ message: String) -> Self { .init(mh_status(MH_NOT_ENTITLED), message) }
    public static func limitExceeded(_ message: String) -> Self { .init(mh_status(MH_LIMIT_EXCEEDED), message) }
    public static func rateLimited(_ message: String, retryAfterMilliseconds: Int64?) -> Self {
        .init(mh_status(MH_RATE_LIMITED), message, retryAfterMilliseconds: retryAfterMilliseconds)
    }

    /// A short, bounded name for the status: safe as a metric label.
    public var statusName: String { StatusName.of(status) }

    public var description: String { "\(statusName): \(message)" }
}

/// Names of ABI status codes.
public enum StatusName {
    public static func of(_ status: mh_status) -> String {
        switch Int(status) {
        case Int(MH_OK): "ok"
        case Int(MH_NOT_FOUND): "not_found"
        case Int(MH_RATE_LIMITED): "rate_limited"
        case Int(MH_UNAUTHORIZED): "unauthorized"
        case Int(MH_NOT_ENTITLED): "not_entitled"
        case Int(MH_UNAVAILABLE): "unavailable"
        case Int(MH_INVALID): "invalid"
        case Int(MH_INTERNAL): "internal"
        case Int(MH_UNSUPPORTED): "unsupported"
        case Int(MH_CANCELLED): "cancelled"
        case Int(MH_LIMIT_EXCEEDED): "limit_exceeded"
        default: "status_\(status)"
        }
    }
}

/// Runs `body` at an ABI entry point: any thrown error becomes a status code and a message in `err`.
/// Use this at every function the host calls, so that no Swift error ever escapes into C.
public func catchingStatus(_ err: mh_errbuf, _ body: () throws -> Void) -> mh_status {
    do {
        try body()
        return mh_status(MH_OK)
    } catch let error as PluginError {
        err.write(error.message)
        return error.status
    } catch {
        err.write("\(error)")
        return mh_status(MH_INTERNAL)
    }
}
