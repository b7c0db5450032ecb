import HTTPTypes
import SocketIOProtocol
import SocketIOServer
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Writes `files` (relative path → content) below a fresh temporary folder and returns its path.
func makeWebRoot(_ files: [String: String]) throws -> String {
    var template = Array("/tmp/socketio-webroot-XXXXXX".utf8CString)
    guard let root = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
    let path = String(cString: root)
    for (name, content) in files {
        let full = "\(path)/\(name)"
        if let slash = full.lastIndex(of: "/"), full[..<slash] != path { mkdir(String(full[..<slash]), 0o755) }
        guard let file = fopen(full, "w") else { throw TestFailure("cannot write \(full)") }
        fputs(content, file)
        fclose(file)
    }
    return path
}

@Suite("Forwarded REST routes, static files and CORS")
struct HTTPRoutesTests {
    @Test("API routes are forwarded to the delegate with method, path, query and body")
    func forwards() async throws {
        try await withServer { _, port, delegate in
            let response = try await http(port, .post, "/api/market/aggs?ticker=AAPL&x=1", body: "{\"a\":1}")
            #expect(response.status == 200)
            #expect(response.headers[.contentType] == "application/json")
            #expect(try JSONValue.parse(response.body)["path"] == .string("/api/market/aggs"))
            let request = try await delegate.next()
            #expect(
                request
                    == .request(
                        method: "POST", path: "/api/market/aggs", query: "ticker=AAPL&x=1", body: "{\"a\":1}",
                        subject: ""
                    )
            )
            for path in ["/health", "/metrics", "/openapi.yaml"] {
                #expect(try await http(port, .get, path).status == 200)
            }
        }
    }

    @Test("GET answers marked s-maxage are reused until they expire; private, unmarked and POST ones are not")
    func sharedResponseCache() async throws {
        try await withServer { server, port, delegate in
            // A minute, so a loaded machine (the suites run in parallel) cannot expire it between two requests.
            let shared = "/api/market/aggs?ticker=SPY&cc=public,%20max-age=60,%20s-maxage=60"
            let first = try await http(port, .get, shared)
            let second = try await http(port, .get, shared)
            #expect(first.status == 200 && second.status == 200)
            #expect(second.body == first.body, "the second answer is the stored one")
            #expect(second.headers[.cacheControl] == "public, max-age=60, s-maxage=60")
            #expect(second.headers[.contentType] == "application/json")
            #expect(delegate.requests.load(ordering: .relaxed) == 1)
            #expect(server.statistics.httpCacheHits == 1)
            // A client asking for a fresh answer gets one from the host (and it replaces the stored one).
            let fresh = try await http(port, .get, shared, headers: [.cacheControl: "no-cache"])
            #expect(fresh.body != first.body && delegate.requests.load(ordering: .relaxed) == 2)
            let afterFresh = try await http(port, .get, shared)
            #expect(afterFresh.body == fresh.body)
            // Another query is another key.
            let other = try await http(port, .get, shared + "&limit=5")
            #expect(other.body != first.body)
            for uri in [
                "/api/x?cc=private,%20s-maxage=60", "/api/x?cc=s-maxage=60,%20no-store", "/api/x?cc=max-age=60",
                "/api/x?cc=s-maxage=0", "/api/x",
            ] {
                let one = try await http(port, .get, uri)
                let two = try await http(port, .get, uri)
                #expect(one.body != two.body, "\(uri) was answered from the cache")
            }
            let posted = try await http(port, .post, shared)
            let postedAgain = try await http(port, .post, shared)
            #expect(postedAgain.body != posted.body, "a POST was answered from the cache")
            let shortLived = "/api/x?cc=s-maxage=1"
            let stored = try await http(port, .get, shortLived)
            try await Task.sleep(for: .milliseconds(1_100))
            let expired = try await http(port, .get, shortLived)
            #expect(expired.body != stored.body, "an expired answer was reused")
        }
    }

    @Test("with the shared cache off every request reaches the host; with a token it is checked first")
    func sharedResponseCacheOffAndAuthorized() async throws {
        try await withServer(config { $0.responseCacheEntries = 0 }) { server, port, delegate in
            let uri = "/api/x?cc=s-maxage=60"
            let one = try await http(port, .get, uri)
            let two = try await http(port, .get, uri)
            #expect(one.body != two.body)
            #expect(server.statistics.httpCacheHits == 0 && delegate.requests.load(ordering: .relaxed) == 2)
        }
        try await withServer(config { $0.token = "t0k" }) { _, port, _ in
            let uri = "/api/x?cc=s-maxage=60"
            let authorized = try await http(port, .get, uri, headers: [.authorization: "Bearer t0k"])
            #expect(authorized.status == 200)
            let anonymous = try await http(port, .get, uri)
            #expect(anonymous.status == 401, "the cache answered without the token")
            let again = try await http(port, .get, uri, headers: [.authorization: "Bearer t0k"])
            #expect(again.body == authorized.body)
        }
    }

    @Test("with a token, REST needs the bearer header (401 JSON otherwise); /health stays open")
    func bearerToken() async throws {
        try await withServer(config { $0.token = "t0k" }) { _, port, delegate in
            let missing = try await http(port, .get, "/api/market/status")
            #expect(missing.status == 401)
            #expect(missing.headers[.wwwAuthenticate] == "Bearer")
            #expect(try JSONValue.parse(missing.body)["error"] == .string("unauthorized"))
            let wrong = try await http(port, .get, "/api/market/status", headers: [.authorization: "Bearer nope"])
            #expect(wrong.status == 401)
            let right = try await http(port, .get, "/api/market/status", headers: [.authorization: "Bearer t0k"])
            #expect(right.status == 200)
            let seen = try await delegate.next()
            #expect({ if case .request(_, _, _, _, "bearer") = seen { true } else { false } }())
            #expect(try await http(port, .get, "/health").status == 200)
        }
    }

    @Test("bodies above the limit get 413 JSON; unknown routes get 404 JSON")
    func limitsAndErrors() async throws {
        try await withServer(config { $0.maxBodyBytes = 16 }) { _, port, _ in
            let big = try await http(port, .post, "/api/x", body: String(repeating: "z", count: 100))
            #expect(big.status == 413)
            #expect(try JSONValue.parse(big.body)["error"] == .string("payload_too_large"))
            let missing = try await http(port, .get, "/nothing-here")
            #expect(missing.status == 404)
            #expect(try JSONValue.parse(missing.body)["message"] != nil)
        }
    }

    @Test("static files have content types and cache headers, index.html is found, traversal is refused")
    func staticFiles() async throws {
        let root = try makeWebRoot(["index.html": "<h1>hub</h1>", "app/main.js": "console.log(1)", "s.css": "a{}"])
        try await withServer(config { $0.webRoot = root }) { _, port, _ in
            let index = try await http(port, .get, "/")
            #expect(index.status == 200)
            #expect(index.body == "<h1>hub</h1>")
            #expect(index.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(index.headers[.cacheControl] == "no-cache")
            let script = try await http(port, .get, "/app/main.js")
            #expect(script.status == 200)
            #expect(script.headers[.contentType]?.contains("javascript") == true)
            #expect(script.headers[.cacheControl]?.contains("max-age=3600") == true)
            #expect(try await http(port, .get, "/s.css").headers[.contentType]?.hasPrefix("text/css") == true)
            for attack in ["/../etc/passwd", "/app/../../etc/passwd", "/%2e%2e/etc/passwd"] {
                let response = try await http(port, .get, attack)
                #expect([400, 404].contains(response.status), "\(attack)")
                #expect(!response.body.contains("root:"))
            }
        }
    }

    @Test("CORS: allowed origins get preflight answers and headers, others get none")
    func cors() async throws {
        try await withServer(config { $0.corsOrigins = ["https://app.example"] }) { _, port, _ in
            let preflight = try await http(
                port, .options, "/api/market/aggs",
                headers: [.origin: "https://app.example", .accessControlRequestMethod: "POST"]
            )
            #expect(preflight.status == 204)
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://app.example")
            #expect(preflight.headers[.accessControlAllowMethods]?.contains("POST") == true)
            let allowed = try await http(port, .get, "/api/x", headers: [.origin: "https://app.example"])
            #expect(allowed.headers[.accessControlAllowOrigin] == "https://app.example")
            let other = try await http(port, .get, "/api/x", headers: [.origin: "https://evil.example"])
            #expect(other.headers[.accessControlAllowOrigin] == nil)
        }
    }
}
