/// A configuration problem, reported as one line that names the file, the position, the key and the fix.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int?
    public var column: Int?
    /// The key path the problem is about ("provider.plugin"), when there is one.
    public var keyPath: String?
    public var message: String

    public init(file: String, line: Int? = nil, column: Int? = nil, keyPath: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String {
        var position = file
        if let line {
            position += ":\(line)"
            if let column { position += ":\(column)" }
        }
        if let keyPath { return "\(position): key '\(keyPath)': \(message)" }
        return "\(position): \(message)"
    }
}
