/// A conformance check that did not hold: which check, and what was observed.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public var check: String
    public var message: String

    public var description: String { "[\(check)] \(message)" }
}

/// Records the check being run so failures name it.
public struct ConformanceContext: Sendable {
    public let check: String

    /// Fails the check unless `condition` holds.
    public func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw ConformanceFailure(check: check, message: message()) }
    }

    /// Fails the check with `message`.
    public func fail(_ message: String) -> ConformanceFailure { ConformanceFailure(check: check, message: message) }
}
