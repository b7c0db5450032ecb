import Host
import Logging
import PluginKit
import Testing

@Suite("Configuration loader")
struct ConfigurationLoaderTests {
    let valid = """
        plugins:
          directories: [plugins, /opt/markethub/plugins]
        host:
          logLevel: debug
          requestTimeoutMs: 5000
        provider:
          plugin: RecordedProvider
          config:
            source: synthetic
            speed: 2.5
            loop: true
            underlyings: [SPY, QQQ]
        cache:
          plugin: MemoryCache
        transports:
          - plugin: SocketIOTransport
            config:
              port: 8080
              token: ${MH_TOKEN:-dev-token}
        """

    @Test("a valid file gives every slot with its section as JSON")
    func validFile() throws {
        let configuration = try ConfigurationLoader(environment: [:]).parse(valid, sourcePath: "config.yaml")
        #expect(configuration.provider.plugin == "RecordedProvider")
        #expect(configuration.provider.keyPath == "provider")
        #expect(
            configuration.provider.config
                == .object([
                    ("source", .string("synthetic")), ("speed", .number(2.5)), ("loop", .bool(true)),
                    ("underlyings", .array([.string("SPY"), .string("QQQ")])),
                ])
        )
        #expect(configuration.cache.plugin == "MemoryCache")
        #expect(configuration.transports.count == 1)
        #expect(configuration.transports[0].keyPath == "transports[0]")
        #expect(configuration.transports[0].config["port"] == .integer(8080))
        #expect(configuration.transports[0].config["token"] == .string("dev-token"))
        #expect(configuration.host.logLevel == .debug)
        #expect(configuration.host.requestTimeoutMilliseconds == 5000)
        #expect(configuration.pluginDirectories == ["plugins", "/opt/markethub/plugins"])
        #expect(configuration.transports[0].location == "config.yaml:16:5")
    }

    @Test("environment variables are interpolated, and a whole-value number keeps its type")
    func interpolation() throws {
        let text = """
            provider:
              plugin: P
              config:
                apiKey: "${KEY}"
                port: ${PORT}
                url: ws://${HOST:-localhost}:1
            cache: { plugin: C }
            """
        let configuration = try ConfigurationLoader(environment: ["KEY": "secret", "PORT": "9001"]).parse(
            text, sourcePath: "c.yaml")
        #expect(configuration.provider.config["apiKey"] == .string("secret"))
        #expect(configuration.provider.config["port"] == .integer(9001))
        #expect(configuration.provider.config["url"] == .string("ws://localhost:1"))
    }

    @Test("an unset variable without a default names the variable and the key")
    func unsetVariable() {
        let text = "provider: { plugin: P, config: { apiKey: '${MASSIVE_KEY_X}' } }\ncache: { plugin: C }\n"
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader(environment: [:]).parse(text, sourcePath: "c.yaml")
        }
        #expect(error?.keyPath == "provider.config.apiKey")
        #expect(error?.description.contains("MASSIVE_KEY_X is not set") == true)
        #expect(error?.line == 1)
    }

    @Test("invalid YAML names the file, line and column")
    func invalidYAML() {
        let text = "provider:\n  plugin: P\n  config: [unclosed\ncache: { plugin: C }\n"
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader(environment: [:]).parse(text, sourcePath: "broken.yaml")
        }
        #expect(error?.file == "broken.yaml")
        #expect(error?.line != nil)
        #expect(error?.description.hasPrefix("broken.yaml:") == true)
        #expect(error?.description.contains("invalid YAML") == true)
    }

    @Test("an unknown key is named with its position and a likely fix")
    func unknownKey() {
        let text = "provider: { plugin: P }\ncache: { plugin: C }\nprovder: {}\n"
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader(environment: [:]).parse(text, sourcePath: "c.yaml")
        }
        #expect(error?.keyPath == "provder")
        #expect(error?.line == 3)
        #expect(error?.description.contains("did you mean 'provider'") == true)
    }

    @Test("a value of the wrong type names the key")
    func wrongType() {
        let text = "host: { requestTimeoutMs: soon }\nprovider: { plugin: P }\ncache: { plugin: C }\n"
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader(environment: [:]).parse(text, sourcePath: "c.yaml")
        }
        #expect(error?.keyPath == "host.requestTimeoutMs")
        #expect(error?.description.contains("positive integer") == true)
    }

    @Test("a missing slot says what to add")
    func missingSlot() {
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader(environment: [:]).parse("provider: { plugin: P }\n", sourcePath: "c.yaml")
        }
        #expect(error?.keyPath == "cache")
        #expect(error?.description.contains("MemoryCache") == true)
    }

    @Test("duplicate keys are refused")
    func duplicateKeys() {
        let text = "provider: { plugin: P }\ncache: { plugin: C }\ncache: { plugin: D }\n"
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader(environment: [:]).parse(text, sourcePath: "c.yaml")
        }
    }

    @Test("MASSIVE_API_KEY, MONGODB_URI and AGG_WORKER_ENABLED override the file")
    func environmentOverrides() throws {
        let environment = [
            "MASSIVE_API_KEY": "k-123", "MONGODB_URI": "mongodb://db:27017/mh", "AGG_WORKER_ENABLED": "true",
        ]
        let configuration = try ConfigurationLoader(environment: environment).parse(valid, sourcePath: "config.yaml")
        #expect(configuration.provider.config["apiKey"] == .string("k-123"))
        #expect(configuration.cache.config["uri"] == .string("mongodb://db:27017/mh"))
        #expect(configuration.host.aggregatesWorkerEnabled)
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader(environment: ["AGG_WORKER_ENABLED": "maybe"]).parse(
                valid, sourcePath: "config.yaml")
        }
    }

    @Test("a missing file says so and how to fix it")
    func missingFile() {
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader(environment: [:]).load(path: "/nonexistent/markethub.yaml")
        }
        #expect(error?.description.contains("does not exist") == true)
    }

    @Test("the shipped config.yaml parses")
    func shippedConfig() throws {
        let configuration = try ConfigurationLoader(environment: [:]).load(
            path: TestSupport.packageRoot + "/config.yaml")
        #expect(!configuration.transports.isEmpty)
    }
}
