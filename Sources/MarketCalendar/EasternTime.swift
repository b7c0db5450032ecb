/// America/New_York civil time, computed from the United States daylight-saving rule in force since 2007:
/// daylight time starts on the second Sunday of March at 02:00 local standard time and ends on the first
/// Sunday of November at 02:00 local daylight time. Pure arithmetic: no time-zone database is read.
public enum EasternTime {
    static let millisecondsPerDay: Int64 = 86_400_000
    static let millisecondsPerHour: Int64 = 3_600_000

    /// The UTC instant at which daylight time starts in `year` (07:00 UTC on the second Sunday of March).
    public static func daylightStart(year: Int) -> Int64 {
        let day = CivilDate.nth(2, weekday: 7, month: 3, year: year)
        return Int64(day.daysSinceEpoch) * millisecondsPerDay + 7 * millisecondsPerHour
    }

    /// The UTC instant at which daylight time ends in `year` (06:00 UTC on the first Sunday of November).
    public static func daylightEnd(year: Int) -> Int64 {
        let day = CivilDate.nth(1, weekday: 7, month: 11, year: year)
        return Int64(day.daysSinceEpoch) * millisecondsPerDay + 6 * millisecondsPerHour
    }

    /// The offset from UTC, in milliseconds (-4 h in daylight time, -5 h otherwise), at a UTC instant.
    public static func offsetMilliseconds(atUTC milliseconds: Int64) -> Int64 {
        let year = CivilDate(daysSinceEpoch: Int(floorDivide(milliseconds, millisecondsPerDay))).year
        let inDaylight = milliseconds >= daylightStart(year: year) && milliseconds < daylightEnd(year: year)
        return (inDaylight ? -4 : -5) * millisecondsPerHour
    }

    /// The New York date and the milliseconds since local midnight at a UTC instant.
    public static func local(atUTC milliseconds: Int64) -> (date: CivilDate, millisecondsOfDay: Int64) {
        let local = milliseconds + offsetMilliseconds(atUTC: milliseconds)
        let days = floorDivide(local, millisecondsPerDay)
        return (CivilDate(daysSinceEpoch: Int(days)), local - days * millisecondsPerDay)
    }

    /// The UTC instant of a New York wall-clock time on `date`. Wall times that do not exist (the skipped
    /// hour in March) resolve forward by an hour; ambiguous ones (the repeated hour in November) resolve to
    /// the first (daylight) occurrence. Sessions never touch either case: they happen at 04:00 and later.
    public static func utcMilliseconds(date: CivilDate, hour: Int, minute: Int = 0, second: Int = 0) -> Int64 {
        let local =
            Int64(date.daysSinceEpoch) * millisecondsPerDay + Int64(hour) * millisecondsPerHour + Int64(minute)
            * 60_000 + Int64(second) * 1_000
        // Try daylight first (earlier instant for ambiguous times), then standard.
        let asDaylight = local + 4 * millisecondsPerHour
        if offsetMilliseconds(atUTC: asDaylight) == -4 * millisecondsPerHour { return asDaylight }
        let asStandard = local + 5 * millisecondsPerHour
        if offsetMilliseconds(atUTC: asStandard) == -5 * millisecondsPerHour { return asStandard }
        return asDaylight
    }

    /// Midnight in New York at the start of `date`, in UTC milliseconds (how the vendor labels daily bars).
    public static func midnight(of date: CivilDate) -> Int64 { utcMilliseconds(date: date, hour: 0) }

    /// RFC 3339 text with the New York offset, e.g. `2025-12-08T10:45:12-05:00`.
    public static func rfc3339(atUTC milliseconds: Int64) -> String {
        let offset = offsetMilliseconds(atUTC: milliseconds)
        let (date, msOfDay) = local(atUTC: milliseconds)
        let seconds = msOfDay / 1_000
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let offsetHours = -offset / millisecondsPerHour
        return "\(date)T\(two(seconds / 3_600)):\(two(seconds / 60 % 60)):\(two(seconds % 60))-\(two(offsetHours)):00"
    }

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return (value % divisor != 0 && (value < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
