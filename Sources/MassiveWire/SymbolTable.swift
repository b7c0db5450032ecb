/// Interns ticker symbols: each distinct symbol gets a small integer slot and one shared `String`, so the frame
/// hot path neither allocates a string per event nor hashes it twice. Lookup is open addressing over an
/// FNV-1a hash of the raw UTF-8 bytes.
public struct SymbolTable: Sendable {
    /// The symbol of each slot.
    public private(set) var symbols: [String] = []
    private var storage: [UInt8] = []
    private var ranges: [Range<Int>] = []
    /// Empty until the first symbol: an empty table costs no allocation, so callers may make one per frame
    /// (the replay swaps its table out around each decode).
    private var buckets: [Int32] = []
    private static let initialBuckets = 256

    public init() {}

    public var count: Int { symbols.count }

    @inline(__always)
    static func hash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    @inline(__always)
    private func matches(_ slot: Int, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        let range = ranges[slot]
        guard range.count == key.count else { return false }
        return storage.withUnsafeBufferPointer { stored in
            var index = 0
            while index < key.count {
                if stored[range.lowerBound + index] != key[index] { return false }
                index += 1
            }
            return true
        }
    }

    /// The slot of a symbol given as UTF-8 bytes, or nil when it was never interned.
    public func slot(of key: UnsafeBufferPointer<UInt8>) -> Int? {
        guard !buckets.isEmpty else { return nil }
        let mask = buckets.count - 1
        var index = Int(truncatingIfNeeded: Self.hash(key)) & mask
        while true {
            let slot = Int(buckets[index])
            if slot < 0 { return nil }
            if matches(slot, key) { return slot }
            index = (index + 1) & mask
        }
    }

    public func slot(of symbol: String) -> Int? {
        var copy = symbol
        return copy.withUTF8 { slot(of: $0) }
    }

    /// The slot of a symbol given as UTF-8 bytes, adding it on first sight.
    public mutating func intern(_ key: UnsafeBufferPointer<UInt8>) -> Int {
        if buckets.isEmpty { buckets = Array(repeating: -1, count: Self.initialBuckets) }
        let mask = buckets.count - 1
        var index = Int(truncatingIfNeeded: Self.hash(key)) & mask
        while true {
            let slot = Int(buckets[index])
            if slot < 0 { break }
            if matches(slot, key) { return slot }
            index = (index + 1) & mask
        }
        let slot = symbols.count
        let start = storage.count
        storage.append(contentsOf: key)
        ranges.append(start..<storage.count)
        symbols.append(String(decoding: key, as: UTF8.self))
        buckets[index] = Int32(slot)
        if symbols.count * 2 > buckets.count { grow() }
        return slot
    }

    public mutating func intern(_ symbol: String) -> Int {
        var copy = symbol
        return copy.withUTF8 { intern($0) }
    }

    private mutating func grow() {
        var larger = [Int32](repeating: -1, count: buckets.count * 2)
        let mask = larger.count - 1
        storage.withUnsafeBufferPointer { stored in
            for (slot, range) in ranges.enumerated() {
                var index = Int(truncatingIfNeeded: Self.hash(UnsafeBufferPointer(rebasing: stored[range]))) & mask
                while larger[index] >= 0 { index = (index + 1) & mask }
                larger[index] = Int32(slot)
            }
        }
        buckets = larger
    }
}
