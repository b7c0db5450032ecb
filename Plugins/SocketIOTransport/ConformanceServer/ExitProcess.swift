#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Ends the process with `code` (after flushing stdout).
func exitProcess(_ code: Int32) -> Never {
    fflush(nil)
    exit(code)
}

/// Prints a line and flushes stdout, so a parent process reading a pipe sees it at once.
func printFlushed(_ line: String) {
    print(line)
    fflush(nil)
}
