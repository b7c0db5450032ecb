// libFuzzer harness: the OCC option ticker parser (MassiveWire.OptionTicker).
// Invariants: a parsed ticker prints in canonical form (`O:` + the input without its prefix), and the printed
// form parses back to the same ticker.
import MassiveWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOCC(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let ticker = OptionTicker(text) else { return 0 }
    let printed = ticker.description
    precondition(printed == (text.hasPrefix("O:") ? text : "O:" + text), "not canonical: \(text) -> \(printed)")
    precondition(OptionTicker(printed) == ticker, "printed ticker parses differently: \(printed)")
    precondition(ticker.strike >= 0, "negative strike")
    return 0
}
