import CMongoc

/// An owned libbson document (`bson_t *` from `bson_new`), built with the bson_* append functions.
///
/// Threading: not thread-safe; a document is built and used by one thread, then dropped.
final class BSONDocument {
    let pointer: OpaquePointer

    init() { pointer = bson_new() }

    deinit { bson_destroy(pointer) }

    @discardableResult
    func append(_ key: String, _ value: String) -> Self {
        // The explicit length keeps every byte (the C string conversion adds only the terminating NUL).
        _ = bson_append_utf8(pointer, key, -1, value, Int32(value.utf8.count))
        return self
    }

    @discardableResult
    func append(_ key: String, int64 value: Int64) -> Self {
        _ = bson_append_int64(pointer, key, -1, value)
        return self
    }

    @discardableResult
    func append(_ key: String, int32 value: Int32) -> Self {
        _ = bson_append_int32(pointer, key, -1, value)
        return self
    }

    /// A double, or null when it is not finite (unknown prices, VWAP).
    @discardableResult
    func append(_ key: String, double value: Double) -> Self {
        if value.isFinite {
            _ = bson_append_double(pointer, key, -1, value)
        } else {
            _ = bson_append_null(pointer, key, -1)
        }
        return self
    }

    /// A BSON date (UTC milliseconds since the epoch): what TTL indexes compare.
    @discardableResult
    func append(_ key: String, dateMilliseconds value: Int64) -> Self {
        _ = bson_append_date_time(pointer, key, -1, value)
        return self
    }

    @discardableResult
    func append(_ key: String, bool value: Bool) -> Self {
        _ = bson_append_bool(pointer, key, -1, value)
        return self
    }

    @discardableResult
    func append(_ key: String, document: BSONDocument) -> Self {
        _ = bson_append_document(pointer, key, -1, document.pointer)
        return self
    }

    /// An array of documents (keys "0", "1", ...).
    @discardableResult
    func append(_ key: String, array: [BSONDocument]) -> Self {
        let list = BSONDocument()
        for (index, element) in array.enumerated() { list.append(String(index), document: element) }
        _ = bson_append_array(pointer, key, -1, list.pointer)
        return self
    }

    /// An array of strings.
    @discardableResult
    func append(_ key: String, strings: [String]) -> Self {
        let list = BSONDocument()
        for (index, element) in strings.enumerated() { list.append(String(index), element) }
        _ = bson_append_array(pointer, key, -1, list.pointer)
        return self
    }

    /// Relaxed extended JSON text (for replies and diagnostics, not the hot path).
    static func json(_ document: OpaquePointer) -> String {
        guard let text = bson_as_relaxed_extended_json(document, nil) else { return "{}" }
        defer { bson_free(text) }
        return String(cString: text)
    }
}

/// Typed reads of the top-level fields of a borrowed document (one returned by a cursor).
struct BSONFields {
    let document: OpaquePointer

    func value(_ key: String) -> mh_bson_value { mh_bson_get(document, key) }

    func string(_ key: String) -> String? {
        let field = value(key)
        guard field.type == Int32(BSON_TYPE_UTF8.rawValue), let bytes = field.utf8 else { return nil }
        return String(
            decoding: UnsafeRawBufferPointer(start: UnsafeRawPointer(bytes), count: Int(field.length)), as: UTF8.self)
    }

    /// A number stored as double, int32 or int64.
    func number(_ key: String) -> Double? {
        let field = value(key)
        switch UInt32(field.type) {
        case BSON_TYPE_DOUBLE.rawValue, BSON_TYPE_INT32.rawValue, BSON_TYPE_INT64.rawValue: return field.number
        default: return nil
        }
    }

    /// A number, or NaN when the field is null or absent; nil when it holds something else.
    func optionalNumber(_ key: String) -> Double? {
        let field = value(key)
        switch UInt32(field.type) {
        case BSON_TYPE_NULL.rawValue, BSON_TYPE_EOD.rawValue: return .nan
        default: return number(key)
        }
    }

    /// An integer stored as int32 or int64 (or a double with no fraction).
    func integer(_ key: String) -> Int64? {
        let field = value(key)
        switch UInt32(field.type) {
        case BSON_TYPE_INT32.rawValue, BSON_TYPE_INT64.rawValue: return field.integer
        case BSON_TYPE_DOUBLE.rawValue:
            guard field.number.rounded() == field.number, abs(field.number) < 9e15 else { return nil }
            return Int64(field.number)
        default: return nil
        }
    }

    func date(_ key: String) -> Int64? {
        let field = value(key)
        return field.type == Int32(BSON_TYPE_DATE_TIME.rawValue) ? field.integer : nil
    }
}
