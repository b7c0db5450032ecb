import HTTPTypes
import SocketIOProtocol
import SocketIOServer
import Testing

/// One GET on a polling session, split into its packets.
func poll(_ port: Int, _ sid: String, path: String = "/socket.io/") async throws -> (status: Int, packets: [String]) {
    let response = try await http(port, .get, "\(path)?EIO=4&transport=polling&sid=\(sid)")
    return (
        response.status, response.body.split(separator: "\u{1e}", omittingEmptySubsequences: false).map(String.init)
    )
}

/// One POST on a polling session.
func send(_ port: Int, _ sid: String, _ packets: [String], path: String = "/socket.io/") async throws -> (Int, String) {
    let response = try await http(
        port, .post, "\(path)?EIO=4&transport=polling&sid=\(sid)", body: packets.joined(separator: "\u{1e}")
    )
    return (response.status, response.body)
}

/// Polls until a packet other than ping/noop arrives, answering pings; returns the non-heartbeat packets.
func pollData(_ port: Int, _ sid: String, path: String = "/socket.io/") async throws -> [String] {
    for _ in 0..<20 {
        let (status, packets) = try await poll(port, sid, path: path)
        try #require(status == 200)
        if packets.contains("2") { _ = try await send(port, sid, ["3"], path: path) }
        let data = packets.filter { $0 != "2" && $0 != "6" }
        if !data.isEmpty { return data }
    }
    throw TestFailure("no data packet arrived")
}

@Suite("Engine.IO and Socket.IO over HTTP long-polling")
struct PollingTransportTests {
    @Test("handshake answers the open packet with sid, upgrades and timings")
    func handshake() async throws {
        try await withServer(
            config {
                $0.pingInterval = 300
                $0.pingTimeout = 200
            }
        ) { _, port, _ in
            let response = try await http(port, .get, "/socket.io/?EIO=4&transport=polling")
            #expect(response.status == 200)
            #expect(response.headers[.contentType] == "text/plain; charset=UTF-8")
            let open = try JSONValue.parse(String(response.body.dropFirst()))
            #expect(open["upgrades"] == .array([.string("websocket")]))
            #expect(open["pingInterval"] == .integer(300))
            #expect(open["pingTimeout"] == .integer(200))
            #expect(open["maxPayload"] == .integer(1_000_000))
            #expect(open["sid"]?.stringValue?.count == 20)
        }
    }

    @Test("a wrong EIO version, an unknown transport and an unknown sid get 400 with an Engine.IO error")
    func rejectsBadQueries() async throws {
        try await withServer { _, port, _ in
            for uri in [
                "/socket.io/?EIO=3&transport=polling", "/socket.io/?transport=polling",
                "/socket.io/?EIO=4&transport=carrier-pigeon", "/socket.io/?EIO=4&transport=polling&sid=nope",
            ] {
                let response = try await http(port, .get, uri)
                #expect(response.status == 400, "\(uri)")
                #expect(try JSONValue.parse(response.body)["code"] != nil)
            }
            let post = try await http(port, .post, "/socket.io/?EIO=4&transport=polling&sid=nope", body: "40")
            #expect(post.status == 400)
            for method in [HTTPRequest.Method.post, .put, .delete] {
                #expect(try await http(port, method, "/socket.io/?EIO=4&transport=polling").status == 400)
            }
            // Still healthy.
            _ = try await pollingHandshake(port)
        }
    }

    @Test("connect, event with binary-free echo and ack round-trip over polling")
    func eventsAndAcks() async throws {
        try await withServer { server, port, delegate in
            let sid = try await pollingHandshake(port)
            #expect(try await send(port, sid, ["40{\"token\":\"abc\"}"]) == (200, "ok"))
            let connected = try await delegate.next()
            guard case .connected(let id, "/", let auth) = connected else { throw TestFailure("\(connected)") }
            #expect(auth == .object([JSONMember("token", .string("abc"))]))
            let greeting = try await pollData(port, sid)
            #expect(greeting.first?.hasPrefix("40{\"sid\":\"") == true)
            #expect(greeting.last == "42[\"auth\",{\"token\":\"abc\"}]")
            #expect(server.clientCount == 1)

            _ = try await send(
                port, sid, ["42[\"message\",1,\"two\",{\"three\":[3]}]", "4213[\"message-with-ack\",\"x\"]"])
            var replies: [String] = []
            while replies.count < 2 { replies += try await pollData(port, sid) }
            #expect(replies == ["42[\"message-back\",1,\"two\",{\"three\":[3]}]", "4313[\"x\"]"])
            let event = try await delegate.next { if case .event = $0 { true } else { false } }
            #expect(
                event
                    == .event(
                        id, name: "message",
                        arguments: [.integer(1), .string("two"), .object([JSONMember("three", .array([.integer(3)]))])])
            )

            _ = try await send(port, sid, ["41"])
            let gone = try await delegate.next { if case .disconnected = $0 { true } else { false } }
            #expect(gone == .disconnected(id, reason: "client namespace disconnect"))
            // With no namespace left, the connection itself is closed.
            #expect(try await poll(port, sid).status == 400)
        }
    }

    @Test("an unknown namespace gets exactly the CONNECT_ERROR the protocol suite expects")
    func invalidNamespace() async throws {
        try await withServer { _, port, _ in
            let sid = try await pollingHandshake(port)
            _ = try await send(port, sid, ["40/random,"])
            #expect(try await pollData(port, sid) == ["44/random,{\"message\":\"Invalid namespace\"}"])
        }
    }

    @Test("with a token configured, CONNECT without it gets CONNECT_ERROR and with it connects")
    func tokenAuth() async throws {
        try await withServer(config { $0.token = "s3cret" }) { server, port, _ in
            let sid = try await pollingHandshake(port)
            _ = try await send(port, sid, ["40{\"token\":\"wrong\"}"])
            let refused = try await pollData(port, sid)
            #expect(refused.first?.hasPrefix("44{\"message\":\"Unauthorized") == true)
            #expect(server.clientCount == 0)
            _ = try await send(port, sid, ["40{\"token\":\"s3cret\"}"])
            #expect(try await pollData(port, sid).first?.hasPrefix("40{\"sid\":") == true)
            #expect(server.clientCount == 1)
        }
    }

    @Test("a second GET while one is pending gets 400, the first gets a close packet, the session is gone")
    func duplicateGET() async throws {
        try await withServer(config { $0.pingInterval = 5_000 }) { _, port, _ in
            let sid = try await pollingHandshake(port)
            async let first = poll(port, sid)
            try await Task.sleep(for: .milliseconds(200))
            let second = try await poll(port, sid)
            #expect(second.status == 400)
            let firstResult = try await first
            #expect(firstResult.status == 200)
            #expect(firstResult.packets == ["1"])
            #expect(try await poll(port, sid).status == 400)
        }
    }

    @Test("a malformed POST closes the session with 400 and the server keeps serving")
    func malformedPOST() async throws {
        try await withServer { _, port, _ in
            for body in ["x", "4\u{1e}\u{1e}", "bnot base64!", "0", "4\u{ff}"] {
                let sid = try await pollingHandshake(port)
                _ = try await send(port, sid, ["40"])
                let (status, _) = try await send(port, sid, [body])
                #expect(status == 400, "\(body)")
                #expect(try await poll(port, sid).status == 400)
            }
        }
    }

    @Test("a POST above maxPayload gets 413 and closes the session")
    func oversizePOST() async throws {
        try await withServer(config { $0.maxPayload = 2_048 }) { _, port, _ in
            let sid = try await pollingHandshake(port)
            let big = "42[\"message\",\"" + String(repeating: "a", count: 4_000) + "\"]"
            let (status, _) = try await send(port, sid, [big])
            #expect(status == 413)
            #expect(try await poll(port, sid).status == 400)
        }
    }

    @Test("without a CONNECT within the connect timeout the session is closed")
    func connectTimeout() async throws {
        try await withServer(config { $0.connectTimeout = 300 }) { _, port, _ in
            let sid = try await pollingHandshake(port)
            try await Task.sleep(for: .milliseconds(700))
            #expect(try await poll(port, sid).status == 400)
        }
    }

    @Test("the server pings every pingInterval and closes a client that does not answer within pingTimeout")
    func heartbeatTimeout() async throws {
        try await withServer(
            config {
                $0.pingInterval = 300
                $0.pingTimeout = 200
            }
        ) { _, port, delegate in
            let sid = try await pollingHandshake(port)
            _ = try await send(port, sid, ["40"])
            _ = try await pollData(port, sid)
            let (status, packets) = try await poll(port, sid)
            #expect(status == 200)
            #expect(packets == ["2"])
            // No pong: the session must be gone after pingTimeout.
            let gone = try await delegate.next(timeout: .seconds(3)) {
                if case .disconnected = $0 { true } else { false }
            }
            guard case .disconnected(_, let reason) = gone else { throw TestFailure("\(gone)") }
            #expect(reason == "ping timeout")
            #expect(try await poll(port, sid).status == 400)
        }
    }

    @Test("the plain Engine.IO echo endpoint returns messages unchanged, including base64 binary")
    func echoEndpoint() async throws {
        try await withServer(config { $0.echoPath = "/engine.io/" }) { _, port, _ in
            let sid = try await pollingHandshake(port, path: "/engine.io/")
            _ = try await send(port, sid, ["4hello", "bAQID"], path: "/engine.io/")
            var packets: [String] = []
            while packets.count < 2 { packets += try await pollData(port, sid, path: "/engine.io/") }
            #expect(packets == ["4hello", "bAQID"])
        }
    }

    @Test("a server-side disconnect sends DISCONNECT; a connection left idle is closed by the connect timeout")
    func serverDisconnect() async throws {
        try await withServer(config { $0.connectTimeout = 500 }) { server, port, delegate in
            let sid = try await pollingHandshake(port)
            _ = try await send(port, sid, ["40"])
            _ = try await pollData(port, sid)
            let connected = try await delegate.next()
            guard case .connected(let id, _, _) = connected else { throw TestFailure("\(connected)") }
            try server.disconnect(id, reason: "kicked")
            #expect(try await delegate.next() == .disconnected(id, reason: "kicked"))
            #expect(try await pollData(port, sid) == ["41"])
            #expect(throws: SocketIOServerError.self) { try server.disconnect(id, reason: "again") }
            try await Task.sleep(for: .milliseconds(900))
            #expect(try await poll(port, sid).status == 400)
        }
    }

    @Test("a client POST of the close packet ends the session")
    func clientClose() async throws {
        try await withServer { _, port, _ in
            let sid = try await pollingHandshake(port)
            #expect(try await send(port, sid, ["1"]).0 == 200)
            #expect(try await poll(port, sid).status == 400)
        }
    }
}
