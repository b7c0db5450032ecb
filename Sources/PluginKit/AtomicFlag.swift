import Synchronization

/// A flag that can be set once, from any thread.
public final class AtomicFlag: Sendable {
    private let value = Atomic<Bool>(false)

    public init() {}

    /// Sets the flag; returns true only for the caller that set it first.
    public func setOnce() -> Bool {
        value.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    public var isSet: Bool { value.load(ordering: .acquiring) }
}
