import Foundation
import PluginKit

/// Routes host HTTP requests by method and path pattern (`/api/market/quotes/:contract`).
public final class HTTPRouter: Sendable {
    public typealias Handler = @Sendable (HTTPRequest, RouteParameters) async -> HTTPResponse
    /// Answers a request on the caller's thread when it can do so at once without blocking (a reused body, a
    /// parameter error), or returns nil to leave the request to the route's `Handler`.
    public typealias ImmediateHandler = @Sendable (HTTPRequest, RouteParameters) -> HTTPResponse?

    struct Route: Sendable {
        var method: String
        var segments: [Substring]
        var handler: Handler
        var immediate: ImmediateHandler?
    }

    private let routes: [Route]

    public init(_ build: (inout Builder) -> Void) {
        var builder = Builder()
        build(&builder)
        routes = builder.routes
    }

    public struct Builder {
        var routes: [Route] = []

        public mutating func add(
            _ method: String, _ pattern: String, immediate: ImmediateHandler? = nil, _ handler: @escaping Handler
        ) {
            routes.append(
                Route(
                    method: method.uppercased(), segments: pattern.split(separator: "/"), handler: handler,
                    immediate: immediate))
        }
    }

    /// Every route's method and pattern, for docs and tests.
    public var patterns: [(String, String)] {
        routes.map { ($0.method, "/" + $0.segments.joined(separator: "/")) }
    }

    /// The answer of the matching route's immediate handler, if it has one and it answers; nil means "call
    /// `handle`". Never blocks and never suspends, so a transport thread may call it directly.
    public func immediateAnswer(_ request: HTTPRequest) -> HTTPResponse? {
        guard let (route, parameters) = route(for: request), let immediate = route.immediate,
            var response = immediate(request, parameters)
        else { return nil }
        if request.method.uppercased() == "HEAD" { response.body = [] }
        return response
    }

    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        if let (route, parameters) = route(for: request) {
            var response = await route.handler(request, parameters)
            if request.method.uppercased() == "HEAD" { response.body = [] }
            return response
        }
        let path = request.path.split(separator: "/")
        let allowed = routes.filter { Self.match($0.segments, path) != nil }.map(\.method)
        if !allowed.isEmpty {
            return .error(
                405, "method_not_allowed", "\(request.method) is not allowed on \(request.path)",
                headers: [("Allow", allowed.joined(separator: ", "))]
            )
        }
        return .error(404, "not_found", "no route for \(request.method) \(request.path)")
    }

    /// The first route whose pattern matches the path and whose method matches (GET routes answer HEAD too).
    private func route(for request: HTTPRequest) -> (Route, RouteParameters)? {
        let path = request.path.split(separator: "/")
        let method = request.method.uppercased()
        for route in routes where route.method == method || (route.method == "GET" && method == "HEAD") {
            if let parameters = Self.match(route.segments, path) {
                return (route, RouteParameters(path: parameters, query: request.query))
            }
        }
        return nil
    }

    static func match(_ pattern: [Substring], _ path: [Substring]) -> [String: String]? {
        guard pattern.count == path.count else { return nil }
        var parameters: [String: String] = [:]
        for (expected, actual) in zip(pattern, path) {
            if expected.hasPrefix(":") {
                guard let decoded = String(actual).removingPercentEncoding, !decoded.isEmpty else { return nil }
                parameters[String(expected.dropFirst())] = decoded
            } else if expected != actual {
                return nil
            }
        }
        return parameters
    }
}

/// Path parameters and the decoded query of a routed request.
public struct RouteParameters: Sendable {
    public var path: [String: String]
    /// Query items in order; a key may repeat.
    public var queryItems: [(String, String)]

    public init(path: [String: String], query: String) {
        self.path = path
        queryItems = query.split(separator: "&", omittingEmptySubsequences: true).map { item in
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                // Most values (tickers, numbers, dates) need no decoding: skip Foundation's work for them.
                guard text.utf8.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "%") }) else {
                    return String(text)
                }
                return String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
            }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    /// The last value of a query parameter.
    public func query(_ name: String) -> String? { queryItems.last { $0.0 == name }?.1 }
}
