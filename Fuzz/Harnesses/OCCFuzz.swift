// libFuzzer harness: the OCC option ticker parser (MassiveWire.OptionTicker).
// Invariants: a parsed ticker prints in canonical form (`O:` + the input without its prefix), and the printed
// form parses back to the same ticker.
import MassiveWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOCC(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let ticker = OptionTicker(text) else { return 0 }
    let printed = ticker.description
    check(printed == (text.hasPrefix("O:") ? text : "O:" + text), "not canonical: \(text) -> \(printed)")
    check(OptionTicker(printed) == ticker, "printed ticker parses differently: \(printed)")
    check(ticker.strike >= 0, "negative strike")
    return 0
}

/// A failed invariant stops the run with its message (unlike `precondition`, also in optimized builds).
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError(message()) }
}
