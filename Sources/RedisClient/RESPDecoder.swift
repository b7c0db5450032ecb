import NIOCore

/// Decodes RESP2 values from the byte stream. A value split across reads waits for the rest; anything that is
/// not RESP closes the connection with a protocol error.
struct RESPDecoder: ByteToMessageDecoder {
    typealias InboundOut = RESPValue

    /// Longest accepted bulk string (Redis's own limit is 512 MB).
    static let maximumBulkLength = 512 * 1024 * 1024
    /// Deepest accepted nesting of arrays.
    static let maximumDepth = 16

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        var copy = buffer
        guard let value = try Self.parse(&copy, depth: 0) else { return .needMoreData }
        buffer.moveReaderIndex(to: copy.readerIndex)
        context.fireChannelRead(wrapInboundOut(value))
        return .continue
    }

    mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }

    /// Parses one value, or returns nil (the buffer's reader index unspecified) when more bytes are needed.
    static func parse(_ buffer: inout ByteBuffer, depth: Int) throws(RedisError) -> RESPValue? {
        guard depth <= maximumDepth else { throw RedisError(.protocolViolation, "arrays nested too deeply") }
        guard let marker = buffer.readInteger(as: UInt8.self) else { return nil }
        guard let line = try readLine(&buffer) else { return nil }
        switch marker {
        case UInt8(ascii: "+"): return .simpleString(line)
        case UInt8(ascii: "-"): return .error(line)
        case UInt8(ascii: ":"):
            guard let value = Int64(line) else { throw RedisError(.protocolViolation, "bad integer '\(line)'") }
            return .integer(value)
        case UInt8(ascii: "$"):
            guard let length = Int(line), length >= -1, length <= maximumBulkLength else {
                throw RedisError(.protocolViolation, "bad bulk length '\(line)'")
            }
            if length == -1 { return .bulkString(nil) }
            guard buffer.readableBytes >= length + 2, let bytes = buffer.readBytes(length: length) else { return nil }
            guard buffer.readInteger(as: UInt16.self) == 0x0D0A else {
                throw RedisError(.protocolViolation, "bulk string not followed by CRLF")
            }
            return .bulkString(bytes)
        case UInt8(ascii: "*"):
            guard let count = Int(line), count >= -1 else {
                throw RedisError(.protocolViolation, "bad array length '\(line)'")
            }
            if count == -1 { return .array(nil) }
            var values: [RESPValue] = []
            values.reserveCapacity(min(count, 1_024))
            for _ in 0..<count {
                guard let value = try parse(&buffer, depth: depth + 1) else { return nil }
                values.append(value)
            }
            return .array(values)
        default:
            throw RedisError(.protocolViolation, "unknown RESP type byte \(marker)")
        }
    }

    /// Reads up to CRLF (consumed); nil when the line is not complete yet.
    static func readLine(_ buffer: inout ByteBuffer) throws(RedisError) -> String? {
        let view = buffer.readableBytesView
        guard let carriageReturn = view.firstIndex(of: UInt8(ascii: "\r")) else {
            if view.count > 64 * 1024 { throw RedisError(.protocolViolation, "header line longer than 64 KiB") }
            return nil
        }
        let newline = view.index(after: carriageReturn)
        guard newline < view.endIndex else { return nil }
        guard view[newline] == UInt8(ascii: "\n") else {
            throw RedisError(.protocolViolation, "CR not followed by LF")
        }
        let line = buffer.readString(length: carriageReturn - view.startIndex) ?? ""
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }
}

/// Encodes commands as RESP arrays of bulk strings.
struct RESPEncoder: MessageToByteEncoder {
    typealias OutboundIn = RedisCommand

    func encode(data: RedisCommand, out: inout ByteBuffer) throws {
        Self.write(data, into: &out)
    }

    static func write(_ command: RedisCommand, into out: inout ByteBuffer) {
        out.writeStaticString("*")
        out.writeString(String(command.arguments.count))
        out.writeStaticString("\r\n")
        for argument in command.arguments {
            out.writeStaticString("$")
            out.writeString(String(argument.count))
            out.writeStaticString("\r\n")
            out.writeBytes(argument)
            out.writeStaticString("\r\n")
        }
    }
}
