// The system libmongoc (Debian: libmongoc-dev, found through pkg-config as libmongoc-1.0) and its libbson.
// bson_t is over-aligned, so Swift imports it as an opaque pointer: documents are built and read through the
// bson_* functions only, never as Swift values.
#ifndef MARKETHUB_CMONGOC_SHIM_H
#define MARKETHUB_CMONGOC_SHIM_H
#include <mongoc/mongoc.h>
#include <stdlib.h>

/// Storage for a reply document that a libmongoc call initializes (bson_t cannot be allocated from Swift).
static inline bson_t *mh_bson_reply_new(void) { return (bson_t *)aligned_alloc(128, sizeof(bson_t)); }

/// Destroys a reply initialized by a libmongoc call and frees its storage.
static inline void mh_bson_reply_free(bson_t *reply) {
    bson_destroy(reply);
    free(reply);
}

/// One top-level field of a document, copied out of libbson's (over-aligned, so not importable) iterator.
typedef struct mh_bson_value {
    int32_t type;     /* bson_type_t; 0 (BSON_TYPE_EOD) when the field is absent */
    int32_t reserved0;
    int64_t integer;  /* INT32, INT64, DATE_TIME (ms since the epoch), BOOL (0 or 1) */
    double number;    /* DOUBLE; INT32 and INT64 converted */
    const char *utf8; /* UTF8: borrowed from the document, valid while it lives */
    uint32_t length;  /* UTF8: bytes at utf8 */
    uint32_t reserved1;
} mh_bson_value;

/// Reads the top-level field `key` of `document`.
static inline mh_bson_value mh_bson_get(const bson_t *document, const char *key) {
    mh_bson_value value = {0};
    bson_iter_t iter;
    if (!bson_iter_init_find(&iter, document, key)) return value;
    value.type = (int32_t)bson_iter_type(&iter);
    switch (bson_iter_type(&iter)) {
    case BSON_TYPE_DOUBLE: value.number = bson_iter_double(&iter); break;
    case BSON_TYPE_INT32: value.integer = bson_iter_int32(&iter); value.number = (double)value.integer; break;
    case BSON_TYPE_INT64: value.integer = bson_iter_int64(&iter); value.number = (double)value.integer; break;
    case BSON_TYPE_DATE_TIME: value.integer = bson_iter_date_time(&iter); break;
    case BSON_TYPE_BOOL: value.integer = bson_iter_bool(&iter) ? 1 : 0; break;
    case BSON_TYPE_UTF8: value.utf8 = bson_iter_utf8(&iter, &value.length); break;
    default: break;
    }
    return value;
}
#endif
