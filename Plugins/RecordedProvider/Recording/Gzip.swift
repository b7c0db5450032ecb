import CZlib

/// Gzip for recordings, through the system zlib. A compressed recording is a sequence of gzip members (each
/// writer flush appends one), which every gzip tool reads as one stream.
public enum Gzip {
    /// True when `bytes` start with the gzip magic number.
    public static func isCompressed(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
    }

    /// Decompresses every member. Stops at damage and returns what came before it, with a description of
    /// the damage (a cut-off file is reported too, so the reader can mark the recording truncated).
    public static func decompress(_ input: [UInt8]) -> (bytes: [UInt8], problem: String?) {
        var output: [UInt8] = []
        output.reserveCapacity(input.count * 6)
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            return ([], "zlib could not start decompressing")
        }
        defer { inflateEnd(&stream) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var problem: String?
        input.withUnsafeBufferPointer { source in
            stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
            stream.avail_in = UInt32(source.count)
            while true {
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { target -> (Int32, Int) in
                    stream.next_out = target.baseAddress
                    stream.avail_out = UInt32(target.count)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    return (status, target.count - Int(stream.avail_out))
                }
                output.append(contentsOf: chunk[0..<produced])
                if status == Z_STREAM_END {
                    // Another member may follow.
                    if stream.avail_in == 0 { return }
                    guard inflateReset(&stream) == Z_OK else {
                        problem = "zlib could not continue after a gzip member"
                        return
                    }
                    continue
                }
                if status == Z_OK { continue }
                if status == Z_BUF_ERROR, stream.avail_in == 0 {
                    problem = "the compressed file ends in the middle of a gzip member"
                    return
                }
                problem = "the compressed data is damaged after \(source.count - Int(stream.avail_in)) bytes"
                return
            }
        }
        return (output, problem)
    }

    /// One gzip member holding `input`.
    public static func compress(_ input: [UInt8], level: Int32 = 6) -> [UInt8] {
        var stream = z_stream()
        guard
            deflateInit2_(
                &stream, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
                Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { return [] }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 64)
        var written = 0
        input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                _ = deflate(&stream, Z_FINISH)
                written = target.count - Int(stream.avail_out)
            }
        }
        return Array(output[0..<written])
    }
}
