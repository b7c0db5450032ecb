import Foundation
import Logging
import NIOCore
import NIOPosix
import SocketIOServer
import Testing

/// The listener's TLS settings: both PEM files or neither, and files that cannot be read stop the server with
/// an error naming the key and the file (the HTTPS/WSS round trip itself is in Tests/interop/test_tls.py).
@Suite("TLS configuration")
struct TLSConfigurationTests {
    @Test("tls needs both certificate and privateKey")
    func needsBoth() throws {
        var configuration = SocketIOServerConfiguration()
        try configuration.validate()
        configuration.tlsCertificatePath = "/etc/markethub/cert.pem"
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        configuration.tlsPrivateKeyPath = "/etc/markethub/key.pem"
        try configuration.validate()
        configuration.tlsPrivateKeyPath = ""
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
    }

    @Test("an unreadable certificate or key stops the server with an error naming the key and the file")
    func unreadableFiles() async throws {
        let directory = NSTemporaryDirectory() + "markethub-tls-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let garbage = directory + "/garbage.pem"
        try Data("not a certificate".utf8).write(to: URL(fileURLWithPath: garbage))

        for (certificate, key, expected) in [
            (directory + "/missing.pem", garbage, "tls.certificate \(directory)/missing.pem"),
            (garbage, garbage, "tls.certificate \(garbage)"),
        ] {
            var configuration = SocketIOServerConfiguration()
            configuration.port = 0
            configuration.tlsCertificatePath = certificate
            configuration.tlsPrivateKeyPath = key
            try configuration.validate()
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            var logger = Logger(label: "tls-test")
            logger.logLevel = .critical
            let server = SocketIOServer(
                configuration: configuration, delegate: RecordingDelegate(), eventLoopGroup: group, logger: logger)
            var failure = ""
            do {
                try await server.run()
            } catch {
                failure = "\(error)"
            }
            #expect(failure.contains(expected), "\(failure)")
            await #expect(throws: SocketIOServerError.self) { _ = try await server.waitUntilListening() }
            try await group.shutdownGracefully()
        }
    }
}
