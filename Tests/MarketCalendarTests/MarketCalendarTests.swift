import Foundation
import Testing

@testable import MarketCalendar

private func date(_ text: String) -> CivilDate {
    guard let value = CivilDate(text) else { fatalError("bad test date \(text)") }
    return value
}

/// UTC milliseconds of an ISO-8601 instant with an explicit offset, parsed by Foundation (an independent oracle).
private func instant(_ text: String) -> Int64 {
    let formatter = ISO8601DateFormatter()
    guard let parsed = formatter.date(from: text) else { fatalError("bad test instant \(text)") }
    return Int64((parsed.timeIntervalSince1970 * 1_000).rounded())
}

@Suite struct CivilDateTests {
    @Test func roundTripsEveryDayOverTwoCenturies() {
        var previous: CivilDate?
        for days in -40_000...60_000 {
            let day = CivilDate(daysSinceEpoch: days)
            #expect(day.daysSinceEpoch == days)
            if let previous { #expect(previous < day) }
            previous = day
        }
    }

    @Test func weekdaysMatchKnownDates() {
        #expect(date("1970-01-01").weekday == 4)
        #expect(date("2025-12-19").weekday == 5)
        #expect(date("2026-03-08").weekday == 7)
        #expect(date("2024-02-29").weekday == 4)
    }

    @Test func parsesAndRejects() {
        #expect(date("2025-07-03").description == "2025-07-03")
        #expect(CivilDate("2025-02-29") == nil)
        #expect(CivilDate("2025-13-01") == nil)
        #expect(CivilDate("2025/01/01") == nil)
        #expect(CivilDate("25-01-01") == nil)
        #expect(CivilDate("2024-02-29") != nil)
    }
}

@Suite struct EasternTimeTests {
    @Test func agreesWithTheSystemTimeZoneDatabaseHourByHour() throws {
        let zone = try #require(TimeZone(identifier: "America/New_York"))
        // Every hour across 2024-2028 covers ten daylight-saving transitions.
        var milliseconds = instant("2024-01-01T00:00:00Z")
        let end = instant("2028-12-31T00:00:00Z")
        while milliseconds < end {
            let expected = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(milliseconds) / 1_000)))
            #expect(EasternTime.offsetMilliseconds(atUTC: milliseconds) == expected * 1_000)
            milliseconds += 3_600_000
        }
    }

    @Test func springForwardBoundary() {
        // 2026-03-08 02:00 EST is 07:00Z; one millisecond before is still standard time.
        let change = instant("2026-03-08T07:00:00Z")
        #expect(EasternTime.daylightStart(year: 2026) == change)
        #expect(EasternTime.offsetMilliseconds(atUTC: change - 1) == -18_000_000)
        #expect(EasternTime.offsetMilliseconds(atUTC: change) == -14_400_000)
    }

    @Test func fallBackBoundary() {
        let change = instant("2025-11-02T06:00:00Z")
        #expect(EasternTime.daylightEnd(year: 2025) == change)
        #expect(EasternTime.offsetMilliseconds(atUTC: change - 1) == -14_400_000)
        #expect(EasternTime.offsetMilliseconds(atUTC: change) == -18_000_000)
    }

    @Test func wallClockToUTC() {
        #expect(
            EasternTime.utcMilliseconds(date: date("2025-12-08"), hour: 9, minute: 30)
                == instant("2025-12-08T14:30:00Z"))
        #expect(
            EasternTime.utcMilliseconds(date: date("2025-07-08"), hour: 9, minute: 30)
                == instant("2025-07-08T13:30:00Z"))
        // The vendor's daily bar label for 2025-12-01 is midnight New York.
        #expect(EasternTime.midnight(of: date("2025-12-01")) == 1_764_565_200_000)
        #expect(EasternTime.rfc3339(atUTC: instant("2025-12-08T15:45:12Z")) == "2025-12-08T10:45:12-05:00")
        #expect(EasternTime.rfc3339(atUTC: instant("2022-04-28T20:48:08Z")) == "2022-04-28T16:48:08-04:00")
    }
}

@Suite struct MarketCalendarTests {
    let calendar = MarketCalendar.nyse

    @Test func publishedHolidays2025Through2027() {
        let expected: [Int: [String]] = [
            2025: [
                "2025-01-01", "2025-01-09", "2025-01-20", "2025-02-17", "2025-04-18", "2025-05-26", "2025-06-19",
                "2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25",
            ],
            2026: [
                "2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25", "2026-06-19", "2026-07-03",
                "2026-09-07", "2026-11-26", "2026-12-25",
            ],
            2027: [
                "2027-01-01", "2027-01-18", "2027-02-15", "2027-03-26", "2027-05-31", "2027-06-18", "2027-07-05",
                "2027-09-06", "2027-11-25", "2027-12-24",
            ],
        ]
        for (year, days) in expected {
            #expect(calendar.holidays(in: year).map(\.description) == days)
        }
    }

    @Test func publishedHalfDays2025Through2027() {
        #expect(calendar.halfDays(in: 2025).map(\.description) == ["2025-07-03", "2025-11-28", "2025-12-24"])
        #expect(calendar.halfDays(in: 2026).map(\.description) == ["2026-11-27", "2026-12-24"])
        #expect(calendar.halfDays(in: 2027).map(\.description) == ["2027-11-26"])
    }

    @Test func saturdayNewYearIsNotObserved() {
        #expect(!calendar.holidays(in: 2028).contains(date("2027-12-31")))
        #expect(calendar.holidays(in: 2028).first == date("2028-01-17"))
        #expect(calendar.kind(of: date("2027-12-31")) == .fullDay)
    }

    @Test func sessionsOnAnOrdinaryWinterDay() {
        // 2025-12-08 is a Monday in standard time (UTC-5).
        #expect(calendar.session(at: instant("2025-12-08T08:59:59Z")) == .closed)
        #expect(calendar.session(at: instant("2025-12-08T09:00:00Z")) == .pre)
        #expect(calendar.session(at: instant("2025-12-08T14:29:59Z")) == .pre)
        #expect(calendar.session(at: instant("2025-12-08T14:30:00Z")) == .regular)
        #expect(calendar.session(at: instant("2025-12-08T20:59:59Z")) == .regular)
        #expect(calendar.session(at: instant("2025-12-08T21:00:00Z")) == .after)
        #expect(calendar.session(at: instant("2025-12-09T00:59:59Z")) == .after)
        #expect(calendar.session(at: instant("2025-12-09T01:00:00Z")) == .closed)
    }

    @Test func sessionsOnASummerDayUseDaylightTime() {
        #expect(calendar.session(at: instant("2025-07-08T13:29:59Z")) == .pre)
        #expect(calendar.session(at: instant("2025-07-08T13:30:00Z")) == .regular)
        #expect(calendar.session(at: instant("2025-07-08T20:00:00Z")) == .after)
    }

    @Test func sessionsAroundBothDaylightSavingChanges() throws {
        // Monday after spring forward 2026: open is 13:30Z; the Friday before it was 14:30Z.
        let monday = try #require(calendar.tradingDay(date("2026-03-09")))
        let friday = try #require(calendar.tradingDay(date("2026-03-06")))
        #expect(monday.regularOpen == instant("2026-03-09T13:30:00Z"))
        #expect(friday.regularOpen == instant("2026-03-06T14:30:00Z"))
        // Monday after fall back 2025: open is 14:30Z; the Friday before it was 13:30Z.
        let after = try #require(calendar.tradingDay(date("2025-11-03")))
        let before = try #require(calendar.tradingDay(date("2025-10-31")))
        #expect(after.regularOpen == instant("2025-11-03T14:30:00Z"))
        #expect(before.regularClose == instant("2025-10-31T20:00:00Z"))
        #expect(calendar.session(at: instant("2025-11-03T14:00:00Z")) == .pre)
    }

    @Test func halfDayClosesAtOneAndAfterHoursAtFive() throws {
        let day = try #require(calendar.tradingDay(date("2025-11-28")))
        #expect(day.kind == .halfDay)
        #expect(day.regularClose == instant("2025-11-28T18:00:00Z"))
        #expect(day.afterClose == instant("2025-11-28T22:00:00Z"))
        #expect(calendar.session(at: instant("2025-11-28T17:59:00Z")) == .regular)
        #expect(calendar.session(at: instant("2025-11-28T18:00:00Z")) == .after)
        #expect(calendar.session(at: instant("2025-11-28T22:00:00Z")) == .closed)
    }

    @Test func holidaysAndWeekendsAreClosedAllDay() {
        #expect(calendar.session(at: instant("2025-12-25T15:00:00Z")) == .closed)
        #expect(calendar.session(at: instant("2025-12-27T15:00:00Z")) == .closed)
        #expect(calendar.tradingDay(date("2025-01-09")) == nil)
        #expect(calendar.kind(of: date("2025-12-27")) == .weekend)
        #expect(calendar.kind(of: date("2025-12-25")) == .holiday)
    }

    @Test func lastSessions() {
        // Saturday 2025-12-27: last session is Friday 12-26.
        let saturday = instant("2025-12-27T15:00:00Z")
        #expect(calendar.currentOrLastRegularSession(at: saturday).date == date("2025-12-26"))
        #expect(calendar.lastCompletedRegularSession(before: saturday).date == date("2025-12-26"))
        // During Monday's session: current is today, last completed is the previous trading day.
        let mondayNoon = instant("2025-12-29T17:00:00Z")
        #expect(calendar.currentOrLastRegularSession(at: mondayNoon).date == date("2025-12-29"))
        #expect(calendar.lastCompletedRegularSession(before: mondayNoon).date == date("2025-12-26"))
        // Monday pre-market after a holiday weekend (MLK 2026-01-19 is a holiday; Tuesday 2026-01-20 early).
        let tuesdayEarly = instant("2026-01-20T10:00:00Z")
        #expect(calendar.currentOrLastRegularSession(at: tuesdayEarly).date == date("2026-01-16"))
        #expect(calendar.nextTradingDay(after: date("2026-01-16")).date == date("2026-01-20"))
        #expect(calendar.previousTradingDay(before: date("2026-01-20")).date == date("2026-01-16"))
    }

    @Test func tradingDayCountPerYear() {
        #expect(calendar.tradingDays(from: date("2025-01-01"), through: date("2025-12-31")).count == 250)
        #expect(calendar.tradingDays(from: date("2026-01-01"), through: date("2026-12-31")).count == 251)
    }

    @Test func statusInVendorVocabulary() {
        let pre = calendar.status(at: instant("2025-12-08T12:00:00Z"))
        #expect(pre.market == "extended-hours" && pre.earlyHours && !pre.afterHours)
        let open = calendar.status(at: instant("2025-12-08T15:45:12Z"))
        #expect(open.market == "open" && open.serverTime == "2025-12-08T10:45:12-05:00")
        let after = calendar.status(at: instant("2025-12-08T22:00:00Z"))
        #expect(after.market == "extended-hours" && after.afterHours)
        #expect(calendar.status(at: instant("2025-12-25T15:00:00Z")).market == "closed")
    }
}
