import SocketIOProtocol
import Testing

@Suite("Engine.IO packets and polling payloads")
struct EnginePacketTests {
    @Test(
        "decodes every text packet type",
        arguments: [
            ("0{\"sid\":\"x\"}", EnginePacketType.open, "{\"sid\":\"x\"}"),
            ("1", .close, ""),
            ("2", .ping, ""),
            ("2probe", .ping, "probe"),
            ("3probe", .pong, "probe"),
            ("4hello €", .message, "hello €"),
            ("5", .upgrade, ""),
            ("6", .noop, ""),
        ]
    )
    func decodesText(input: String, type: EnginePacketType, payload: String) throws {
        let packet = try EnginePacket.decodeText(Array(input.utf8))
        #expect(packet.type == type)
        #expect(packet.text == payload)
        #expect(packet.encodedForPolling() == Array(input.utf8))
    }

    @Test("refuses malformed packets with a typed error", arguments: ["", "7", "a", "/", "9hello"])
    func refusesMalformed(input: String) {
        #expect(throws: ProtocolError.self) { try EnginePacket.decodeText(Array(input.utf8)) }
    }

    @Test("splits a polling payload on the record separator, decoding base64 binary")
    func decodesPayload() throws {
        let body = Array("4hello\u{1e}2\u{1e}bAQIDBA==\u{1e}4".utf8)
        let packets = try PollingPayload.decode(body)
        #expect(packets.count == 4)
        #expect(packets[0] == EnginePacket(.message, text: "hello"))
        #expect(packets[1] == EnginePacket(.ping))
        #expect(packets[2] == .binary([1, 2, 3, 4]))
        #expect(packets[3] == EnginePacket(.message, text: ""))
    }

    @Test("encodes a payload that decodes back to the same packets")
    func roundTripsPayload() throws {
        let packets: [EnginePacket] = [
            EnginePacket(.message, text: "a\u{1f}b"), .binary([0, 255, 7]), EnginePacket(.ping),
        ]
        let body = PollingPayload.encode(packets.map { $0.encodedForPolling() })
        #expect(try PollingPayload.decode(body) == packets)
    }

    @Test(
        "refuses empty payloads, empty packets and bad base64", arguments: ["", "4a\u{1e}\u{1e}4b", "b!!!", "bA", "x"])
    func refusesBadPayload(input: String) {
        #expect(throws: ProtocolError.self) { try PollingPayload.decode(Array(input.utf8)) }
    }

    @Test("base64 round-trips every length up to 3 blocks")
    func base64RoundTrip() throws {
        for length in 0..<10 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 37 + 5) }
            #expect(try Base64.decode(Base64.encode(bytes)) == bytes)
        }
        #expect(Base64.encode(Array("hello".utf8)) == Array("aGVsbG8=".utf8))
    }

    @Test("open packet carries sid, upgrades and timings")
    func handshake() throws {
        let handshake = EngineHandshake(
            sid: "abc", upgrades: ["websocket"], pingInterval: 300, pingTimeout: 200, maxPayload: 1_000_000
        )
        let text = String(decoding: handshake.packet.encodedForPolling(), as: UTF8.self)
        #expect(
            text == "0{\"sid\":\"abc\",\"upgrades\":[\"websocket\"],\"pingInterval\":300,\"pingTimeout\":200,"
                + "\"maxPayload\":1000000}"
        )
    }
}

@Suite("Socket.IO packets")
struct SocketIOPacketTests {
    @Test(
        "round-trips well-formed packets",
        arguments: [
            ("0", SocketIOPacket(.connect)),
            ("0{\"token\":\"t\"}", SocketIOPacket(.connect, data: .object([JSONMember("token", .string("t"))]))),
            ("0/admin,", SocketIOPacket(.connect, namespace: "/admin")),
            ("1", SocketIOPacket(.disconnect)),
            ("1/admin,", SocketIOPacket(.disconnect, namespace: "/admin")),
            ("2[\"hello\",1]", .event("hello", [.integer(1)])),
            (
                "2/admin,456[\"project:delete\",123]",
                .event("project:delete", [.integer(123)], namespace: "/admin", ackId: 456)
            ),
            ("3/admin,456[]", SocketIOPacket(.ack, namespace: "/admin", ackId: 456, data: .array([]))),
            (
                "4{\"message\":\"Not authorized\"}",
                SocketIOPacket(.connectError, data: .object([JSONMember("message", .string("Not authorized"))]))
            ),
            (
                "22[\"x\",{\"a\":[true,false,null,-1.5e3]}]",
                .event(
                    "x", [.object([JSONMember("a", .array([.bool(true), .bool(false), .null, .number("-1.5e3")]))])],
                    ackId: 2)
            ),
        ]
    )
    func roundTrips(text: String, packet: SocketIOPacket) throws {
        let decoded = try SocketIOPacket.decode(Array(text.utf8))
        #expect(decoded.packet == packet)
        #expect(decoded.expectedAttachments == 0)
        #expect(packet.encodedText() == Array(text.utf8))
    }

    @Test(
        "refuses malformed packets",
        arguments: [
            "", "7", "x", "2", "2{}", "2[]", "2[1]", "2[\"a\"", "2\"hello\"", "3[]", "31", "1{}", "0[1]", "0\"s\"",
            "4", "51-[\"a\"]", "5-[\"a\"]", "5x-[\"a\"]", "2/admin,[\"a\",]", "299999999999999999[\"a\"]",
            "2[\"a\"]junk",
        ]
    )
    func refusesMalformed(text: String) {
        #expect(throws: ProtocolError.self) { try SocketIOPacket.decode(Array(text.utf8)) }
    }

    @Test("reassembles a binary event from its header and attachments")
    func assemblesBinary() throws {
        var assembler = SocketIOPacketAssembler()
        let header = "52-/admin,7[\"upload\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]"
        #expect(try assembler.receive(text: Array(header.utf8)) == nil)
        #expect(assembler.isAwaitingAttachments)
        #expect(try assembler.receive(binary: [1, 2]) == nil)
        let packet = try #require(try assembler.receive(binary: [3]))
        #expect(packet.type == .binaryEvent)
        #expect(packet.namespace == "/admin")
        #expect(packet.ackId == 7)
        #expect(packet.eventName == "upload")
        #expect(packet.attachments == [[1, 2], [3]])
        #expect(packet.encodedText() == Array(header.utf8))
    }

    @Test("refuses attachments nobody announced and mismatched placeholder counts")
    func refusesStrayAttachments() {
        var assembler = SocketIOPacketAssembler()
        #expect(throws: ProtocolError.self) { try assembler.receive(binary: [1]) }
        #expect(throws: ProtocolError.self) {
            try assembler.receive(text: Array("52-[\"a\",{\"_placeholder\":true,\"num\":0}]".utf8))
        }
        var limited = SocketIOPacketAssembler(maximumAttachments: 1)
        #expect(throws: ProtocolError.self) {
            try limited.receive(
                text: Array("52-[\"a\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]".utf8)
            )
        }
    }
}

@Suite("JSON values")
struct JSONValueTests {
    @Test(
        "parses and re-emits compact JSON",
        arguments: [
            "null", "true", "[]", "{}", "0", "-0.5", "1e10", "\"\\u00e9\\n\\\"\"", "[1,[2,[3]],{\"k\":{}}]",
            "\"\\ud83d\\ude00\"",
        ]
    )
    func parses(text: String) throws {
        let value = try JSONValue.parse(text)
        #expect(try JSONValue.parse(value.jsonText) == value)
    }

    @Test(
        "refuses invalid JSON",
        arguments: [
            "", "nul", "01", "1.", "-", "[1,]", "{\"a\"}", "{1:2}", "\"\\x\"", "\"\\ud800\"", "[", "\"a", "tru",
        ]
    )
    func refuses(text: String) {
        #expect(throws: ProtocolError.self) { try JSONValue.parse(text) }
    }

    @Test("refuses nesting deeper than the limit instead of overflowing the stack")
    func deepNesting() {
        let text = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: ProtocolError.self) { try JSONValue.parse(text) }
    }

    @Test("escapes control characters when writing strings")
    func escapes() {
        #expect(JSONValue.string("a\u{1}\"\\\n").jsonText == "\"a\\u0001\\\"\\\\\\n\"")
    }
}
