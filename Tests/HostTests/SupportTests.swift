import Foundation
import NIOCore
import PluginKit
import PluginKitNIO
import Synchronization
import Testing

@testable import Host

@Suite("Host support types")
struct SupportTests {
    @Test("JSON parses strictly and writes back compactly")
    func json() throws {
        let value = try JSONValue.parse(#"{"a":[1,2.5,true,null,"x\u00e9\n"],"b":{"c":-3}}"#)
        #expect(value["a"] == .array([.integer(1), .number(2.5), .bool(true), .null, .string("xé\n")]))
        #expect(
            value.text
                == #"{"a":[1,2.5,true,null,"x\u00e9\n"],"b":{"c":-3}}"#.replacingOccurrences(of: "\\u00e9", with: "é"))
        for bad in ["{", "[1,]", "{\"a\" 1}", "01", "\"\\x\"", "tru", "[1] 2", "\"\u{01}\""] {
            #expect(throws: JSONError.self, "\(bad)") { try JSONValue.parse(bad) }
        }
        let deep = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect(throws: JSONError.self) { try JSONValue.parse(deep) }
    }

    @Test("the manual clock fires timers in deadline order, including ones scheduled while firing")
    func manualClock() {
        let clock = ManualClock(wallNanoseconds: 1_000_000_000_000)
        let fired = Mutex<[String]>([])
        _ = clock.schedule(afterNanoseconds: 300) { fired.withLock { $0.append("c") } }
        _ = clock.schedule(afterNanoseconds: 100) {
            fired.withLock { $0.append("a") }
            _ = clock.schedule(afterNanoseconds: 100) { fired.withLock { $0.append("b") } }
        }
        let cancelled = clock.schedule(afterNanoseconds: 150) { fired.withLock { $0.append("x") } }
        #expect(clock.cancel(cancelled))
        clock.advance(byNanoseconds: 250)
        #expect(fired.withLock { $0 } == ["a", "b"])
        clock.advance(byNanoseconds: 100)
        #expect(fired.withLock { $0 } == ["a", "b", "c"])
        #expect(clock.pendingTimers == 0)
        #expect(clock.nowNanoseconds == 1_000_000_000_350)
    }

    @Test("sleeping on the manual clock resumes when time is advanced")
    func sleepOnManualClock() async throws {
        let clock = ManualClock(wallNanoseconds: 0)
        async let slept: Void = clock.sleep(nanoseconds: 1_000)
        while clock.pendingTimers == 0 { try await Task.sleep(for: .milliseconds(1)) }
        clock.advance(byNanoseconds: 1_000)
        await slept
    }

    @Test("metrics render in the Prometheus text format and refuse bad names")
    func metrics() {
        let metrics = MetricsRegistry()
        metrics.increment("requests_total", by: 2, labels: [("route", "/a\"b")], help: "Requests")
        metrics.set("clients", to: 3)
        metrics.observe("latency_seconds", 0.003)
        metrics.increment("bad name")
        metrics.set("requests_total", to: 1)
        let text = metrics.render()
        #expect(
            text.contains(
                "# HELP requests_total Requests\n# TYPE requests_total counter\nrequests_total{route=\"/a\\\"b\"} 2\n"))
        #expect(text.contains("clients 3\n"))
        #expect(text.contains("latency_seconds_bucket{le=\"0.0025\"} 0\n"))
        #expect(text.contains("latency_seconds_bucket{le=\"0.005\"} 1\n"))
        #expect(text.contains("latency_seconds_count 1\n"))
        #expect(metrics.rejectedUpdates == 2)
    }

    @Test("metric series keys sort labels, escape values and accept only Prometheus names")
    func metricKeys() {
        #expect(MetricsRegistry.labelText([("status", "200"), ("route", "a")]) == #"route="a",status="200""#)
        #expect(MetricsRegistry.labelText([("v", "back\\slash \"q\"\nline")]) == #"v="back\\slash \"q\"\nline""#)
        #expect(MetricsRegistry.escape("plain") == "plain")
        for valid in ["a", "_x", "ns:name_total", "http2_requests", "A9"] {
            #expect(MetricsRegistry.isValidName(valid))
        }
        for invalid in ["", "9lives", "has space", "dash-name", "é", "name\n"] {
            #expect(!MetricsRegistry.isValidName(invalid), "\(invalid) was accepted")
        }
        let metrics = MetricsRegistry()
        metrics.increment("hits_total", labels: [("b", "2"), ("a", "1")])
        metrics.increment("hits_total", labels: [("a", "1"), ("b", "2")])
        #expect(metrics.value("hits_total", labels: [("b", "2"), ("a", "1")]) == 2)
    }

    @Test("symbols are trimmed, upper-cased and validated on their bytes")
    func symbolRules() {
        #expect(SymbolRules.normalize(" spy\t") == "SPY")
        #expect(SymbolRules.normalize("brk.b") == "BRK.B")
        #expect(SymbolRules.normalize("i:spx") == "I:SPX")
        #expect(SymbolRules.normalize("o:spy251219c00650000") == "O:SPY251219C00650000")
        for invalid in ["", "   ", "1SPY", "SPY!", "ABCDEFGHIJK", "O:SPY251319C00650000", "O:SPY", "I:", "spÿ", "S P"] {
            #expect(SymbolRules.normalize(invalid) == nil, "\(invalid) was accepted")
        }
    }

    @Test("single flight shares a running call, and with a linger its result for a while after")
    func singleFlightLinger() async {
        let clock = Mutex<Int64>(0)
        let calls = Mutex(0)
        let flight = SingleFlight<Int>(maximumConcurrent: 2, lingerMilliseconds: 1_000) { clock.withLock { $0 } }
        let work: @Sendable () async -> Int = {
            calls.withLock { count in
                count += 1
                return count
            }
        }
        let first = await flight.run("a", work)
        #expect(first.value == 1 && first.leader)
        clock.withLock { $0 = 999 }
        let late = await flight.run("a", work)
        #expect(late.value == 1 && !late.leader, "a caller just after the leader finished shares its result")
        #expect(await flight.run("b", work).value == 2, "another key runs its own call")
        clock.withLock { $0 = 1_000 }
        let later = await flight.run("a", work)
        #expect(later.value == 3 && later.leader, "after the linger the work runs again")
        let plain = SingleFlight<Int>(maximumConcurrent: 1)
        _ = await plain.run("a", work)
        #expect(await plain.run("a", work).leader, "without a linger a finished call is not reused")
    }

    @Test("a route's immediate handler answers without the async path, and nil falls through to it")
    func routerImmediate() async {
        let router = HTTPRouter { routes in
            routes.add(
                "GET", "/api/thing/:id",
                immediate: { _, parameters in parameters.path["id"] == "fast" ? .json(.string("immediate")) : nil }
            ) { _, _ in .json(.string("async")) }
            routes.add("GET", "/api/plain") { _, _ in .json(.string("plain")) }
        }
        let fast = router.immediateAnswer(HTTPRequest(method: "GET", path: "/api/thing/fast"))
        #expect(fast.map { String(decoding: $0.body, as: UTF8.self) } == #""immediate""#)
        let head = router.immediateAnswer(HTTPRequest(method: "HEAD", path: "/api/thing/fast"))
        #expect(head?.status == 200 && head?.body.isEmpty == true)
        #expect(router.immediateAnswer(HTTPRequest(method: "GET", path: "/api/thing/slow")) == nil)
        #expect(router.immediateAnswer(HTTPRequest(method: "GET", path: "/api/plain")) == nil)
        #expect(router.immediateAnswer(HTTPRequest(method: "POST", path: "/api/thing/fast")) == nil)
        let slow = await router.handle(HTTPRequest(method: "GET", path: "/api/thing/slow"))
        #expect(String(decoding: slow.body, as: UTF8.self) == #""async""#)
    }

    @Test("the router matches parameters, answers 404 and 405 as JSON")
    func router() async {
        let router = HTTPRouter { routes in
            routes.add("GET", "/api/market/quotes/:contract") { _, parameters in
                .json(
                    .object([
                        ("contract", .string(parameters.path["contract"] ?? "")),
                        ("limit", .string(parameters.query("limit") ?? "")),
                    ]))
            }
        }
        let ok = await router.handle(
            HTTPRequest(method: "GET", path: "/api/market/quotes/O%3ASPY251219C00650000", query: "limit=5&x=1"))
        #expect(ok.status == 200)
        #expect(String(decoding: ok.body, as: UTF8.self) == #"{"contract":"O:SPY251219C00650000","limit":"5"}"#)
        let missing = await router.handle(HTTPRequest(method: "GET", path: "/api/nothing"))
        #expect(missing.status == 404)
        #expect(String(decoding: missing.body, as: UTF8.self).contains(#""error":"not_found""#))
        let wrongMethod = await router.handle(HTTPRequest(method: "POST", path: "/api/market/quotes/X"))
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.headers.contains { $0.0 == "Allow" && $0.1 == "GET" })
    }
}

@Suite("PluginKit helpers")
struct PluginKitHelperTests {
    @Test("a control call waits for async work and rethrows its error")
    func controlCalls() throws {
        let value = try ControlCalls.wait {
            try await Task.sleep(for: .milliseconds(10))
            return 42
        }
        #expect(value == 42)
        #expect(throws: PluginError.self) {
            try ControlCalls.wait { () async throws -> Int in throw PluginError.invalid("no") }
        }
    }

    @Test("a plugin's own event loops run work and shut down cleanly, twice")
    func eventLoops() throws {
        let loops = PluginEventLoops(threads: 2)
        let value = try loops.next.submit { 7 }.wait()
        #expect(value == 7)
        loops.shutdown()
        loops.shutdown()
    }

    @Test("an error buffer truncates on a character boundary and always terminates")
    func errorBuffer() {
        let buffer = ErrorBuffer(capacity: 6)
        buffer.errbuf.write("ab€€€")
        #expect(buffer.message == "ab€")
        buffer.errbuf.write("")
        #expect(buffer.message == "")
    }
}
