import Foundation

/// Keeps the connection string's password out of logs and error messages.
struct MongoRedaction: Sendable {
    /// The secrets to scrub: the password as written in the URI and as decoded by the driver.
    let secrets: [String]

    init(uri: String, decodedPassword: String?) {
        var secrets: [String] = []
        if let password = Self.rawPassword(in: uri), !password.isEmpty { secrets.append(password) }
        if let decodedPassword, !decodedPassword.isEmpty, !secrets.contains(decodedPassword) {
            secrets.append(decodedPassword)
        }
        self.secrets = secrets
    }

    /// The password part of `scheme://user:password@hosts/...`, as written.
    static func rawPassword(in uri: String) -> String? {
        guard let scheme = uri.range(of: "://") else { return nil }
        let rest = uri[scheme.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        guard let at = authority.lastIndex(of: "@") else { return nil }
        let userInfo = authority[..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return nil }
        return String(userInfo[userInfo.index(after: colon)...])
    }

    /// The URI with its password replaced by `***`.
    static func redactedURI(_ uri: String) -> String {
        guard let password = rawPassword(in: uri), !password.isEmpty else { return uri }
        return uri.replacingOccurrences(of: ":" + password + "@", with: ":***@")
    }

    func scrub(_ text: String) -> String {
        secrets.reduce(text) { $0.replacingOccurrences(of: $1, with: "***") }
    }
}
