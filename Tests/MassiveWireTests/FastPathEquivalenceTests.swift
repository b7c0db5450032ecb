import PluginKit
import Testing

@testable import MassiveWire

/// The frame decoder reads well-formed elements with a single-pass fast reader and everything else with the
/// general reader. These tests hold the two to the same results: events, issues (with their messages), the slot
/// each event is handed with, and the symbols interned on the way.
@Suite struct FastPathEquivalenceTests {
    struct Outcome: Equatable {
        /// Events by description: absent sizes decode to NaN, which is never == itself.
        var events: [String]
        var slots: [Int]
        var issues: [FrameIssue]
        var symbols: [String]
    }

    static func outcome(_ frame: [UInt8], fast: Bool) -> Outcome {
        let decoder = FrameDecoder(shiftMilliseconds: 3_600_000, source: "test", usesFastPath: fast)
        var table = SymbolTable()
        var events: [String] = []
        var slots: [Int] = []
        let issues = frame.withUnsafeBufferPointer { bytes in
            decoder.decode(bytes, symbols: &table) { event, slot in
                events.append("\(event)")
                slots.append(slot)
            }
        }
        return Outcome(events: events, slots: slots, issues: issues, symbols: table.symbols)
    }

    static func expectSame(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let frame = Array(text.utf8)
        let fast = outcome(frame, fast: true)
        let general = outcome(frame, fast: false)
        #expect(fast == general, "frame: \(text)", sourceLocation: sourceLocation)
    }

    /// The vendor's own shapes, which the fast reader must accept whole.
    static let vendorElements = [
        #"{"ev":"Q","sym":"O:SPY251219C00650000","bx":313,"ax":302,"bp":32.3,"ap":32.6,"bs":38,"as":45,"t":1765208712345,"q":1847203311}"#,
        #"{"ev":"Q","sym":"AAPL","bx":11,"bp":277.41,"bs":2,"ax":19,"ap":277.43,"as":3,"c":0,"i":[604],"t":1765208712345,"q":55812093,"z":3}"#,
        #"{"ev":"T","sym":"SPY","x":11,"i":"324005607","p":587.75,"s":100,"c":[12,37],"t":1765222606603,"q":118784}"#,
        #"{"ev":"T","sym":"O:SPY251212P00602000","x":65,"p":6.1,"s":3,"t":1765222606603,"q":9}"#,
        #"{"ev":"A","sym":"SPY","v":100,"av":200,"op":593.88,"vw":593.93,"o":593.93,"c":593.93,"h":593.93,"l":593.93,"a":593.905,"z":100,"s":1765184421000,"e":1765184422000}"#,
        #"{"ev":"AM","sym":"QQQ","v":4110,"av":91820,"op":510.2,"vw":510.3321,"o":510.3,"c":510.35,"h":510.4,"l":510.25,"a":510.1,"z":12,"n":41,"s":1765184400000,"e":1765184460000}"#,
        #"{"ev":"status","status":"auth_success","message":"authenticated"}"#,
        #"{"ev":"LULD","sym":"SPY","h":1,"l":2,"t":3}"#,
    ]

    @Test func theFastReaderAcceptsTheVendorsShapes() {
        for element in Self.vendorElements {
            var bytes = Array(element.utf8)
            let accepted = bytes.withUnsafeMutableBufferPointer { buffer in
                var reader = FastElementReader(buffer.baseAddress!, count: buffer.count, at: 0)
                var fields = FrameDecoder.Fields()
                var table = SymbolTable()
                return reader.read(into: &fields, symbols: &table) && reader.index == buffer.count
            }
            #expect(accepted, "\(element)")
            Self.expectSame("[" + element + "]")
        }
        Self.expectSame("[" + Self.vendorElements.joined(separator: ",") + "]")
    }

    @Test func theFastReaderDeclinesWhatItDoesNotHandle() {
        let declined = [
            #"{"ev":"Q","sym":"A\u0042","bp":1,"ap":2,"t":3}"#,  // escape in a value
            #"{"e\u0076":"Q","sym":"AB","bp":1,"ap":2,"t":3}"#,  // escape in a name
            #"{ "ev":"Q","sym":"AB","bp":1,"ap":2,"t":3}"#,  // whitespace
            #"{"ev":"Q","sym":"AB","bp":1e2,"ap":2,"t":3}"#,  // exponent
            #"{"ev":"Q","sym":"AB","bp":1,"ap":2,"t":3.0}"#,  // integral field written with a fraction
            #"{"ev":"Q","sym":"AB","bp":1,"ap":2,"t":1234567890123456789}"#,  // 19 digits
            #"{"ev":"Q","sym":"AB","bp":null,"ap":2,"t":3}"#,  // null
            #"{"ev":"Q","sym":"AB","bp":01,"ap":2,"t":3}"#,  // leading zero
            #"{"ev":"Q","sym":7,"bp":1,"ap":2,"t":3}"#,  // sym of the wrong type
            #"{"ev":"Q","sym":"AB","x":{"a":1},"bp":1,"ap":2,"t":3}"#,  // nested object
            #"{}"#,
            #"{"ev":"Q","sym":"AB","bp":1,"#,
        ]
        for element in declined {
            var bytes = Array(element.utf8)
            let accepted = bytes.withUnsafeMutableBufferPointer { buffer in
                var reader = FastElementReader(buffer.baseAddress!, count: buffer.count, at: 0)
                var fields = FrameDecoder.Fields()
                var table = SymbolTable()
                return reader.read(into: &fields, symbols: &table)
            }
            #expect(!accepted, "\(element)")
            Self.expectSame("[" + element + "]")
        }
    }

    @Test func bothReadersAgreeOnEdgeCases() {
        let frames = [
            #"[{"ev":"Q","sym":"AB","bp":-0,"ap":-0.0,"bs":0.1,"as":123456789012345678,"t":-5,"q":0}]"#,
            #"[{"ev":"Q","sym":"AB","bp":9007199254740993.5,"ap":0.000000000000000001,"t":1}]"#,
            #"[{"ev":"Q","sym":"AB","sym":"CD","bp":1,"bp":2,"ap":3,"t":4,"t":5}]"#,
            #"[{"ev":"T","sym":"AB","p":1,"s":2,"t":3,"c":[1,2,3,4,5,6,7,8,9,10],"i":7}]"#,
            #"[{"ev":"T","sym":"AB","p":1,"s":2,"t":3,"c":[2147483648]}]"#,
            #"[{"ev":"T","sym":"AB","p":1,"s":2,"t":3,"c":[1.5]}]"#,
            #"[{"ev":"T","sym":"AB","p":1,"s":2,"t":3,"c":[]}]"#,
            #"[{"ev":"T","sym":"AB","p":"1","s":2,"t":3}]"#,
            #"[{"ev":"A","sym":"AB","s":1e300,"o":1,"h":1,"l":1,"c":1}]"#,
            #"[{"ev":"T","sym":"AB","p":277e4252087119842,"s":1,"t":1},{"ev":"T","sym":"AB","p":-1e309,"s":1,"t":1}]"#,
            #"[{"ev":"A","sym":"AB","s":1000000000000000,"o":1,"h":1,"l":1,"c":1,"e":-1000000000000000}]"#,
            #"[{"ev":"Q","sym":"","bp":1,"ap":2,"t":3}]"#,
            #"[{"ev":"Q","bp":1,"ap":2,"t":3},{"ev":"Q","sym":"X","bp":1,"t":3}]"#,
            #"[{"ev":"Q","sym":"X","bp":1,"ap":2,"t":9223372036854775}]"#,
            #"[{"ev":"status","status":"a\"b","message":"c"}]"#,
            #"[{"ev":"status123","sym":"X"},{"ev":"","sym":"Y"},{"":1,"ev":"T","sym":"Z","p":1,"s":1,"t":1}]"#,
            #"[{"ev":"T","sym":"AB","p":1,"s":2,"t":3,"abcdefgh":1,"abcdefghi":"x","message":5}]"#,
            #"[{"ev":"T","sym":"AB","p":1,"s":2,"t":3},]"#,
            #"[{"ev":"T","sym":"AB","p":1,"s":2,"t":3}"#,
            #"[{"ev":"T","sym":"AB","p":1,"s":2,"t":3} ]"#,
            #"[{"ev":"T","sym":"AB","p":1.,"s":2,"t":3}]"#,
            #"[{"ev":"T","sym":"AB","p":-,"s":2,"t":3}]"#,
            #"[{"ev":"T","sym":"AB","p":1,"s":2,"t":3}] x"#,
            #"[5,"x",{"ev":"T","sym":"AB","p":1,"s":2,"t":3}]"#,
        ]
        for frame in frames { Self.expectSame(frame) }
    }

    /// Mutates vendor-shaped frames byte by byte (replacing, inserting, deleting and truncating with bytes that
    /// matter to JSON) and compares the readers on every result.
    @Test func bothReadersAgreeOnMutatedFrames() {
        var random = SplitMix(seed: 20_251_126)
        let alphabet = Array(#"{}[],:"\.-+eE0123456789 nulltrfs Q T A"#.utf8) + [0x00, 0x1F, 0xC3, 0xFF]
        let seeds =
            Self.vendorElements.map { "[" + $0 + "]" } + ["[" + Self.vendorElements.joined(separator: ",") + "]"]
        var compared = 0
        for seed in seeds {
            let original = Array(seed.utf8)
            for _ in 0..<2_500 {
                var bytes = original
                for _ in 0..<(1 + Int(random.next() % 3)) {
                    let position = Int(random.next() % UInt64(bytes.count))
                    let byte = alphabet[Int(random.next() % UInt64(alphabet.count))]
                    switch random.next() % 4 {
                    case 0: bytes[position] = byte
                    case 1: bytes.insert(byte, at: position)
                    case 2: if bytes.count > 1 { bytes.remove(at: position) }
                    default: bytes.removeLast(bytes.count - max(position, 1))
                    }
                }
                let fast = Self.outcome(bytes, fast: true)
                let general = Self.outcome(bytes, fast: false)
                if fast != general {
                    Issue.record("readers disagree on \(String(decoding: bytes, as: UTF8.self))")
                    return
                }
                compared += 1
            }
        }
        #expect(compared == seeds.count * 2_500)
    }
}

/// A small deterministic generator (SplitMix64), so a failure reproduces.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct EightDigitTests {
    @Test func recognizesAndConvertsEightDigits() {
        func word(_ text: String) -> UInt64 {
            Array(text.utf8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian }
        }
        for text in ["00000000", "12345678", "99999999", "17652087", "90000001", "00000009"] {
            #expect(FastElementReader.isEightDigits(word(text)), "\(text)")
            #expect(FastElementReader.eightDigits(word(text)) == UInt64(text), "\(text)")
        }
        for text in ["1234567.", "/2345678", "1234567:", "12 45678", "a2345678", "1234567\u{7F}", "-1234567"] {
            #expect(!FastElementReader.isEightDigits(word(text)), "\(text)")
        }
    }
}
