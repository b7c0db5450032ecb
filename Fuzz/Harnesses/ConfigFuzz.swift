// libFuzzer harness: the host's YAML configuration loader (Sources/Host/Config).
// Invariants: parsing is deterministic (same error or same slots), errors carry a message, and every slot of a
// loaded configuration names a plugin. (A configuration without transports is valid: the host then serves
// nothing over the network.)
@testable import Host

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let loader = ConfigurationLoader(environment: ["FUZZ_SET": "value"])
    do {
        let configuration = try loader.parse(text, sourcePath: "fuzz.yaml")
        for slot in configuration.slots { check(!slot.plugin.isEmpty, "an empty plugin name was accepted") }
        let again = try loader.parse(text, sourcePath: "fuzz.yaml")
        check(again.slots.map(\.plugin) == configuration.slots.map(\.plugin), "parsing is not deterministic")
    } catch {
        check(!error.description.isEmpty, "an error without a message")
    }
    return 0
}

/// A failed invariant stops the run with its message (unlike `precondition`, also in optimized builds).
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError(message()) }
}
