import NIOCore
import Testing

@testable import RedisClient

@Suite("RESP codec")
struct RESPCodecTests {
    func parse(_ text: String) throws -> RESPValue? {
        var buffer = ByteBuffer(string: text)
        return try RESPDecoder.parse(&buffer, depth: 0)
    }

    @Test("decodes every RESP2 type, nulls and nested arrays")
    func decodesTypes() throws {
        #expect(try parse("+OK\r\n") == .simpleString("OK"))
        #expect(try parse("-ERR wrong\r\n") == .error("ERR wrong"))
        #expect(try parse(":-42\r\n") == .integer(-42))
        #expect(try parse("$5\r\nhe\r\no\r\n") == .bulkString(Array("he\r\no".utf8)))
        #expect(try parse("$-1\r\n") == .bulkString(nil))
        #expect(try parse("*-1\r\n") == .array(nil))
        #expect(
            try parse("*3\r\n$7\r\nmessage\r\n*1\r\n:1\r\n$0\r\n\r\n")
                == .array([.bulkString(Array("message".utf8)), .array([.integer(1)]), .bulkString([])]))
    }

    @Test("waits for the rest of a value split across reads")
    func partialValues() throws {
        let whole = "*2\r\n$3\r\nfoo\r\n:7\r\n"
        for cut in 0..<whole.utf8.count {
            let prefix = String(decoding: Array(whole.utf8)[..<cut], as: UTF8.self)
            #expect(try parse(prefix) == nil, "prefix of \(cut) bytes")
        }
        #expect(try parse(whole) == .array([.bulkString(Array("foo".utf8)), .integer(7)]))
    }

    @Test("refuses bytes that are not RESP with a protocol error")
    func refusesGarbage() {
        for bad in ["?what\r\n", ":12x\r\n", "$-2\r\n", "$3\r\nabcXY", "+OK\rX"] {
            #expect(throws: RedisError.self, "\(bad.debugDescription)") { try parse(bad) }
        }
    }

    @Test("encodes a command as an array of bulk strings, binary-safe")
    func encodesCommands() {
        var buffer = ByteBuffer()
        RESPEncoder.write(RedisCommand("PUBLISH", ["room"], bytes: [0, 13, 10, 255]), into: &buffer)
        #expect(
            buffer.readBytes(length: buffer.readableBytes) == Array("*3\r\n$7\r\nPUBLISH\r\n$4\r\nroom\r\n$4\r\n".utf8)
                + [0, 13, 10, 255] + [13, 10])
    }

    @Test("parses redis:// URLs and refuses others clearly")
    func parsesURLs() throws {
        #expect(
            try RedisEndpoint(url: "redis://127.0.0.1:6400/2")
                == RedisEndpoint(host: "127.0.0.1", port: 6400, database: 2))
        #expect(try RedisEndpoint(url: "redis://cache") == RedisEndpoint(host: "cache", port: 6379, database: 0))
        for bad in ["http://x", "redis://", "redis://h:0", "redis://h:port", "redis://u:p@h", "redis://h/x"] {
            #expect(throws: RedisError.self, "\(bad)") { try RedisEndpoint(url: bad) }
        }
    }

    @Test("backoff doubles to its maximum and stays within the jitter window")
    func backoff() {
        let backoff = RedisSubscriber.Backoff(initialMilliseconds: 100, maximumMilliseconds: 1_000)
        for _ in 0..<50 {
            #expect((50...100).contains(backoff.delayMilliseconds(attempt: 1)))
            #expect((200...400).contains(backoff.delayMilliseconds(attempt: 3)))
            #expect((500...1_000).contains(backoff.delayMilliseconds(attempt: 30)))
        }
    }
}
