import NIOSSL

extension SocketIOServer {
    /// The listener's TLS settings from `tls.certificate` and `tls.privateKey` (PEM files), or nil for plain
    /// HTTP. Unreadable or malformed files are an error naming the key and the file.
    func makeTLSConfiguration() throws(SocketIOServerError) -> TLSConfiguration? {
        guard let certificatePath = configuration.tlsCertificatePath,
            let keyPath = configuration.tlsPrivateKeyPath
        else { return nil }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw SocketIOServerError(
                .invalid, "tls.certificate \(certificatePath) is not a readable PEM certificate file (\(error))")
        }
        guard !chain.isEmpty else {
            throw SocketIOServerError(.invalid, "tls.certificate \(certificatePath) holds no certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw SocketIOServerError(
                .invalid, "tls.privateKey \(keyPath) is not a readable PEM private key file (\(error))")
        }
        return TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    }
}
