import Foundation
import PluginKit

/// The host's own HTTP routes. Market-data routes are added by the services that own them.
enum HostRoutes {
    static func make(runtime: HostRuntime) -> HTTPRouter {
        HTTPRouter { routes in
            AggregatesRoutes.register(&routes, service: runtime.aggregates, warmer: runtime.warmer)
            OptionsRoutes.register(
                &routes, chain: runtime.optionChain, snapshots: runtime.snapshots, selections: runtime.selections)
            routes.add("GET", "/health") { [weak runtime] _, _ in
                guard let runtime else { return .error(503, "stopping", "the host is stopping") }
                let report = runtime.health()
                return .json(report.json, status: report.state == .down ? 503 : 200)
            }
            routes.add("GET", "/openapi.yaml") { [weak runtime] _, _ in
                guard let runtime else { return .error(503, "stopping", "the host is stopping") }
                let base = (runtime.configuration.sourcePath as NSString).deletingLastPathComponent
                let candidates = [
                    (base as NSString).appendingPathComponent("docs/openapi.yaml"),
                    FileManager.default.currentDirectoryPath + "/docs/openapi.yaml",
                ]
                guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }),
                    let data = FileManager.default.contents(atPath: path)
                else {
                    return .error(404, "not_found", "docs/openapi.yaml was not found next to the configuration file")
                }
                return HTTPResponse(
                    status: 200, headers: [("Content-Type", "application/yaml; charset=utf-8")], body: Array(data))
            }
            routes.add("GET", "/metrics") { [weak runtime] _, _ in
                guard let runtime else { return .error(503, "stopping", "the host is stopping") }
                for entry in runtime.health().entries {
                    let value: Double =
                        switch entry.health.state {
                        case .ok: 0
                        case .degraded: 1
                        case .down: 2
                        }
                    runtime.metrics.set(
                        "markethub_plugin_health", to: value, labels: [("plugin", entry.id), ("slot", entry.slot)],
                        help: "Plugin health: 0 ok, 1 degraded, 2 down"
                    )
                }
                return HTTPResponse(
                    status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                    body: Array(runtime.metrics.render().utf8)
                )
            }
        }
    }
}
