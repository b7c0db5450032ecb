import DequeModule
import NIOCore
import Synchronization

/// One WebSocket-frame-sized unit of output: Engine.IO text (type digit included) or a raw binary attachment.
/// The buffer is shared, not copied, when the same frame goes to many clients.
struct OutboundFrame: Sendable {
    let isBinary: Bool
    let bytes: ByteBuffer

    static func text(_ bytes: ByteBuffer) -> OutboundFrame { OutboundFrame(isBinary: false, bytes: bytes) }
    static func text(_ string: String) -> OutboundFrame { .text(ByteBuffer(string: string)) }
    static func binary(_ bytes: ByteBuffer) -> OutboundFrame { OutboundFrame(isBinary: true, bytes: bytes) }
}

/// One logical message (a Socket.IO packet and its attachments, or one Engine.IO control packet).
struct OutboundMessage: Sendable {
    let frames: [OutboundFrame]

    init(_ frame: OutboundFrame) { frames = [frame] }
    init(frames: [OutboundFrame]) { self.frames = frames }

    var byteCount: Int { frames.reduce(0) { $0 + $1.bytes.readableBytes } }
}

/// A client's bounded queue of unsent messages.
///
/// - A message with a conflation key replaces the unsent message with the same key in place (newest wins).
/// - An urgent message (the heartbeat's ping) goes ahead of every unsent message, so a client that reads
///   slowly through a backlog still sees the ping in time and is not timed out for the data ahead of it.
/// - Other messages are never dropped: when the queue stays above `limit` for longer than the grace period, or
///   reaches `4 × limit`, `enqueue` reports `.overflow` and the caller disconnects the client.
///
/// ### Threading
/// All state sits behind one mutex; the single consumer (a WebSocket writer or the pending polling GET) waits
/// in `next` and is resumed outside the lock.
final class OutboundQueue: Sendable {
    enum EnqueueResult: Equatable {
        case queued
        case conflated
        case overflow
        case closed
    }

    private struct Entry {
        var message: OutboundMessage
        var key: String?
    }

    private typealias Waiter = (continuation: CheckedContinuation<[OutboundMessage]?, Never>, maxBytes: Int)

    private struct State {
        var entries: Deque<Entry> = []
        /// Sequence number of `entries.first`.
        var firstSequence = 0
        /// Conflation key → sequence number of its unsent entry.
        var keyed: [String: Int] = [:]
        var waiter: Waiter?
        var closed = false
        var finalMessage: OutboundMessage?
        var overLimitSince: Int64?

        mutating func drain(maxBytes: Int) -> [OutboundMessage] {
            var batch: [OutboundMessage] = []
            var bytes = 0
            while let entry = entries.first {
                let size = entry.message.byteCount
                if !batch.isEmpty, bytes + size > maxBytes { break }
                batch.append(entry.message)
                bytes += size
                entries.removeFirst()
                if let key = entry.key, keyed[key] == firstSequence { keyed[key] = nil }
                firstSequence += 1
            }
            return batch
        }
    }

    let limit: Int
    let graceNanoseconds: Int64
    private let state = Mutex(State())

    init(limit: Int, graceNanoseconds: Int64) {
        self.limit = limit
        self.graceNanoseconds = graceNanoseconds
    }

    /// Number of unsent messages.
    var count: Int { state.withLock { $0.entries.count } }

    /// Adds a message, conflating by `key` when given, or ahead of everything unsent when `urgent`. `now` is
    /// monotonic nanoseconds.
    func enqueue(_ message: OutboundMessage, key: String? = nil, urgent: Bool = false, now: Int64) -> EnqueueResult {
        let (result, resume): (EnqueueResult, (Waiter, [OutboundMessage])?) = state.withLock { state in
            guard !state.closed else { return (.closed, nil) }
            if urgent {
                // Entry i has sequence firstSequence + i, so moving firstSequence back by one keeps every keyed
                // entry's sequence valid.
                state.entries.prepend(Entry(message: message, key: nil))
                state.firstSequence -= 1
            } else if let key, let sequence = state.keyed[key], sequence >= state.firstSequence {
                state.entries[sequence - state.firstSequence].message = message
                return (.conflated, nil)
            } else {
                if let key { state.keyed[key] = state.firstSequence + state.entries.count }
                state.entries.append(Entry(message: message, key: key))
            }
            if state.entries.count > limit {
                let since = state.overLimitSince ?? now
                state.overLimitSince = since
                if state.entries.count >= limit * 4 || now - since > graceNanoseconds { return (.overflow, nil) }
            }
            if let waiter = state.waiter {
                state.waiter = nil
                return (.queued, (waiter, state.drain(maxBytes: waiter.maxBytes)))
            }
            return (.queued, nil)
        }
        if let (waiter, batch) = resume { waiter.continuation.resume(returning: batch) }
        return result
    }

    /// True when the queue has been above its limit for longer than the grace period.
    func isOverdue(now: Int64) -> Bool {
        state.withLock { state in
            guard state.entries.count > limit else {
                state.overLimitSince = nil
                return false
            }
            guard let since = state.overLimitSince else {
                state.overLimitSince = now
                return false
            }
            return now - since > graceNanoseconds
        }
    }

    /// Waits for messages and takes them (up to `maxBytes`, at least one). Returns nil once the queue is closed
    /// and drained, and an empty batch when the waiting task is cancelled or another consumer took over.
    func next(maxBytes: Int = .max) async -> [OutboundMessage]? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[OutboundMessage]?, Never>) in
                let (immediate, displaced): ([OutboundMessage]??, Waiter?) = state.withLock { state in
                    if !state.entries.isEmpty {
                        let batch = state.drain(maxBytes: maxBytes)
                        if state.entries.count <= limit { state.overLimitSince = nil }
                        return (.some(batch), nil)
                    }
                    if state.closed {
                        if let final = state.finalMessage {
                            state.finalMessage = nil
                            return (.some([final]), nil)
                        }
                        return (.some(nil), nil)
                    }
                    if Task.isCancelled { return (.some([]), nil) }
                    let previous = state.waiter
                    state.waiter = (continuation, maxBytes)
                    return (nil, previous)
                }
                displaced?.continuation.resume(returning: [])
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.continuation.resume(returning: [])
        }
    }

    /// Wakes a waiting consumer with an empty batch (used when a polling GET must return now).
    func wakeConsumer() {
        let waiter = state.withLock { state -> Waiter? in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.continuation.resume(returning: [])
    }

    /// Closes the queue. Unsent messages are discarded; a waiting consumer gets `final` (if any), later calls
    /// to `next` get `final` once and then nil.
    func close(final: OutboundMessage? = nil) {
        let waiter = state.withLock { state -> Waiter? in
            guard !state.closed else { return nil }
            state.closed = true
            state.entries.removeAll()
            state.keyed.removeAll()
            defer { state.waiter = nil }
            guard state.waiter != nil else {
                state.finalMessage = final
                return nil
            }
            return state.waiter
        }
        waiter?.continuation.resume(returning: final.map { [$0] } ?? nil)
    }
}
