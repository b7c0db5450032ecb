import MarketCalendar
import Recording
import ReplayEngine
import Testing

@Suite struct ReplayConfigurationTests {
    func parse(_ text: String) throws(ConfigurationError) -> ReplayConfiguration {
        try ReplayConfiguration.parse(Array(text.utf8))
    }

    @Test func defaultsAndEveryKey() throws {
        let empty = try parse("")
        #expect(empty.source == .synthetic && empty.underlyings == ["SPY", "QQQ", "AAPL"] && empty.speed == 1)
        #expect(empty.timeShift == .none && !empty.loop && empty.faults == .none)
        let full = try parse(
            #"{"source":"file","path":"/tmp/s.jsonl","underlyings":"SPY, IWM","date":"2025-12-08","seed":"18446744073709551615","window":"09:30-16:00","speed":0,"loop":true,"timeShift":86400000,"faults":[{"kind":"stall","atMs":5,"durationMs":1}]}"#
        )
        #expect(full.source == .file && full.path == "/tmp/s.jsonl" && full.underlyings == ["SPY", "IWM"])
        #expect(full.date == CivilDate("2025-12-08") && full.seed == UInt64.max)
        #expect(full.startMinute == 570 && full.endMinute == 960 && full.speed == 0 && full.loop)
        #expect(full.timeShift == .milliseconds(86_400_000))
        #expect(
            full.faults == .inline(FaultScript([Fault(kind: .stall, offsetMilliseconds: 5, durationMilliseconds: 1)])))
        // A file plays as today unless told otherwise.
        #expect(try parse(#"{"source":"file","path":"x"}"#).timeShift == .today)
        #expect(try parse(#"{"faults":"faults.json"}"#).faults == .path("faults.json"))
    }

    @Test func everyMistakeNamesItsKey() {
        let cases: [(String, String)] = [
            (#"{"source":"tape"}"#, "source"), (#"{"source":"file"}"#, "path"), (#"{"underlyings":[]}"#, "underlyings"),
            (#"{"underlyings":[1]}"#, "underlyings"), (#"{"date":"12/08/2025"}"#, "date"), (#"{"seed":-1}"#, "seed"),
            (#"{"window":"16:00-09:30"}"#, "window"), (#"{"speed":"fast"}"#, "speed"), (#"{"loop":"yes"}"#, "loop"),
            (#"{"timeShift":"tomorrow"}"#, "timeShift"), (#"{"faults":{"faults":[{"kind":"x","atMs":1}]}}"#, "faults"),
            (#"{"bogus":1}"#, "bogus"), ("[1]", "object"), ("{", "JSON"),
        ]
        for (text, needle) in cases {
            do {
                _ = try parse(text)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.message.contains(needle), "\(text): \(error.message)")
            }
        }
    }
}
