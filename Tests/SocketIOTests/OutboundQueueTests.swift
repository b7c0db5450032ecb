import NIOCore
import Testing

@testable import SocketIOServer

private func message(_ text: String) -> OutboundMessage { OutboundMessage(.text(text)) }

private func texts(_ batch: [OutboundMessage]?) -> [String] {
    (batch ?? []).flatMap { $0.frames.map { String(buffer: $0.bytes) } }
}

@Suite("Outbound queue: conflation, bounds and slow clients")
struct OutboundQueueTests {
    @Test("newest unsent message per conflation key wins, keeping its place; unkeyed messages all stay")
    func conflates() async {
        let queue = OutboundQueue(limit: 100, graceNanoseconds: 1_000)
        #expect(queue.enqueue(message("q1"), key: "AAPL", now: 0) == .queued)
        #expect(queue.enqueue(message("t1"), now: 0) == .queued)
        #expect(queue.enqueue(message("q2"), key: "AAPL", now: 0) == .conflated)
        #expect(queue.enqueue(message("m1"), key: "MSFT", now: 0) == .queued)
        #expect(queue.enqueue(message("t2"), now: 0) == .queued)
        #expect(texts(await queue.next()) == ["q2", "t1", "m1", "t2"])
        // Once sent, a key starts over.
        #expect(queue.enqueue(message("q3"), key: "AAPL", now: 0) == .queued)
        #expect(texts(await queue.next()) == ["q3"])
    }

    @Test("an urgent message (the ping) goes ahead of the backlog; conflation keys keep working behind it")
    func urgentGoesFirst() async {
        let queue = OutboundQueue(limit: 100, graceNanoseconds: 1_000)
        #expect(queue.enqueue(message("q1"), key: "AAPL", now: 0) == .queued)
        #expect(queue.enqueue(message("t1"), now: 0) == .queued)
        #expect(queue.enqueue(message("m1"), key: "MSFT", now: 0) == .queued)
        #expect(queue.enqueue(message("2"), urgent: true, now: 0) == .queued)
        #expect(queue.enqueue(message("q2"), key: "AAPL", now: 0) == .conflated)
        #expect(queue.enqueue(message("m2"), key: "MSFT", now: 0) == .conflated)
        #expect(queue.enqueue(message("2b"), urgent: true, now: 0) == .queued)
        #expect(texts(await queue.next()) == ["2b", "2", "q2", "t1", "m2"])
        #expect(queue.enqueue(message("q3"), key: "AAPL", now: 0) == .queued)
        #expect(texts(await queue.next()) == ["q3"])
    }

    @Test("a queue over its limit past the grace period, or at four times the limit, overflows")
    func overflow() {
        let slow = OutboundQueue(limit: 2, graceNanoseconds: 1_000)
        #expect(slow.enqueue(message("1"), now: 0) == .queued)
        #expect(slow.enqueue(message("2"), now: 0) == .queued)
        #expect(slow.enqueue(message("3"), now: 10) == .queued)
        #expect(!slow.isOverdue(now: 500))
        #expect(slow.isOverdue(now: 2_000))
        #expect(slow.enqueue(message("4"), now: 2_000) == .overflow)

        let flood = OutboundQueue(limit: 2, graceNanoseconds: 1_000_000_000)
        var results: [OutboundQueue.EnqueueResult] = []
        for index in 0..<8 { results.append(flood.enqueue(message("\(index)"), now: 0)) }
        #expect(results.last == .overflow)
        #expect(results.dropLast().allSatisfy { $0 == .queued })
    }

    @Test("conflated messages never count toward overflow")
    func conflationKeepsUnderLimit() {
        let queue = OutboundQueue(limit: 2, graceNanoseconds: 0)
        for index in 0..<1_000 {
            #expect(queue.enqueue(message("\(index)"), key: "k\(index % 2)", now: Int64(index)) != .overflow)
        }
        #expect(queue.count == 2)
    }

    @Test("a waiting consumer is woken by enqueue, gets the final message on close, then nil")
    func wakesAndCloses() async {
        let queue = OutboundQueue(limit: 10, graceNanoseconds: 0)
        async let waiting = queue.next()
        try? await Task.sleep(for: .milliseconds(50))
        _ = queue.enqueue(message("x"), now: 0)
        #expect(texts(await waiting) == ["x"])
        queue.close(final: message("1"))
        #expect(texts(await queue.next()) == ["1"])
        #expect(await queue.next() == nil)
        #expect(queue.enqueue(message("late"), now: 0) == .closed)
    }

    @Test("a polling consumer takes at most maxBytes but always at least one message")
    func respectsMaxBytes() async {
        let queue = OutboundQueue(limit: 10, graceNanoseconds: 0)
        for text in ["aaaa", "bbbb", "cccc"] { _ = queue.enqueue(message(text), now: 0) }
        #expect(texts(await queue.next(maxBytes: 9)) == ["aaaa", "bbbb"])
        #expect(texts(await queue.next(maxBytes: 1)) == ["cccc"])
    }
}
