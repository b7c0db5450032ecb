import ArgumentParser
import Foundation
import MarketCalendar
import MarketSynth

/// `markethub synth`: writes a deterministic synthetic session in the recording format.
struct SynthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Generate a realistic, deterministic synthetic market session as a recording file.",
        discussion: """
            The same underlyings, date and seed always produce the same bytes. The output replays through the
            recorded provider (source: file) exactly like a captured session.
            """
    )

    @Option(help: "Comma-separated underlyings, e.g. SPY,QQQ,AAPL.")
    var underlyings: String = "SPY,QQQ,AAPL"

    @Option(help: "Session date YYYY-MM-DD (a trading day). Default: the current or last trading day in New York.")
    var date: String?

    @Option(help: "Generator seed.")
    var seed: UInt64 = 1

    @Option(help: "New York time the recording starts, HH:MM (default 04:00).")
    var start: String = "04:00"

    @Option(help: "New York time the recording ends, HH:MM (default 20:00).")
    var end: String = "20:00"

    @Option(help: "Output file (JSON lines).")
    var out: String

    func run() async throws {
        let symbols = underlyings.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard !symbols.isEmpty else { throw ValidationError("--underlyings needs at least one ticker") }
        let sessionDate: CivilDate
        if let date {
            guard let parsed = CivilDate(date) else { throw ValidationError("--date must be YYYY-MM-DD") }
            sessionDate = parsed
        } else {
            let now = Int64(Date().timeIntervalSince1970 * 1_000)
            let today = EasternTime.local(atUTC: now).date
            let calendar = MarketCalendar.nyse
            sessionDate = calendar.isTradingDay(today) ? today : calendar.previousTradingDay(before: today).date
        }
        guard let startMinute = Self.minutes(start), let endMinute = Self.minutes(end) else {
            throw ValidationError("--start and --end must be HH:MM")
        }
        let configuration = SynthConfiguration(
            underlyings: symbols, date: sessionDate, seed: seed, startMinute: startMinute, endMinute: endMinute)
        let session: SynthSession
        do {
            session = try MarketSynth.generate(configuration)
        } catch {
            throw ValidationError(error.message)
        }
        do {
            try session.write(to: out)
        } catch {
            throw ValidationError("\(error)")
        }
        let contracts = session.contracts.values.reduce(0) { $0 + $1.count }
        print(
            "wrote \(out): \(symbols.joined(separator: ",")) on \(sessionDate), seed \(seed), "
                + "\(session.frames.count) frames, \(session.exchanges.count) REST answers, \(contracts) option contracts"
        )
    }

    static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]), (0...24).contains(hour),
            (0..<60).contains(minute), hour * 60 + minute <= 24 * 60
        else { return nil }
        return hour * 60 + minute
    }
}
