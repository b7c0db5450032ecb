/// Minimal JSON text building for the few places PluginKit writes JSON by hand (log metadata).
public enum JSONText {
    /// A JSON string literal for `value`.
    public static func string(_ value: String) -> String {
        var out = ""
        JSONNumber.appendString(value, to: &out)
        return out
    }

    /// A JSON object of string fields, keys sorted so output is deterministic.
    public static func object(_ fields: [String: String]) -> String {
        "{" + fields.keys.sorted().map { string($0) + ":" + string(fields[$0] ?? "") }.joined(separator: ",") + "}"
    }
}
