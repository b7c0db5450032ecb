import ArgumentParser
import Foundation
import Host
import Logging

/// Shared pieces of the subcommands: one-line errors on stderr with a non-zero exit, and logging set-up.
enum CommandSupport {
    /// Prints `message` as one line on standard error and returns the exit code to throw.
    static func fail(_ message: Any, code: Int32 = 1) -> ExitCode {
        FileHandle.standardError.write(Data("markethub: error: \(message)\n".utf8))
        return ExitCode(code)
    }

    static func loadConfiguration(_ path: String) throws -> HostConfiguration {
        do {
            return try ConfigurationLoader().load(path: path)
        } catch {
            throw fail(error, code: 2)
        }
    }

    /// Sends host and plugin logs to standard error at `level`. Called once per process.
    static func bootstrapLogging(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
