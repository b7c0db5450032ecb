import Foundation
import Logging
import PluginKit
import RedisClient
import Yams

/// Reads the host configuration from YAML.
///
/// - `${NAME}` and `${NAME:-default}` inside string values are replaced from the environment (an unset
///   variable without a default is an error naming the variable and the key).
/// - Environment overrides, applied after the file: `MASSIVE_API_KEY` → `provider.config.apiKey`,
///   `MONGODB_URI` → `cache.config.uri`, `AGG_WORKER_ENABLED` → `host.aggregatesWorker.enabled`.
/// - Unknown keys at host level are errors (they are almost always typos); plugin `config` sections are
///   checked by the plugins themselves.
public struct ConfigurationLoader: Sendable {
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// Loads and validates the file at `path`.
    public func load(path: String) throws(ConfigurationError) -> HostConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
            throw ConfigurationError(
                file: path,
                message: "config file \(reason); pass another with --config or create it (see docs/configuration.md)"
            )
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(file: path, message: "config file is not valid UTF-8 text")
        }
        return try parse(text, sourcePath: path)
    }

    /// Parses YAML text; `sourcePath` is used in error messages.
    public func parse(_ text: String, sourcePath: String) throws(ConfigurationError) -> HostConfiguration {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ConfigurationError(file: sourcePath, message: "config file is empty; see docs/configuration.md")
            }
            root = node
        } catch let error as ConfigurationError {
            throw error
        } catch let error as YamlError {
            throw Self.describe(error, file: sourcePath)
        } catch {
            throw ConfigurationError(file: sourcePath, message: "invalid YAML: \(error)")
        }
        var reader = NodeReader(file: sourcePath, environment: environment)
        var configuration = try reader.read(root)
        try applyOverrides(to: &configuration)
        return configuration
    }

    private func applyOverrides(to configuration: inout HostConfiguration) throws(ConfigurationError) {
        if let key = environment["MASSIVE_API_KEY"], !key.isEmpty {
            configuration.provider.config = configuration.provider.config.setting("apiKey", to: .string(key))
        }
        if let uri = environment["MONGODB_URI"], !uri.isEmpty {
            configuration.cache.config = configuration.cache.config.setting("uri", to: .string(uri))
        }
        if let flag = environment["AGG_WORKER_ENABLED"], !flag.isEmpty {
            switch flag.lowercased() {
            case "1", "true", "yes", "on": configuration.host.aggregatesWorkerEnabled = true
            case "0", "false", "no", "off": configuration.host.aggregatesWorkerEnabled = false
            default:
                throw ConfigurationError(
                    file: "environment", keyPath: "AGG_WORKER_ENABLED",
                    message: "expected true or false, got '\(flag)'"
                )
            }
        }
    }

    static func describe(_ error: YamlError, file: String) -> ConfigurationError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let detail = context.map { "\(problem) \($0.text)" } ?? problem
            return ConfigurationError(
                file: file, line: mark.line, column: mark.column, message: "invalid YAML: \(detail)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ConfigurationError(
                file: file, line: context.mark.line, column: context.mark.column,
                message: "invalid YAML: duplicate key(s) \(duplicates.joined(separator: ", ")) in one mapping"
            )
        default:
            return ConfigurationError(file: file, message: "invalid YAML: \(error)")
        }
    }
}

/// Walks the YAML tree, keeping key paths and positions for error messages.
private struct NodeReader {
    let file: String
    let environment: [String: String]

    func error(_ node: Node?, _ keyPath: String?, _ message: String) -> ConfigurationError {
        ConfigurationError(
            file: file, line: node?.mark?.line, column: node?.mark?.column, keyPath: keyPath, message: message)
    }

    func location(_ node: Node) -> String {
        guard let mark = node.mark else { return file }
        return "\(file):\(mark.line):\(mark.column)"
    }

    func mapping(
        _ node: Node, _ keyPath: String?, allowed: [String]
    ) throws(ConfigurationError) -> [(String, Node, Node)] {
        guard case .mapping(let mapping) = node else {
            throw error(node, keyPath, "expected a mapping of keys to values")
        }
        var entries: [(String, Node, Node)] = []
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let key) = keyNode else { throw error(keyNode, keyPath, "keys must be plain strings") }
            let path = keyPath.map { "\($0).\(key.string)" } ?? key.string
            guard allowed.contains(key.string) else {
                let hint = Self.closest(key.string, in: allowed).map { " (did you mean '\($0)'?)" } ?? ""
                throw error(
                    keyNode, path, "unknown key\(hint); allowed here: \(allowed.joined(separator: ", "))"
                )
            }
            entries.append((key.string, keyNode, valueNode))
        }
        return entries
    }

    mutating func read(_ root: Node) throws(ConfigurationError) -> HostConfiguration {
        let entries = try mapping(
            root, nil, allowed: ["plugins", "host", "provider", "cache", "transports", "cluster"])
        var provider: HostConfiguration.PluginSlot?
        var cache: HostConfiguration.PluginSlot?
        var transports: [HostConfiguration.PluginSlot] = []
        var directories: [String] = []
        var options = HostConfiguration.HostOptions()
        var cluster: ClusterConfiguration?
        for (key, _, value) in entries {
            switch key {
            case "plugins":
                for (subkey, _, subvalue) in try mapping(value, "plugins", allowed: ["directories"])
                where subkey == "directories" {
                    directories = try stringList(subvalue, "plugins.directories")
                }
            case "host": options = try hostOptions(value)
            case "cluster": cluster = try clusterOptions(value)
            case "provider": provider = try slot(value, "provider")
            case "cache": cache = try slot(value, "cache")
            case "transports":
                guard case .sequence(let sequence) = value else {
                    throw error(value, "transports", "expected a list of transport plugins (- plugin: NAME)")
                }
                for (index, item) in sequence.enumerated() {
                    transports.append(try slot(item, "transports[\(index)]"))
                }
            default: break
            }
        }
        guard let provider else {
            throw error(
                root, "provider", "missing; add 'provider: { plugin: RecordedProvider }' (see docs/configuration.md)")
        }
        guard let cache else {
            throw error(root, "cache", "missing; add 'cache: { plugin: MemoryCache }' (see docs/configuration.md)")
        }
        var configuration = HostConfiguration(
            sourcePath: file, pluginDirectories: directories, host: options, provider: provider, cache: cache,
            transports: transports
        )
        configuration.cluster = cluster
        return configuration
    }

    /// The `cluster:` section (see `ClusterConfiguration` for the keys).
    func clusterOptions(_ node: Node) throws(ConfigurationError) -> ClusterConfiguration {
        let allowed = ["redisUrl", "instanceId", "keyPrefix", "leaseTtlMs", "leaseRenewMs", "demandTtlMs"]
        let entries = try mapping(node, "cluster", allowed: allowed)
        guard let urlEntry = entries.first(where: { $0.0 == "redisUrl" }) else {
            throw error(node, "cluster.redisUrl", "missing; the cluster needs Redis (e.g. redis://127.0.0.1:6379/0)")
        }
        let url = try string(urlEntry.2, "cluster.redisUrl")
        do throws(RedisError) {
            _ = try RedisEndpoint(url: url)
        } catch {
            throw self.error(urlEntry.2, "cluster.redisUrl", error.message)
        }
        var cluster = ClusterConfiguration(redisURL: url)
        for (key, _, value) in entries {
            let path = "cluster.\(key)"
            switch key {
            case "instanceId", "keyPrefix":
                let text = try string(value, path)
                if let problem = ClusterConfiguration.problem(identifier: text) { throw error(value, path, problem) }
                if key == "instanceId" { cluster.instanceID = text } else { cluster.keyPrefix = text }
            case "leaseTtlMs": cluster.leaseTTLMilliseconds = try positiveInt(value, path)
            case "leaseRenewMs": cluster.leaseRenewMilliseconds = try positiveInt(value, path)
            case "demandTtlMs": cluster.demandTTLMilliseconds = try positiveInt(value, path)
            default: break
            }
        }
        guard cluster.leaseRenewMilliseconds < cluster.leaseTTLMilliseconds else {
            throw error(
                node, "cluster.leaseRenewMs",
                "must be below cluster.leaseTtlMs (\(cluster.leaseTTLMilliseconds)), or the lease expires between renewals"
            )
        }
        guard cluster.demandTTLMilliseconds >= 300 else {
            throw error(node, "cluster.demandTtlMs", "must be at least 300 (it is refreshed every third of it)")
        }
        return cluster
    }

    func slot(_ node: Node, _ keyPath: String) throws(ConfigurationError) -> HostConfiguration.PluginSlot {
        var plugin: String?
        var config = JSONValue.object([])
        for (key, _, value) in try mapping(node, keyPath, allowed: ["plugin", "config"]) {
            if key == "plugin" {
                let name = try string(value, "\(keyPath).plugin")
                guard !name.isEmpty else { throw error(value, "\(keyPath).plugin", "must name a plugin or a path") }
                plugin = name
            } else {
                config = try json(value, "\(keyPath).config")
                guard case .object = config else {
                    throw error(value, "\(keyPath).config", "expected a mapping (the plugin's own settings)")
                }
            }
        }
        guard let plugin else {
            throw error(node, "\(keyPath).plugin", "missing; name the plugin library (e.g. MemoryCache) or give a path")
        }
        return HostConfiguration.PluginSlot(plugin: plugin, config: config, location: location(node), keyPath: keyPath)
    }

    func hostOptions(_ node: Node) throws(ConfigurationError) -> HostConfiguration.HostOptions {
        var options = HostConfiguration.HostOptions()
        let allowed = ["logLevel", "requestTimeoutMs", "shutdownGraceMs", "aggregatesWorker", "live", "options"]
        for (key, _, value) in try mapping(node, "host", allowed: allowed) {
            let path = "host.\(key)"
            switch key {
            case "logLevel":
                let text = try string(value, path)
                guard let level = Logger.Level(rawValue: text.lowercased()) else {
                    throw error(value, path, "expected one of trace, debug, info, notice, warning, error, critical")
                }
                options.logLevel = level
            case "requestTimeoutMs": options.requestTimeoutMilliseconds = try positiveInt(value, path)
            case "shutdownGraceMs": options.shutdownGraceMilliseconds = try positiveInt(value, path)
            case "live":
                let keys = ["maxSubscriptionsPerClient", "maxOptionQuoteSubscriptions", "recentTrades", "staleAfterMs"]
                for (subkey, _, subvalue) in try mapping(value, path, allowed: keys) {
                    let number = try positiveInt(subvalue, "\(path).\(subkey)")
                    switch subkey {
                    case "maxSubscriptionsPerClient": options.live.maximumSubscriptionsPerClient = Int(number)
                    case "maxOptionQuoteSubscriptions": options.live.maximumOptionQuoteSubscriptions = Int(number)
                    case "recentTrades": options.live.recentTrades = Int(number)
                    default: options.live.staleAfterMilliseconds = number
                    }
                }
            case "options": options.options = try optionChainOptions(value, path)
            case "aggregatesWorker":
                for (subkey, _, subvalue) in try mapping(value, path, allowed: ["enabled", "symbols"]) {
                    if subkey == "enabled" {
                        options.aggregatesWorkerEnabled = try bool(subvalue, "\(path).enabled")
                    } else {
                        options.aggregatesWorkerSymbols = try stringList(subvalue, "\(path).symbols")
                    }
                }
            default: break
            }
        }
        return options
    }

    /// `host.options`: `rate` and `dividendYield` (numbers from -1 to 1), `chainRefreshMs` (positive integer).
    func optionChainOptions(_ node: Node, _ path: String) throws(ConfigurationError) -> OptionChainService.Options {
        var options = OptionChainService.Options()
        for (key, _, value) in try mapping(node, path, allowed: ["rate", "dividendYield", "chainRefreshMs"]) {
            if key == "chainRefreshMs" {
                options.chainRefreshMilliseconds = try positiveInt(value, "\(path).\(key)")
                continue
            }
            let parsed = try json(value, "\(path).\(key)")
            guard let number = parsed.double ?? parsed.string.flatMap(Double.init), number.isFinite, abs(number) <= 1
            else {
                throw error(value, "\(path).\(key)", "expected a number from -1 to 1 (0.04 means 4 %)")
            }
            if key == "rate" { options.rate = number } else { options.dividendYield = number }
        }
        return options
    }

    func string(_ node: Node, _ keyPath: String) throws(ConfigurationError) -> String {
        guard case .scalar(let scalar) = node, Tag.Name(rawValue: node.tag.rawValue) != .null else {
            throw error(node, keyPath, "expected a string")
        }
        return try interpolate(scalar.string, node, keyPath)
    }

    func stringList(_ node: Node, _ keyPath: String) throws(ConfigurationError) -> [String] {
        guard case .sequence(let sequence) = node else { throw error(node, keyPath, "expected a list of strings") }
        var out: [String] = []
        for (index, item) in sequence.enumerated() { out.append(try string(item, "\(keyPath)[\(index)]")) }
        return out
    }

    func bool(_ node: Node, _ keyPath: String) throws(ConfigurationError) -> Bool {
        let value = try json(node, keyPath)
        if let flag = value.bool { return flag }
        if let text = value.string {
            switch text.lowercased() {
            case "true", "yes", "on", "1": return true
            case "false", "no", "off", "0": return false
            default: break
            }
        }
        throw error(node, keyPath, "expected true or false")
    }

    func positiveInt(_ node: Node, _ keyPath: String) throws(ConfigurationError) -> Int64 {
        let value = try json(node, keyPath)
        let number = value.int64 ?? value.string.flatMap { Int64($0) }
        guard let number, number > 0 else { throw error(node, keyPath, "expected a positive integer") }
        return number
    }

    /// Converts a YAML subtree to JSON, resolving scalar types and interpolating environment variables.
    func json(_ node: Node, _ keyPath: String) throws(ConfigurationError) -> JSONValue {
        switch node {
        case .scalar(let scalar):
            let quoted = scalar.style == .singleQuoted || scalar.style == .doubleQuoted
            if !quoted {
                switch Tag.Name(rawValue: node.tag.rawValue) {
                case .null: return .null
                case .bool: if let value = node.bool { return .bool(value) }
                case .int: if let value = node.int { return .integer(Int64(value)) }
                case .float: if let value = node.float { return .number(value) }
                default: break
                }
            }
            let text = try interpolate(scalar.string, node, keyPath)
            // A whole-value interpolation of a number or boolean keeps its type, as an operator expects.
            if !quoted, text != scalar.string, let typed = Self.typedScalar(text) { return typed }
            return .string(text)
        case .sequence(let sequence):
            var values: [JSONValue] = []
            for (index, item) in sequence.enumerated() { values.append(try json(item, "\(keyPath)[\(index)]")) }
            return .array(values)
        case .mapping(let mapping):
            var members: [(String, JSONValue)] = []
            for (keyNode, valueNode) in mapping {
                guard case .scalar(let key) = keyNode else {
                    throw error(keyNode, keyPath, "keys must be plain strings")
                }
                members.append((key.string, try json(valueNode, "\(keyPath).\(key.string)")))
            }
            return .object(members)
        case .alias:
            throw error(node, keyPath, "YAML aliases are not supported in configuration")
        }
    }

    static func typedScalar(_ text: String) -> JSONValue? {
        if text == "true" { return .bool(true) }
        if text == "false" { return .bool(false) }
        if let int = Int64(text) { return .integer(int) }
        if let double = Double(text), text.contains(".") { return .number(double) }
        return nil
    }

    /// Replaces `${NAME}` and `${NAME:-default}`; `$$` is a literal dollar sign.
    func interpolate(_ text: String, _ node: Node, _ keyPath: String) throws(ConfigurationError) -> String {
        guard text.contains("$") else { return text }
        var out = ""
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            let after = rest.index(after: dollar)
            if after < rest.endIndex, rest[after] == "$" {
                out += "$"
                rest = rest[rest.index(after: after)...]
                continue
            }
            guard after < rest.endIndex, rest[after] == "{" else {
                out += "$"
                rest = rest[after...]
                continue
            }
            guard let close = rest[after...].firstIndex(of: "}") else {
                throw error(node, keyPath, "unterminated ${...} in '\(text)'")
            }
            let body = rest[rest.index(after: after)..<close]
            let name: Substring
            var fallback: Substring?
            if let marker = body.range(of: ":-") {
                name = body[..<marker.lowerBound]
                fallback = body[marker.upperBound...]
            } else {
                name = body
            }
            guard !name.isEmpty, name.allSatisfy({ $0 == "_" || $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
                throw error(node, keyPath, "invalid environment variable name '\(name)'")
            }
            if let value = environment[String(name)], !value.isEmpty {
                out += value
            } else if let fallback {
                out += fallback
            } else {
                throw error(
                    node, keyPath, "environment variable \(name) is not set (use ${\(name):-default} for a default)")
            }
            rest = rest[rest.index(after: close)...]
        }
        out += rest
        return out
    }

    /// The allowed key closest to a misspelt one, when it is close enough to be a likely typo.
    static func closest(_ key: String, in allowed: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var previous = Array(0...b.count)
            for i in 1...max(a.count, 1) where !a.isEmpty {
                var current = [i] + Array(repeating: 0, count: b.count)
                for j in stride(from: 1, through: b.count, by: 1) {
                    current[j] = min(
                        previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                }
                previous = current
            }
            return a.isEmpty ? b.count : previous[b.count]
        }
        let scored = allowed.map { ($0, distance(Array(key.lowercased()), Array($0.lowercased()))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, key.count / 3) else { return nil }
        return best.0
    }
}
