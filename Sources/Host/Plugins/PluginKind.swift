import PluginAPI

/// The three kinds of plugin.
public enum PluginKind: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case provider = 1
    case cache = 2
    case transport = 3

    public var description: String {
        switch self {
        case .provider: "provider"
        case .cache: "cache"
        case .transport: "transport"
        }
    }
}
