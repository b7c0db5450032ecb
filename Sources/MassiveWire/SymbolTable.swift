/// Interns ticker symbols: each distinct symbol gets a small integer slot and one shared `String`, so the frame
/// hot path neither allocates a string per event nor hashes it twice. Lookup is open addressing over a
/// word-at-a-time hash of the raw UTF-8 bytes.
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

    /// Eight bytes at `offset` (fewer at the end, zero-padded), little-endian. The tail of a key of eight bytes
    /// or more is read as the last eight bytes shifted down; shorter keys are read in 4, 2 and 1-byte pieces.
    @inline(__always)
    private static func word(_ key: UnsafeBufferPointer<UInt8>, _ offset: Int) -> UInt64 {
        let raw = UnsafeRawPointer(key.baseAddress!)
        let remaining = key.count - offset
        if remaining >= 8 { return raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self).littleEndian }
        if key.count >= 8 {
            let last = raw.loadUnaligned(fromByteOffset: key.count - 8, as: UInt64.self).littleEndian
            return last >> (UInt64(8 - remaining) * 8)
        }
        var word: UInt64 = 0
        var shift: UInt64 = 0
        var index = offset
        if remaining & 4 != 0 {
            word = UInt64(raw.loadUnaligned(fromByteOffset: index, as: UInt32.self).littleEndian)
            shift = 32
            index += 4
        }
        if remaining & 2 != 0 {
            word |= UInt64(raw.loadUnaligned(fromByteOffset: index, as: UInt16.self).littleEndian) << shift
            shift += 16
            index += 2
        }
        if remaining & 1 != 0 { word |= UInt64(raw.load(fromByteOffset: index, as: UInt8.self)) << shift }
        return word
    }

    /// A hash of the bytes taken eight at a time, finished with a 64-bit avalanche so the low bits used as the
    /// bucket index depend on every byte.
    @inline(__always)
    static func hash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash = UInt64(truncatingIfNeeded: key.count) &* 0x9E37_79B9_7F4A_7C15
        var offset = 0
        while offset < key.count {
            hash = (hash ^ word(key, offset)) &* 0xFF51_AFD7_ED55_8CCD
            hash ^= hash >> 32
            offset += 8
        }
        hash ^= hash >> 33
        hash = hash &* 0xC4CE_B9FE_1A85_EC53
        hash ^= hash >> 33
        return hash
    }

    @inline(__always)
    private func matches(_ slot: Int, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        let range = ranges[slot]
        guard range.count == key.count else { return false }
        return storage.withUnsafeBufferPointer { stored in
            let candidate = UnsafeBufferPointer(rebasing: stored[range])
            var offset = 0
            while offset < key.count {
                if Self.word(candidate, offset) != Self.word(key, offset) { return false }
                offset += 8
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
