import Host
import Testing

@Suite("host.options configuration")
struct OptionsConfigurationTests {
    static func parse(_ options: String) throws -> HostConfiguration {
        let text = """
            host:
              options: \(options)
            provider: { plugin: P }
            cache: { plugin: C }
            """
        return try ConfigurationLoader(environment: [:]).parse(text, sourcePath: "config.yaml")
    }

    @Test("rate, dividend yield and chain refresh are read; defaults otherwise")
    func values() throws {
        let configuration = try Self.parse("{ rate: 0.045, dividendYield: 0.012, chainRefreshMs: 30000 }")
        #expect(configuration.host.options.rate == 0.045)
        #expect(configuration.host.options.dividendYield == 0.012)
        #expect(configuration.host.options.chainRefreshMilliseconds == 30_000)
        let defaults = try Self.parse("{}")
        #expect(defaults.host.options.rate == 0.04 && defaults.host.options.dividendYield == 0)
    }

    @Test("out-of-range numbers and unknown keys name the key")
    func errors() {
        let percent = #expect(throws: ConfigurationError.self) { try Self.parse("{ rate: 4.5 }") }
        #expect(percent?.keyPath == "host.options.rate")
        #expect(percent?.message.contains("0.04 means 4 %") == true)
        let typo = #expect(throws: ConfigurationError.self) { try Self.parse("{ dividend: 0.01 }") }
        #expect(typo?.keyPath == "host.options.dividend")
    }
}
