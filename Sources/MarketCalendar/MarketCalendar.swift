/// Which part of the trading day an instant falls in (US equities and options, New York time).
public enum MarketSession: String, Sendable, CaseIterable {
    /// Overnight, weekends and holidays.
    case closed
    /// 04:00–09:30.
    case pre
    /// 09:30–16:00 (13:00 on half days).
    case regular
    /// 16:00–20:00 (13:00–17:00 on half days).
    case after
}

/// What kind of day a date is on the exchange calendar.
public enum DayKind: String, Sendable {
    case fullDay
    /// The regular session closes at 13:00 New York time.
    case halfDay
    case holiday
    case weekend
}

/// The session boundaries of one trading day, in UTC epoch milliseconds.
public struct TradingDay: Sendable, Hashable {
    public let date: CivilDate
    public let kind: DayKind
    public let preOpen: Int64
    public let regularOpen: Int64
    public let regularClose: Int64
    public let afterClose: Int64

    /// The session in effect at `milliseconds`, or closed when outside this day's sessions.
    public func session(at milliseconds: Int64) -> MarketSession {
        if milliseconds < preOpen || milliseconds >= afterClose { return .closed }
        if milliseconds < regularOpen { return .pre }
        if milliseconds < regularClose { return .regular }
        return .after
    }
}

/// The market's answer to "what is the status now", in the vendor's vocabulary.
public struct MarketStatusSnapshot: Sendable, Equatable {
    /// "open", "closed" or "extended-hours".
    public let market: String
    public let earlyHours: Bool
    public let afterHours: Bool
    public let session: MarketSession
    public let serverTime: String
}

/// The NYSE trading calendar in America/New_York: weekends, full holidays, 13:00 half days and the
/// pre/regular/after sessions, with daylight saving handled by `EasternTime`.
///
/// Holidays follow the exchange's published rules (observed on the nearest weekday, except that a New Year's
/// Day falling on a Saturday is not observed), which reproduce the published 2025–2027 calendars; one-off
/// closures the rules cannot know (such as the national day of mourning on 2025-01-09) are listed explicitly.
public struct MarketCalendar: Sendable {
    /// Closures announced outside the regular rules.
    public let specialClosures: Set<CivilDate>

    public init(specialClosures: Set<CivilDate> = MarketCalendar.knownSpecialClosures) {
        self.specialClosures = specialClosures
    }

    /// The shared calendar with every known special closure.
    public static let nyse = MarketCalendar()

    public static let knownSpecialClosures: Set<CivilDate> = [
        CivilDate(uncheckedYear: 2025, month: 1, day: 9)
    ]

    // MARK: Days

    /// The full holidays of `year`, ascending.
    public func holidays(in year: Int) -> [CivilDate] {
        Set(Self.ruleHolidays(year) + specialClosures.filter { $0.year == year }).sorted()
    }

    /// The 13:00 early closes of `year`, ascending: the day before Independence Day and Christmas Eve when
    /// they are ordinary weekdays, and the day after Thanksgiving.
    public func halfDays(in year: Int) -> [CivilDate] {
        Self.ruleHalfDays(year).filter { !specialClosures.contains($0) }
    }

    public func kind(of date: CivilDate) -> DayKind {
        if date.isWeekend { return .weekend }
        if specialClosures.contains(date) { return .holiday }
        let (holidays, halfDays) =
            Self.table[date.year]
            ?? (Set(Self.ruleHolidays(date.year)), Set(Self.ruleHalfDays(date.year)))
        if holidays.contains(date) { return .holiday }
        if halfDays.contains(date) { return .halfDay }
        return .fullDay
    }

    /// Rule-based holidays and half days for the years replays and charts touch, computed once.
    private static let table: [Int: (Set<CivilDate>, Set<CivilDate>)] = {
        var table: [Int: (Set<CivilDate>, Set<CivilDate>)] = [:]
        for year in 1990...2100 { table[year] = (Set(ruleHolidays(year)), Set(ruleHalfDays(year))) }
        return table
    }()

    /// Holidays by the exchange's observance rules (no one-off closures).
    static func ruleHolidays(_ year: Int) -> [CivilDate] {
        var days: [CivilDate] = []
        // New Year's Day: Sunday moves to Monday; Saturday is not observed (the Friday ends a year).
        let newYear = CivilDate(uncheckedYear: year, month: 1, day: 1)
        if newYear.weekday == 7 {
            days.append(newYear.adding(days: 1))
        } else if newYear.weekday != 6 {
            days.append(newYear)
        }
        days.append(CivilDate.nth(3, weekday: 1, month: 1, year: year))  // Martin Luther King Jr. Day
        days.append(CivilDate.nth(3, weekday: 1, month: 2, year: year))  // Washington's Birthday
        days.append(Self.easter(year).adding(days: -2))  // Good Friday
        days.append(CivilDate.last(weekday: 1, month: 5, year: year))  // Memorial Day
        if year >= 2022 { days.append(Self.observed(CivilDate(uncheckedYear: year, month: 6, day: 19))) }
        days.append(Self.observed(CivilDate(uncheckedYear: year, month: 7, day: 4)))  // Independence Day
        days.append(CivilDate.nth(1, weekday: 1, month: 9, year: year))  // Labor Day
        days.append(CivilDate.nth(4, weekday: 4, month: 11, year: year))  // Thanksgiving
        days.append(Self.observed(CivilDate(uncheckedYear: year, month: 12, day: 25)))  // Christmas
        return days.sorted()
    }

    /// Early closes by rule.
    static func ruleHalfDays(_ year: Int) -> [CivilDate] {
        let holidays = Set(ruleHolidays(year))
        var days: [CivilDate] = []
        let julyThird = CivilDate(uncheckedYear: year, month: 7, day: 3)
        let julyFourth = CivilDate(uncheckedYear: year, month: 7, day: 4)
        if !julyThird.isWeekend, !julyFourth.isWeekend { days.append(julyThird) }
        days.append(CivilDate.nth(4, weekday: 4, month: 11, year: year).adding(days: 1))
        let christmasEve = CivilDate(uncheckedYear: year, month: 12, day: 24)
        if !christmasEve.isWeekend { days.append(christmasEve) }
        return days.filter { !holidays.contains($0) }.sorted()
    }

    public func isTradingDay(_ date: CivilDate) -> Bool {
        switch kind(of: date) {
        case .fullDay, .halfDay: true
        case .holiday, .weekend: false
        }
    }

    /// The session boundaries of `date`, or nil when the market does not open that day.
    public func tradingDay(_ date: CivilDate) -> TradingDay? {
        let kind = kind(of: date)
        guard kind == .fullDay || kind == .halfDay else { return nil }
        let half = kind == .halfDay
        return TradingDay(
            date: date, kind: kind, preOpen: EasternTime.utcMilliseconds(date: date, hour: 4),
            regularOpen: EasternTime.utcMilliseconds(date: date, hour: 9, minute: 30),
            regularClose: EasternTime.utcMilliseconds(date: date, hour: half ? 13 : 16),
            afterClose: EasternTime.utcMilliseconds(date: date, hour: half ? 17 : 20)
        )
    }

    /// The first trading day strictly after `date`.
    public func nextTradingDay(after date: CivilDate) -> TradingDay {
        var day = date.adding(days: 1)
        while true {
            if let trading = tradingDay(day) { return trading }
            day = day.adding(days: 1)
        }
    }

    /// The last trading day strictly before `date`.
    public func previousTradingDay(before date: CivilDate) -> TradingDay {
        var day = date.adding(days: -1)
        while true {
            if let trading = tradingDay(day) { return trading }
            day = day.adding(days: -1)
        }
    }

    /// Trading days from `from` through `to`, both inclusive, ascending.
    public func tradingDays(from: CivilDate, through to: CivilDate) -> [TradingDay] {
        guard from <= to else { return [] }
        var days: [TradingDay] = []
        var day = from
        while day <= to {
            if let trading = tradingDay(day) { days.append(trading) }
            day = day.adding(days: 1)
        }
        return days
    }

    // MARK: Instants

    /// The session in effect at a UTC instant.
    public func session(at milliseconds: Int64) -> MarketSession {
        let (date, _) = EasternTime.local(atUTC: milliseconds)
        return tradingDay(date)?.session(at: milliseconds) ?? .closed
    }

    /// The regular session that is open at `milliseconds`, or else the most recent one that has closed.
    public func currentOrLastRegularSession(at milliseconds: Int64) -> TradingDay {
        let (date, _) = EasternTime.local(atUTC: milliseconds)
        if let today = tradingDay(date), milliseconds >= today.regularOpen { return today }
        return previousTradingDay(before: date)
    }

    /// The most recent regular session that had closed by `milliseconds` (its close is at or before it).
    public func lastCompletedRegularSession(before milliseconds: Int64) -> TradingDay {
        let (date, _) = EasternTime.local(atUTC: milliseconds)
        if let today = tradingDay(date), milliseconds >= today.regularClose { return today }
        return previousTradingDay(before: date)
    }

    /// The vendor-style market status at a UTC instant.
    public func status(at milliseconds: Int64) -> MarketStatusSnapshot {
        let session = session(at: milliseconds)
        let market =
            switch session {
            case .regular: "open"
            case .pre, .after: "extended-hours"
            case .closed: "closed"
            }
        return MarketStatusSnapshot(
            market: market, earlyHours: session == .pre, afterHours: session == .after, session: session,
            serverTime: EasternTime.rfc3339(atUTC: milliseconds)
        )
    }

    // MARK: Rules

    /// A Saturday holiday is observed the Friday before, a Sunday one the Monday after.
    static func observed(_ date: CivilDate) -> CivilDate {
        switch date.weekday {
        case 6: date.adding(days: -1)
        case 7: date.adding(days: 1)
        default: date
        }
    }

    /// Easter Sunday (Gregorian), by the anonymous Gregorian computus.
    static func easter(_ year: Int) -> CivilDate {
        let a = year % 19
        let b = year / 100
        let c = year % 100
        let d = b / 4
        let e = b % 4
        let f = (b + 8) / 25
        let g = (b - f + 1) / 3
        let h = (19 * a + b - d - g + 15) % 30
        let i = c / 4
        let k = c % 4
        let l = (32 + 2 * e + 2 * i - h - k) % 7
        let m = (a + 11 * h + 22 * l) / 451
        let month = (h + l - 7 * m + 114) / 31
        let day = (h + l - 7 * m + 114) % 31 + 1
        return CivilDate(uncheckedYear: year, month: month, day: day)
    }
}
