// A stand-in for swift-service-lifecycle, used only by the fuzz build of the host's parsers (scripts/fuzz.sh):
// the harnesses never run a service, they only need the host's service types to compile. Building the real
// library would pull in swift-async-algorithms and swift-collections for nothing.

public protocol Service: Sendable {
    func run() async throws
}

public func withGracefulShutdownHandler<T>(
    isolation: isolated (any Actor)? = #isolation,
    operation: () async throws -> T,
    onGracefulShutdown handler: @Sendable @escaping () -> Void
) async rethrows -> T {
    try await operation()
}

public func cancelWhenGracefulShutdown<T: Sendable>(
    _ operation: @Sendable @escaping () async throws -> T
) async rethrows -> T {
    try await operation()
}

extension Task where Success == Never, Failure == Never {
    public static var isShuttingDownGracefully: Bool { false }
}
