import MarketCalendar

/// Moves recorded instants onto another session date. Instants keep their New York wall-clock time and move
/// by whole trading days (so a Friday session replayed as a Tuesday puts last Thursday's daily bar on
/// Monday), which keeps daily histories free of weekend bars and survives daylight-saving differences.
public struct TimeShift: Sendable {
    public let recordedDate: CivilDate?
    public let targetDate: CivilDate?
    /// Constant offset for instants on the recorded session date itself (the hot path uses this).
    public let sessionMilliseconds: Int64
    private let tradingDayOffset: Int
    private let calendar: MarketCalendar

    public static let none = TimeShift(recordedDate: nil, targetDate: nil)

    public init(recordedDate: CivilDate?, targetDate: CivilDate?, calendar: MarketCalendar = .nyse) {
        self.calendar = calendar
        guard let recordedDate, let targetDate, recordedDate != targetDate else {
            self.recordedDate = nil
            self.targetDate = nil
            sessionMilliseconds = 0
            tradingDayOffset = 0
            return
        }
        self.recordedDate = recordedDate
        self.targetDate = targetDate
        sessionMilliseconds =
            EasternTime.utcMilliseconds(date: targetDate, hour: 9, minute: 30)
            - EasternTime.utcMilliseconds(date: recordedDate, hour: 9, minute: 30)
        tradingDayOffset = TimeShift.tradingDays(from: recordedDate, to: targetDate, calendar: calendar)
    }

    public var isIdentity: Bool { recordedDate == nil }

    /// Signed number of trading days from `from` to `to`.
    static func tradingDays(from: CivilDate, to: CivilDate, calendar: MarketCalendar) -> Int {
        if from == to { return 0 }
        let forward = from < to
        var count = 0
        var day = from
        while day != to {
            day = day.adding(days: forward ? 1 : -1)
            if calendar.isTradingDay(day) { count += 1 }
        }
        return forward ? count : -count
    }

    /// The date `date` moves to.
    public func map(_ date: CivilDate) -> CivilDate {
        guard let recordedDate, let targetDate else { return date }
        if date == recordedDate { return targetDate }
        guard calendar.isTradingDay(date) else {
            return date.adding(days: targetDate.daysSinceEpoch - recordedDate.daysSinceEpoch)
        }
        var day = date
        var remaining = abs(tradingDayOffset)
        let step = tradingDayOffset >= 0 ? 1 : -1
        while remaining > 0 {
            day = day.adding(days: step)
            if calendar.isTradingDay(day) { remaining -= 1 }
        }
        return day
    }

    /// The instant `milliseconds` moves to.
    public func map(milliseconds: Int64) -> Int64 {
        guard !isIdentity else { return milliseconds }
        let (date, msOfDay) = EasternTime.local(atUTC: milliseconds)
        if date == recordedDate { return milliseconds + sessionMilliseconds }
        let target = map(date)
        let seconds = Int(msOfDay / 1_000)
        return EasternTime.utcMilliseconds(
            date: target, hour: seconds / 3_600, minute: seconds / 60 % 60, second: seconds % 60)
            + msOfDay % 1_000
    }

    /// The inverse of `map(milliseconds:)` for instants on the target session date (request windows).
    public func unmapSession(milliseconds: Int64) -> Int64 { milliseconds - sessionMilliseconds }
}
