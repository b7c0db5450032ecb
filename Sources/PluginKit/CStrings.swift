import PluginAPI

extension String {
    /// Copies a borrowed ABI string into a Swift string (invalid UTF-8 is repaired, never trapped on).
    public init(_ value: mh_str) {
        guard let pointer = value.ptr, value.len > 0 else {
            self = ""
            return
        }
        self = pointer.withMemoryRebound(to: UInt8.self, capacity: value.len) {
            String(decoding: UnsafeBufferPointer(start: $0, count: value.len), as: UTF8.self)
        }
    }
}

extension mh_bytes {
    /// Copies the bytes into a Swift array.
    public var array: [UInt8] {
        guard let pointer = ptr, len > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: pointer, count: len))
    }
}

/// Calls `body` with an `mh_str` that borrows `string`'s UTF-8 bytes for the duration of the call.
public func withMHString<R>(_ string: String, _ body: (mh_str) throws -> R) rethrows -> R {
    var copy = string
    return try copy.withUTF8 { buffer in
        try buffer.withMemoryRebound(to: CChar.self) {
            try body(mh_str(ptr: $0.baseAddress, len: $0.count))
        }
    }
}

/// Calls `body` with an `mh_bytes` that borrows `bytes` for the duration of the call.
public func withMHBytes<R>(_ bytes: [UInt8], _ body: (mh_bytes) throws -> R) rethrows -> R {
    try bytes.withUnsafeBufferPointer { try body(mh_bytes(ptr: $0.baseAddress, len: $0.count)) }
}

/// Calls `body` with a contiguous array of `mh_str` borrowing every string in `strings`.
public func withMHStrings<R>(_ strings: [String], _ body: (UnsafeBufferPointer<mh_str>) throws -> R) rethrows -> R {
    let arena = StringArena(strings)
    return try arena.withStrings { views in
        try views.withUnsafeBufferPointer { try body($0) }
    }
}

/// Packs many strings into one buffer so that records can point into it while a call is in flight.
public struct StringArena {
    private var storage: [UInt8] = []
    private var ranges: [Range<Int>] = []

    public init(_ strings: [String] = []) {
        for string in strings { _ = append(string) }
    }

    /// Appends `string` and returns its index.
    public mutating func append(_ string: String) -> Int {
        let start = storage.count
        storage.append(contentsOf: string.utf8)
        ranges.append(start..<storage.count)
        return ranges.count - 1
    }

    /// Gives `body` one `mh_str` per appended string, valid only inside `body`.
    public func withStrings<R>(_ body: ([mh_str]) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer { buffer in
            let base = buffer.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }
            let views = ranges.map { range in
                mh_str(ptr: base.map { $0 + range.lowerBound }, len: range.count)
            }
            return try body(views)
        }
    }
}

extension mh_errbuf {
    /// Writes `message` (truncated to fit, always NUL-terminated) into the caller's buffer.
    public func write(_ message: String) {
        guard let buffer = buf, cap > 0 else { return }
        // Truncate on a character boundary so the text stays valid UTF-8.
        var text = Substring(message)
        while text.utf8.count > cap - 1 { text = text.dropLast() }
        let utf8 = Array(text.utf8)
        utf8.withUnsafeBufferPointer { source in
            buffer.withMemoryRebound(to: UInt8.self, capacity: cap) { destination in
                if let base = source.baseAddress { destination.update(from: base, count: source.count) }
                destination[source.count] = 0
            }
        }
    }
}

/// A buffer to receive an error message from a callee, read back as a Swift string.
public final class ErrorBuffer {
    public let capacity: Int
    private let storage: UnsafeMutablePointer<CChar>

    public init(capacity: Int = 1024) {
        self.capacity = capacity
        storage = .allocate(capacity: capacity)
        storage.initialize(repeating: 0, count: capacity)
    }

    deinit { storage.deallocate() }

    public var errbuf: mh_errbuf { mh_errbuf(buf: storage, cap: capacity) }

    public var message: String {
        storage.withMemoryRebound(to: UInt8.self, capacity: capacity) { bytes in
            var length = 0
            while length < capacity, bytes[length] != 0 { length += 1 }
            return String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self)
        }
    }

    public func clear() { storage[0] = 0 }
}
