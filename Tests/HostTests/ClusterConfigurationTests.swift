import Host
import Testing

@Suite("Cluster configuration")
struct ClusterConfigurationTests {
    func parse(_ cluster: String) throws -> HostConfiguration {
        let text = """
            provider: { plugin: RecordedProvider }
            cache: { plugin: MemoryCache }
            \(cluster)
            """
        return try ConfigurationLoader(environment: ["REDIS_URL": "redis://10.0.0.5:6380/2"])
            .parse(text, sourcePath: "c.yaml")
    }

    @Test("no cluster section means a single host")
    func singleHost() throws {
        #expect(try parse("").cluster == nil)
    }

    @Test("every key is read, with defaults for the optional ones")
    func keys() throws {
        let minimal = try #require(try parse("cluster: { redisUrl: \"${REDIS_URL}\" }").cluster)
        #expect(minimal.redisURL == "redis://10.0.0.5:6380/2")
        #expect(minimal.instanceID == ClusterConfiguration.defaultInstanceID && !minimal.instanceID.isEmpty)
        #expect(minimal.keyPrefix == "markethub")
        #expect(minimal.leaseTTLMilliseconds == 3_000 && minimal.leaseRenewMilliseconds == 1_000)
        #expect(minimal.demandTTLMilliseconds == 15_000)
        let full = try #require(
            try parse(
                """
                cluster:
                  redisUrl: redis://127.0.0.1
                  instanceId: web-1
                  keyPrefix: prod:eu
                  leaseTtlMs: 5000
                  leaseRenewMs: 1500
                  demandTtlMs: 9000
                """
            ).cluster)
        #expect(full.instanceID == "web-1" && full.keyPrefix == "prod:eu")
        #expect(full.leaseTTLMilliseconds == 5_000 && full.leaseRenewMilliseconds == 1_500)
        #expect(full.demandTTLMilliseconds == 9_000)
    }

    @Test(
        "bad values are refused with the key and the fix",
        arguments: [
            ("cluster: { instanceId: a }", "cluster.redisUrl", "missing"),
            ("cluster: { redisUrl: http://x }", "cluster.redisUrl", "redis://"),
            ("cluster: { redisUrl: \"redis://h:99999\" }", "cluster.redisUrl", "port"),
            ("cluster: { redisUrl: redis://h, instanceId: \"a|b\" }", "cluster.instanceId", "letters"),
            ("cluster: { redisUrl: redis://h, leaseTtlMs: 1000, leaseRenewMs: 1000 }", "cluster.leaseRenewMs", "below"),
            ("cluster: { redisUrl: redis://h, demandTtlMs: 100 }", "cluster.demandTtlMs", "300"),
            ("cluster: { redisUrl: redis://h, leaseTTL: 5 }", "cluster.leaseTTL", "leaseTtlMs"),
        ])
    func refusals(text: String, keyPath: String, hint: String) {
        let error = #expect(throws: ConfigurationError.self) { try parse(text) }
        #expect(error?.keyPath == keyPath)
        #expect(error?.message.contains(hint) == true, "\(error?.message ?? "")")
    }
}
