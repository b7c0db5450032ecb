import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOPosix
import SocketIOProtocol
import Synchronization

/// The request context of every HTTP route: remembers the peer address for the delegate.
struct SocketIORequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: String

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress.map(SocketIOServer.describe) ?? ""
    }
}

extension SocketIOServer {
    /// The Engine.IO path without its trailing slash (Hummingbird matches both forms).
    var enginePath: String { Self.trimmed(configuration.path) }

    /// The echo endpoint's path without its trailing slash, when configured.
    var echoPath: String? { configuration.echoPath.map(Self.trimmed) }

    static func trimmed(_ path: String) -> String {
        var path = path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return path
    }

    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return address.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }

    func makeApplication(threadPool: NIOThreadPool) throws -> some ApplicationProtocol {
        let router = Router(context: SocketIORequestContext.self)
        router.add(middleware: CORSAllowlistMiddleware(origins: configuration.corsOrigins))
        router.add(middleware: JSONErrorMiddleware())
        if let webRoot = configuration.webRoot {
            router.add(
                middleware: FileMiddleware(
                    webRoot,
                    cacheControl: CacheControl([
                        (MediaType.textHtml, [.noCache]),
                        (MediaType(type: .any), [.public, .maxAge(3_600)]),
                    ]),
                    searchForIndexHtml: true, threadPool: threadPool, logger: logger
                )
            )
        }
        for (path, echo) in [(enginePath, false)] + (echoPath.map { [($0, true)] } ?? []) {
            router.get(RouterPath(path)) { request, context in
                await self.pollingGET(request, context: context, echo: echo)
            }
            router.post(RouterPath(path)) { request, context in
                await self.pollingPOST(request, context: context, echo: echo)
            }
            for method in [HTTPRequest.Method.put, .patch, .delete] {
                router.on(RouterPath(path), method: method) { _, _ in Self.engineError(2, "Bad handshake method") }
            }
        }
        for path in ["/api/**", "/health", "/metrics", "/openapi.yaml"] {
            // TRACE and QUERY too, so the host answers 405 (with Allow) rather than the router's bare 404.
            let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .trace]
            for method in methods + [HTTPRequest.Method("QUERY")].compactMap({ $0 }) {
                router.on(RouterPath(path), method: method) { request, context in
                    try await self.forward(request, context: context)
                }
            }
        }
        let ws = WebSocketServerConfiguration(
            maxFrameSize: configuration.maxPayload, autoPing: .disabled, closeTimeout: .seconds(2)
        )
        var server = HTTPServerBuilder.http1WebSocketUpgrade(configuration: .init(ws: ws)) { head, channel, _ in
            let sendBuffer = self.configuration.socketSendBuffer
            if sendBuffer > 0 {
                // Best effort: a refused option leaves the kernel's default, which still works.
                channel.setOption(ChannelOptions.socketOption(.so_sndbuf), value: SocketOptionValue(sendBuffer))
                    .whenFailure { _ in }
            }
            return self.shouldUpgrade(
                head, channel: channel, remoteAddress: channel.remoteAddress.map(Self.describe) ?? "")
        }
        if let tls = try makeTLSConfiguration() { server = try .tls(server, tlsConfiguration: tls) }
        return Application(
            router: router,
            server: server,
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: "MarketHub"
            ),
            onServerRunning: { channel in self.didStartListening(port: channel.localAddress?.port ?? 0) },
            eventLoopGroupProvider: .shared(eventLoopGroup),
            logger: logger
        )
    }

    // MARK: - Engine.IO over HTTP long-polling

    /// Engine.IO's error answer: HTTP 400 (or `status`) with `{"code":…,"message":…}`.
    static func engineError(_ code: Int, _ message: String, status: HTTPResponse.Status = .badRequest) -> Response {
        let body = JSONValue.object([JSONMember("code", .integer(code)), JSONMember("message", .string(message))])
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: body.jsonBytes))
        )
    }

    static func plainText(_ bytes: [UInt8]) -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; charset=UTF-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }

    /// Validates `EIO` and `transport`; returns an error response or nil.
    private func checkQuery(_ request: Request) -> Response? {
        let query = request.uri.queryParameters
        guard query["EIO"] == "4" else { return Self.engineError(5, "Unsupported protocol version") }
        guard query["transport"] == "polling" else { return Self.engineError(0, "Transport unknown") }
        return nil
    }

    private func pollingSession(_ request: Request, echo: Bool) -> (EngineSession?, Response?) {
        if let error = checkQuery(request) { return (nil, error) }
        guard let sid = request.uri.queryParameters["sid"].map(String.init) else { return (nil, nil) }
        guard let session = session(sid), session.echo == echo, session.transport == .polling else {
            return (nil, Self.engineError(1, "Session ID unknown"))
        }
        return (session, nil)
    }

    func pollingGET(_ request: Request, context: SocketIORequestContext, echo: Bool) async -> Response {
        let (found, error) = pollingSession(request, echo: echo)
        if let error { return error }
        guard let session = found else {
            guard let session = openSession(transport: .polling, remoteAddress: context.remoteAddress, echo: echo)
            else {
                return Self.engineError(4, "Server is full or stopping", status: .serviceUnavailable)
            }
            return Self.plainText(handshake(for: session, upgrades: ["websocket"]).packet.encodedForPolling())
        }
        let duplicate = session.state.withLock { state -> Bool in
            if state.pollingGET { return true }
            state.pollingGET = true
            return false
        }
        if duplicate {
            closeSession(session, reason: "multiple pending GET requests", final: .text("1"))
            return Self.engineError(3, "Bad request: overlapping GET")
        }
        defer { session.state.withLock { $0.pollingGET = false } }
        guard let batch = await session.queue.next(maxBytes: configuration.maxPayload) else {
            return Self.plainText(Array("1".utf8))
        }
        if batch.isEmpty { return Self.plainText(Array("6".utf8)) }
        var packets: [[UInt8]] = []
        for message in batch {
            for frame in message.frames {
                var bytes = frame.bytes
                let raw = bytes.readBytes(length: bytes.readableBytes) ?? []
                packets.append(frame.isBinary ? EnginePacket.binary(raw).encodedForPolling() : raw)
            }
        }
        return Self.plainText(PollingPayload.encode(packets))
    }

    func pollingPOST(_ request: Request, context: SocketIORequestContext, echo: Bool) async -> Response {
        let (found, error) = pollingSession(request, echo: echo)
        if let error { return error }
        guard let session = found else { return Self.engineError(2, "Bad handshake method") }
        let duplicate = session.state.withLock { state -> Bool in
            if state.pollingPOST { return true }
            state.pollingPOST = true
            return false
        }
        if duplicate {
            closeSession(session, reason: "multiple pending POST requests", final: .text("1"))
            return Self.engineError(3, "Bad request: overlapping POST")
        }
        defer { session.state.withLock { $0.pollingPOST = false } }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: configuration.maxPayload)
        } catch {
            closeSession(session, reason: "payload too large", final: .text("1"))
            return Self.engineError(3, "Payload too large", status: .contentTooLarge)
        }
        let packets: [EnginePacket]
        do {
            packets = try PollingPayload.decode(body.readableBytesView)
        } catch {
            counters.add(.protocolErrors)
            closeSession(session, reason: "parse error: \(error.message)", final: .text("1"))
            return Self.engineError(3, "Bad request: \(error.message)")
        }
        for packet in packets where !handle(packet, from: session) {
            return Self.engineError(3, "Bad request: invalid packet")
        }
        return Response(
            status: .ok, headers: [.contentType: "text/html; charset=UTF-8"],
            body: .init(byteBuffer: ByteBuffer(string: "ok"))
        )
    }

    // MARK: - Forwarded routes

    func forward(_ request: Request, context: SocketIORequestContext) async throws -> Response {
        var subject = ""
        if let token = configuration.token, request.uri.path != "/health" {
            let header = request.headers[.authorization] ?? ""
            guard header.hasPrefix("Bearer "), Self.constantTimeEquals(String(header.dropFirst(7)), token) else {
                var response = Self.jsonError(.unauthorized, "unauthorized", "a valid bearer token is required")
                response.headers[.wwwAuthenticate] = "Bearer"
                return response
            }
            subject = "bearer"
        }
        let cacheKey: String? =
            request.method == .get && responseCache.isEnabled
            ? SharedResponseCache.key(path: request.uri.path, query: request.uri.query) : nil
        // A client that asks for a fresh answer (`Cache-Control: no-cache` or `max-age=0`) gets one from the host.
        if let cacheKey, !SharedResponseCache.wantsFreshAnswer(request.headers[values: .cacheControl]),
            let cached = responseCache.answer(for: cacheKey, now: clock.now())
        {
            return Response(status: cached.status, headers: cached.headers, body: .init(byteBuffer: cached.body))
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: configuration.maxBodyBytes)
        } catch {
            return Self.jsonError(
                .contentTooLarge, "payload_too_large", "request body exceeds \(configuration.maxBodyBytes) bytes"
            )
        }
        let forwarded = ForwardedRequest(
            method: request.method.rawValue, path: request.uri.path, query: request.uri.query ?? "",
            headers: request.headers.map { (name: $0.name.canonicalName, value: $0.value) },
            body: Array(body.readableBytesView), remoteAddress: context.remoteAddress, authSubject: subject
        )
        let answer = await delegate.server(self, handle: forwarded)
        guard (100...599).contains(answer.status) else {
            return Self.jsonError(.badGateway, "bad_gateway", "the handler answered with status \(answer.status)")
        }
        var headers = HTTPFields()
        for header in answer.headers {
            if let name = HTTPField.Name(header.name) { headers.append(HTTPField(name: name, value: header.value)) }
        }
        let status = HTTPResponse.Status(code: answer.status)
        let answerBody = ByteBuffer(bytes: answer.body)
        if let cacheKey {
            responseCache.store(cacheKey, status: status, headers: headers, body: answerBody, now: clock.now())
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: answerBody))
    }

    static func jsonError(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        let body = JSONValue.object([JSONMember("error", .string(code)), JSONMember("message", .string(message))])
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: body.jsonBytes))
        )
    }
}

/// Turns every thrown error into a JSON body `{"error","message"}` with the error's status (500 otherwise).
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError {
            let code = String(error.status.reasonPhrase.lowercased().map { $0 == " " ? "_" : $0 })
            let message = (error as? HTTPError)?.body ?? error.status.reasonPhrase
            return SocketIOServer.jsonError(error.status, code, message)
        } catch {
            return SocketIOServer.jsonError(.internalServerError, "internal_error", "the request could not be handled")
        }
    }
}

/// CORS for an allowlist of origins (`*` allows any). Answers preflights itself; adds the response headers to
/// allowed cross-origin requests and leaves everything else untouched (the browser then blocks it).
struct CORSAllowlistMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowAny: Bool
    let origins: Set<String>

    init(origins: [String]) {
        allowAny = origins.contains("*")
        self.origins = Set(origins)
    }

    func allows(_ origin: String) -> Bool { allowAny || origins.contains(origin) }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        guard let origin = request.headers[.origin], allows(origin) else {
            return try await next(request, context)
        }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var headers: HTTPFields = [
                .accessControlAllowMethods: "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
                .accessControlAllowHeaders: request.headers[.accessControlRequestHeaders]
                    ?? "Authorization, Content-Type",
                .accessControlMaxAge: "600",
            ]
            Self.addOriginHeaders(&headers, origin: origin)
            return Response(status: .noContent, headers: headers)
        }
        var response = try await next(request, context)
        Self.addOriginHeaders(&response.headers, origin: origin)
        return response
    }

    static func addOriginHeaders(_ headers: inout HTTPFields, origin: String) {
        headers[.accessControlAllowOrigin] = origin
        headers[.accessControlAllowCredentials] = "true"
        headers.append(HTTPField(name: .vary, value: "Origin"))
    }
}
