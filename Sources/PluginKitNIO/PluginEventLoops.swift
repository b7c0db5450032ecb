import NIOCore
import NIOPosix

/// A plugin's own event-loop group.
///
/// Each plugin library carries its own copy of SwiftNIO, so the NIO singletons it sees are not the host's:
/// using them would start a second, hidden set of threads that nobody shuts down. A plugin creates one of
/// these in `create` or `start` and shuts it down in `stop`.
public final class PluginEventLoops: Sendable {
    public let group: MultiThreadedEventLoopGroup

    /// `threads` event loops (1 or 2 is plenty for most plugins on a small machine).
    public init(threads: Int = 1) {
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
    }

    /// The next loop, round robin.
    public var next: any EventLoop { group.next() }

    /// Shuts the loops down and joins their threads. Blocking: call it from the plugin's `stop` (a host
    /// control thread), never from one of these loops. Calling it twice is harmless.
    public func shutdown() {
        do {
            try group.syncShutdownGracefully()
        } catch {
            // Already shut down: nothing left to stop.
        }
    }
}
