/// Minimal JSON text building for the few places PluginKit writes JSON (log metadata, small answers).
public enum JSONText {
    /// A JSON string literal for `value`, with every character that JSON requires escaped.
    public static func string(_ value: String) -> String {
        var out = "\""
        out.reserveCapacity(value.utf8.count + 2)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
        return out
    }

    /// A JSON object of string fields, keys sorted so output is deterministic.
    public static func object(_ fields: [String: String]) -> String {
        "{" + fields.keys.sorted().map { string($0) + ":" + string(fields[$0] ?? "") }.joined(separator: ",") + "}"
    }
}
