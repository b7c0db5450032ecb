import Foundation
import MarketCalendar

enum CivilDateFactory {
    static func make(_ text: String) -> CivilDate? { CivilDate(text) }
}

enum Fixture {
    /// The bytes of a vendor body stored next to these tests.
    static func bytes(_ name: String) throws -> [UInt8] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
            .appendingPathComponent(name)
        return Array(try Data(contentsOf: url))
    }
}
