import PluginKit

/// The host's health: every plugin's own report and the worst of them.
public struct HealthReport: Sendable {
    public struct Entry: Sendable {
        public var slot: String
        public var id: String
        public var kind: PluginKind
        public var health: PluginHealth
    }

    public var entries: [Entry]
    public var checkedAtMilliseconds: Int64
    /// The cluster member's health (nil on a single host).
    public var cluster: ClusterNode.Health? = nil

    public var state: PluginHealth.State { (entries.map(\.health.state) + [cluster?.state ?? .ok]).max() ?? .ok }

    public var json: JSONValue {
        .object(
            [
                ("status", .string(state.rawValue)),
                ("checkedAt", .integer(checkedAtMilliseconds)),
                (
                    "plugins",
                    .array(
                        entries.map {
                            .object([
                                ("slot", .string($0.slot)), ("id", .string($0.id)),
                                ("kind", .string($0.kind.description)),
                                ("status", .string($0.health.state.rawValue)), ("detail", .string($0.health.detail)),
                            ])
                        }
                    )
                ),
            ] + (cluster.map { [("cluster", $0.json)] } ?? []))
    }
}
