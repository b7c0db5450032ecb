/// A command as Redis receives it: an array of bulk strings (the name first).
public struct RedisCommand: Sendable, Equatable {
    public var arguments: [[UInt8]]

    public init(_ arguments: [[UInt8]]) {
        self.arguments = arguments
    }

    /// A command whose arguments are all text.
    public init(_ name: String, _ arguments: [String] = []) {
        self.arguments = [Array(name.utf8)] + arguments.map { Array($0.utf8) }
    }

    /// A command with text arguments followed by one binary argument (e.g. PUBLISH channel payload).
    public init(_ name: String, _ arguments: [String], bytes: [UInt8]) {
        self.arguments = [Array(name.utf8)] + arguments.map { Array($0.utf8) } + [bytes]
    }

    /// The command name, for errors and logs (never the arguments: they may carry data).
    public var name: String { arguments.first.map { String(decoding: $0, as: UTF8.self) } ?? "" }
}
