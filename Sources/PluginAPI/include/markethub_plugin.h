/*
 * markethub_plugin.h — the MarketHub plugin ABI, version 1.
 *
 * This header is the whole contract between the MarketHub host and its plugins. A plugin can be written in
 * C (or any language with a C FFI) from this file alone; Swift plugins may use the PluginKit helpers, which
 * are thin wrappers over exactly these declarations.
 *
 * ------------------------------------------------------------------------------------------------------------
 * RULES THAT KEEP THIS ABI STABLE
 * ------------------------------------------------------------------------------------------------------------
 *  1. Only C types cross: fixed-width integers, double, {ptr,len} UTF-8 strings and bytes, opaque handles and
 *     the structs below. No language runtime object (Swift String, Array, class, Error...) ever crosses.
 *  2. One exported function per plugin library: `markethub_plugin_entry_v1` (see MH_ENTRY_SYMBOL). It receives
 *     the host's ABI version and returns the plugin's descriptor. The host refuses a plugin whose ABI major
 *     differs from its own; any minor is accepted in both directions.
 *  3. Every table and record starts with `uint32_t struct_size`, set by whoever filled it to the sizeof() it
 *     was compiled with. Fields are only ever appended. A reader must check that a field lies inside
 *     struct_size before reading it (MH_HAS_FIELD) and that a function pointer is non-NULL before calling it.
 *     A field the writer did not know about reads as absent: zero, NULL, NaN or the documented default.
 *  4. Arrays of records (mh_quote, mh_trade, mh_bar, mh_last_quote, mh_label, mh_header) are laid out
 *     contiguously with a stride equal to the struct_size of their FIRST element; all elements of one array
 *     share it. Use mh_record_at() to index them. This lets an older reader walk an array written by a newer
 *     writer and vice versa.
 *  5. Pointers passed into a call are BORROWED for the duration of that call only, unless the documentation
 *     of the parameter says otherwise. Copy what you keep. Each side frees what it allocated; nothing is ever
 *     freed across the boundary.
 *  6. Every function documents the threads it may be called on:
 *       [load]      called once, on the host's loader thread, before any other call into the library.
 *       [control]   called on a host control thread, never concurrently with another [control] call on the
 *                   same instance.
 *       [any]       may be called from any thread, concurrently; must not block for long (no network or
 *                   disk waits); must be thread-safe.
 *     Asynchronous operations complete through a callback exactly once, possibly on a plugin-owned thread,
 *     possibly before the initiating call returns. Completion callbacks must not block.
 *  7. Errors are an mh_status code plus a human-readable message written into a caller-supplied mh_errbuf
 *     (always NUL-terminated, truncated to fit). Logs go through mh_host_api.log so one logging setup
 *     covers the host and every plugin.
 *  8. Libraries are opened with RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE and are never closed. Swapping a plugin
 *     is a configuration change and a restart.
 *  9. Swift plugins must be built by the same Swift toolchain as the host (Swift has no stable ABI on Linux);
 *     the descriptor's `toolchain` says which, and the host refuses a mismatch. Plugins written in C set
 *     toolchain to "c" (any C compiler is fine).
 * 10. New capabilities are found by string id with a revision, e.g. "markethub.replay-control/1". An
 *     incompatible change to an extension gets a new revision; the old id keeps its meaning.
 *
 * Time: wall-clock times are UTC since the Unix epoch. Tick times (quotes, trades) are in nanoseconds
 * (`*_ns`); bar and "updated at" times are in milliseconds (`*_ms`). Bars are labelled by their start.
 * A missing double is NaN, a missing integer is the documented sentinel (usually -1 or 0).
 */
#ifndef MARKETHUB_PLUGIN_H
#define MARKETHUB_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ============================================================================================================
 * Versioning and export
 * ==========================================================================================================*/

/** Breaking change => new major and a new entry symbol (markethub_plugin_entry_v2). */
#define MH_ABI_MAJOR 1
/** Additive change (appended fields, new enum values, new extension ids) => new minor. */
#define MH_ABI_MINOR 0

/** The one symbol a plugin library exports. */
#define MH_ENTRY_SYMBOL "markethub_plugin_entry_v1"

#if defined(__GNUC__) || defined(__clang__)
#define MH_EXPORT __attribute__((visibility("default")))
#else
#define MH_EXPORT
#endif

/** True when `field` of the struct pointed to by `ptr` lies inside the writer's struct_size. */
#define MH_HAS_FIELD(ptr, type, field) \
    ((ptr) != NULL && (size_t)(ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ============================================================================================================
 * Basic types
 * ==========================================================================================================*/

/** Status codes. 0 is success; every other value is an error the caller can act on. */
typedef int32_t mh_status;
enum {
    MH_OK = 0,
    MH_NOT_FOUND = 1,       /* the thing asked for does not exist (unknown ticker, no such contract, empty cache) */
    MH_RATE_LIMITED = 2,    /* upstream throttled us; see retry_after_ms */
    MH_UNAUTHORIZED = 3,    /* credentials missing or rejected */
    MH_NOT_ENTITLED = 4,    /* credentials fine, plan does not include this data */
    MH_UNAVAILABLE = 5,     /* upstream or backend down, timed out, 5xx, network error: try again later */
    MH_INVALID = 6,         /* the request or configuration is invalid; the message says what */
    MH_INTERNAL = 7,        /* a bug or an unexpected state inside the callee */
    MH_UNSUPPORTED = 8,     /* this plugin does not implement the operation or request kind */
    MH_CANCELLED = 9,       /* the operation was cancelled because the instance is stopping */
    MH_LIMIT_EXCEEDED = 10  /* a configured or vendor limit was hit (e.g. 1,000 option quote subscriptions) */
};

/** A UTF-8 string: `len` bytes at `ptr`, NOT necessarily NUL-terminated. {NULL,0} is the empty string. */
typedef struct mh_str {
    const char *ptr;
    size_t len;
} mh_str;

/** Bytes: `len` bytes at `ptr`. JSON documents cross as mh_bytes holding UTF-8 JSON text. */
typedef struct mh_bytes {
    const uint8_t *ptr;
    size_t len;
} mh_bytes;

/**
 * A caller-owned buffer for an error message. The callee writes at most `cap - 1` bytes of UTF-8 text plus a
 * terminating NUL. A callee that returns MH_OK leaves it untouched. `buf` may be NULL when `cap` is 0.
 */
typedef struct mh_errbuf {
    char *buf;
    size_t cap;
} mh_errbuf;

/** A name/value pair (metric labels). */
typedef struct mh_label {
    uint32_t struct_size;
    mh_str name;
    mh_str value;
} mh_label;

/** Plugin kinds. */
typedef uint32_t mh_kind;
enum { MH_KIND_PROVIDER = 1, MH_KIND_CACHE = 2, MH_KIND_TRANSPORT = 3 };

/** Health of a plugin instance, reported by every vtable's `health` function. */
typedef int32_t mh_health_state;
enum { MH_HEALTH_OK = 0, MH_HEALTH_DEGRADED = 1, MH_HEALTH_DOWN = 2 };

/** Log levels, lowest to highest severity. */
typedef int32_t mh_log_level;
enum {
    MH_LOG_TRACE = 0,
    MH_LOG_DEBUG = 1,
    MH_LOG_INFO = 2,
    MH_LOG_NOTICE = 3,
    MH_LOG_WARNING = 4,
    MH_LOG_ERROR = 5,
    MH_LOG_CRITICAL = 6
};

/** Metric kinds for mh_host_api.metric. */
typedef int32_t mh_metric_kind;
enum {
    MH_METRIC_COUNTER_ADD = 0, /* add `value` (>= 0) to a counter */
    MH_METRIC_GAUGE_SET = 1,   /* set a gauge to `value` */
    MH_METRIC_HISTOGRAM = 2    /* record one observation of `value` (seconds for durations) */
};

/** Helper: the address of element `index` of a record array whose first element is at `base` (rule 4). */
static inline const void *mh_record_at(const void *base, size_t index) {
    if (base == NULL) return NULL;
    return (const uint8_t *)base + (size_t)(*(const uint32_t *)base) * index;
}

/* ============================================================================================================
 * Host services: given to every plugin instance
 * ==========================================================================================================*/

/** A timer callback; `arg` is the pointer given to schedule. Called at most once. */
typedef void (*mh_timer_fn)(void *arg);

/**
 * The services the host offers every plugin instance. The host owns this table and everything it points to;
 * both stay valid from the `create` call that received it until the instance's `destroy` returns.
 * Every function here is [any] thread and never blocks.
 */
typedef struct mh_host_api {
    uint32_t struct_size;
    uint16_t abi_major; /* the host's MH_ABI_MAJOR */
    uint16_t abi_minor; /* the host's MH_ABI_MINOR */
    void *ctx;          /* pass back as the first argument of every function below */

    /**
     * Log one message through the host's logging setup. `message` is plain text; `metadata_json` is an
     * optional JSON object of structured fields ({NULL,0} for none), with dotted keys ("feed.symbol").
     * The host labels the line with the plugin's id. Never log secrets (API keys, passwords).
     */
    void (*log)(void *ctx, mh_log_level level, mh_str message, mh_str metadata_json);

    /** The host clock: wall time, UTC nanoseconds since the Unix epoch. Tests and replays control it. */
    int64_t (*now_ns)(void *ctx);

    /** The host clock: monotonic nanoseconds (arbitrary origin). Use for timeouts and intervals. */
    int64_t (*monotonic_ns)(void *ctx);

    /**
     * Call `fn(arg)` once, on a host thread, after `delay_ns` of the host's monotonic clock have passed.
     * Returns a non-zero timer id, or 0 if the timer could not be scheduled (host shutting down).
     * Plugins that pace themselves by time (replays, reconnect backoff) use this so tests can control time.
     */
    uint64_t (*schedule)(void *ctx, int64_t delay_ns, mh_timer_fn fn, void *arg);

    /** Cancel a timer. Returns 1 if the callback will not run, 0 if it already ran or is running. */
    int32_t (*cancel)(void *ctx, uint64_t timer_id);

    /**
     * Look up a host extension by id ("name/revision"). Returns a pointer to a table that starts with
     * struct_size and stays valid until destroy, or NULL when the host does not offer it.
     */
    const void *(*get_extension)(void *ctx, const char *extension_id);

    /**
     * Report a metric. `name` is a Prometheus-style name (snake_case, the host prefixes nothing);
     * `labels` is an array of `label_count` mh_label records (rule 4), may be NULL when label_count is 0.
     * Keep label values bounded (no per-request ids).
     */
    void (*metric)(void *ctx, mh_metric_kind kind, mh_str name, const mh_label *labels, size_t label_count,
                   double value);
} mh_host_api;

/* ============================================================================================================
 * Market data records (hot path: flat, batched)
 * ==========================================================================================================*/

/** Flags on mh_quote. */
enum {
    MH_QUOTE_CROSSED = 1u << 0, /* bid > ask (set by whoever detects it; the host re-checks) */
    MH_QUOTE_LOCKED = 1u << 1,  /* bid == ask */
    MH_QUOTE_ZERO = 1u << 2     /* bid or ask is zero */
};

/** One NBBO quote. */
typedef struct mh_quote {
    uint32_t struct_size;
    uint32_t flags;       /* MH_QUOTE_* */
    mh_str symbol;        /* "AAPL", "O:SPY251219C00650000" */
    int64_t ts_ns;        /* quote time */
    double bid_price;
    double ask_price;
    double bid_size;      /* contracts for options, shares for stocks */
    double ask_size;
    int32_t bid_exchange; /* vendor exchange id, -1 unknown */
    int32_t ask_exchange;
    int64_t sequence;     /* per-symbol sequence, increasing, gaps allowed; -1 unknown */
} mh_quote;

/** One trade. */
typedef struct mh_trade {
    uint32_t struct_size;
    uint32_t condition_count; /* how many of conditions[] are used (0..8) */
    mh_str symbol;
    int64_t ts_ns;
    double price;
    double size;
    int32_t exchange;       /* -1 unknown */
    int32_t conditions[8];  /* vendor condition codes */
    int64_t sequence;       /* -1 unknown */
    mh_str trade_id;        /* may be empty */
} mh_trade;

/** Bar timespans. */
typedef uint32_t mh_timespan;
enum {
    MH_TIMESPAN_SECOND = 1,
    MH_TIMESPAN_MINUTE = 2,
    MH_TIMESPAN_HOUR = 3,
    MH_TIMESPAN_DAY = 4,
    MH_TIMESPAN_WEEK = 5,
    MH_TIMESPAN_MONTH = 6,
    MH_TIMESPAN_QUARTER = 7,
    MH_TIMESPAN_YEAR = 8
};

/** One OHLCV bar (REST aggregates, streamed per-second/per-minute aggregates, cached bars). */
typedef struct mh_bar {
    uint32_t struct_size;
    uint32_t timespan;     /* mh_timespan */
    mh_str symbol;
    int32_t multiplier;    /* e.g. 5 with MH_TIMESPAN_MINUTE for 5-minute bars */
    int32_t reserved0;     /* zero */
    int64_t start_ms;      /* bar start, the bar's label */
    int64_t end_ms;        /* bar end (exclusive) when known, else 0 */
    double open;
    double high;
    double low;
    double close;
    double volume;
    double vwap;           /* NaN when unknown */
    int64_t transactions;  /* -1 when unknown */
    int64_t updated_ms;    /* caches: when the bar was stored; providers: 0 */
    mh_str source;         /* provenance ("massive", "recorded", "stream"); may be empty */
} mh_bar;

/** Last known values for one symbol, as a cache stores them (the spec's option_quotes). */
typedef struct mh_last_quote {
    uint32_t struct_size;
    uint32_t reserved0;
    mh_str symbol;
    double bid_price;  /* NaN when unknown */
    double ask_price;
    double last_price;
    double midpoint;
    int64_t updated_ms;
} mh_last_quote;

/* ============================================================================================================
 * Asynchronous results (shared by provider look-ups and cache operations)
 * ==========================================================================================================*/

/**
 * The outcome of an asynchronous operation. Which fields are filled depends on the operation (see each one).
 * Everything the result points to is BORROWED for the duration of the completion callback only.
 */
typedef struct mh_result {
    uint32_t struct_size;
    mh_status status;
    int64_t retry_after_ms; /* MH_RATE_LIMITED: how long to wait, or -1 when upstream did not say */
    mh_str message;         /* error text when status != MH_OK; may carry an informational note otherwise */
    mh_bytes json;          /* JSON document for rich results; {NULL,0} when none */
    int64_t updated_ms;     /* when the returned data was produced or stored; 0 unknown */
    const mh_bar *bars;     /* bar_count records (rule 4) */
    size_t bar_count;
    const mh_quote *quotes;
    size_t quote_count;
    const mh_trade *trades;
    size_t trade_count;
    const mh_last_quote *last_quotes;
    size_t last_quote_count;
} mh_result;

/**
 * Completion callback. Called EXACTLY ONCE per accepted operation, on any thread, possibly before the
 * initiating function returns. `result` and all it points to are borrowed for this call only.
 */
typedef void (*mh_done_fn)(void *done_ctx, const mh_result *result);

/* ============================================================================================================
 * Provider interface  (kind MH_KIND_PROVIDER, interface id "markethub.provider/1")
 * ==========================================================================================================*/

/** Look-up kinds for mh_provider_vtable.request. Results are described per kind. */
typedef uint32_t mh_request_kind;
enum {
    /** Bars for `ticker`, `multiplier` x `timespan`, start times in [from_ms, to_ms], ascending, at most `limit`
     *  (0 = provider default). Result: `bars`. Params JSON (optional): {"adjusted": true}. */
    MH_REQUEST_AGGREGATES = 1,
    /** Option chain snapshot for underlying `ticker`. Params JSON (all optional):
     *  {"expiration":"YYYY-MM-DD", "expirationFrom":"YYYY-MM-DD", "expirationTo":"YYYY-MM-DD",
     *   "strikeMin":number, "strikeMax":number, "contractType":"call"|"put"}. `limit` caps contracts (0 = all).
     *  Result JSON: a chain document (below). */
    MH_REQUEST_CHAIN_SNAPSHOT = 2,
    /** One option contract snapshot; `ticker` is the contract ("O:SPY251219C00650000").
     *  Result JSON: {"underlying":"SPY","underlyingPrice":number|null,"contract":CONTRACT}. */
    MH_REQUEST_CONTRACT_SNAPSHOT = 3,
    /** Listed contracts for underlying `ticker`. Params JSON as for chain snapshots (plus "asOf":"YYYY-MM-DD").
     *  Result JSON: {"contracts":[{"ticker","underlying","type":"call"|"put","strike","expiration"}...]}. */
    MH_REQUEST_CONTRACTS = 4,
    /** Expiration dates listed for underlying `ticker`. Result JSON: {"expirations":["YYYY-MM-DD",...]} ascending. */
    MH_REQUEST_EXPIRATIONS = 5,
    /** Recent NBBO quotes for `ticker`, newest first, at most `limit`; from_ms/to_ms bound them when non-zero.
     *  Result: `quotes`. */
    MH_REQUEST_QUOTES = 6,
    /** Recent trades for `ticker`, newest first, at most `limit`. Result: `trades`. */
    MH_REQUEST_TRADES = 7,
    /** The last trade for `ticker`. Result: `trades` with one record. */
    MH_REQUEST_LAST_TRADE = 8,
    /** Market status now. Result JSON:
     *  {"market":"open"|"closed"|"extended-hours","earlyHours":bool,"afterHours":bool,"serverTime":"RFC3339",
     *   "exchanges":{"nyse":"open",...}}. */
    MH_REQUEST_MARKET_STATUS = 9,
    /** Snapshots for a watchlist. Params JSON: {"tickers":["SPY","QQQ"]}. Result JSON:
     *  {"tickers":[{"ticker","last","prevClose","change","changePercent","volume","updatedMs"}...]}. */
    MH_REQUEST_TICKER_SNAPSHOTS = 10
};
/*
 * CONTRACT (JSON object used by chain and contract snapshots; null or absent means unknown):
 *   {"ticker":"O:SPY251219C00650000","type":"call","strike":650,"expiration":"2025-12-19",
 *    "bid":number,"ask":number,"bidSize":number,"askSize":number,"last":number,"volume":number,
 *    "openInterest":number,"iv":number,"delta":number,"gamma":number,"theta":number,"vega":number,
 *    "updatedMs":int}
 * Chain document: {"underlying":"SPY","underlyingPrice":number|null,"contracts":[CONTRACT...]}
 */

/** A look-up request. Everything it points to is borrowed for the `request` call only. */
typedef struct mh_request {
    uint32_t struct_size;
    mh_request_kind kind;
    mh_str ticker;        /* ticker, underlying or contract, depending on kind */
    int32_t multiplier;   /* aggregates */
    uint32_t timespan;    /* aggregates: mh_timespan */
    int64_t from_ms;      /* inclusive; 0 = unbounded */
    int64_t to_ms;        /* inclusive; 0 = unbounded */
    uint32_t limit;       /* 0 = kind's default */
    uint32_t reserved0;
    mh_bytes params_json; /* extra parameters as documented per kind; {NULL,0} for none */
} mh_request;

/** Streaming channels (bit set). */
typedef uint32_t mh_channels;
enum {
    MH_CHANNEL_QUOTES = 1u << 0,
    MH_CHANNEL_TRADES = 1u << 1,
    MH_CHANNEL_AGG_SECOND = 1u << 2,
    MH_CHANNEL_AGG_MINUTE = 1u << 3
};

/** Stream states reported through mh_provider_sink.on_state. */
typedef int32_t mh_stream_state_kind;
enum {
    MH_STREAM_CONNECTING = 0,   /* connecting or re-connecting */
    MH_STREAM_LIVE = 1,         /* streaming; when gap_from_ms != 0 this is a recovery after an outage */
    MH_STREAM_DEGRADED = 2,     /* streaming partly or unreliably; `reason` says why */
    MH_STREAM_RATE_LIMITED = 3, /* upstream throttling; retry_after_ms when known */
    MH_STREAM_FAILED = 4,       /* will not recover without operator action (e.g. auth failed); `reason` says why */
    MH_STREAM_STOPPED = 5       /* stopped on request */
};

typedef struct mh_stream_state {
    uint32_t struct_size;
    mh_stream_state_kind state;
    mh_str feed;            /* which upstream connection ("options", "stocks"); may be empty */
    mh_str reason;          /* human-readable, never contains secrets */
    int64_t retry_after_ms; /* -1 unknown */
    int64_t gap_from_ms;    /* with MH_STREAM_LIVE after an outage: the window data may be missing for; else 0 */
    int64_t gap_to_ms;
} mh_stream_state;

/**
 * The sink a provider pushes streaming data into. Implemented by the host; valid from `create` until
 * `destroy` returns. All functions are [any] thread, never block, and copy what they keep: records are
 * borrowed for the call. A provider may call them concurrently from several threads, but records of one
 * symbol and channel should be delivered in order.
 */
typedef struct mh_provider_sink {
    uint32_t struct_size;
    void *ctx;
    void (*on_quotes)(void *ctx, const mh_quote *quotes, size_t count);
    void (*on_trades)(void *ctx, const mh_trade *trades, size_t count);
    /** Streamed aggregates; timespan/multiplier say which (1 second or 1 minute). */
    void (*on_bars)(void *ctx, const mh_bar *bars, size_t count);
    void (*on_state)(void *ctx, const mh_stream_state *state);
    /** A subscription for `symbol` on `channels` was refused or dropped upstream (unknown symbol, not entitled,
     *  MH_LIMIT_EXCEEDED for the vendor's 1,000 option quote cap...). */
    void (*on_subscription_error)(void *ctx, mh_str symbol, mh_channels channels, mh_status status,
                                  mh_str message);
} mh_provider_sink;

/** The provider vtable, returned through mh_plugin.vtable when kind == MH_KIND_PROVIDER. */
typedef struct mh_provider_vtable {
    uint32_t struct_size;

    /**
     * [control] Create an instance. `host` and `sink` stay valid until destroy returns. `config_json` is the
     * plugin's own YAML section as a JSON object (borrowed). On success store an opaque instance in
     * *out_instance and return MH_OK; on failure return a status and write the reason into `err`.
     * Must not call the sink before `start`.
     */
    mh_status (*create)(const mh_host_api *host, mh_str config_json, const mh_provider_sink *sink,
                        void **out_instance, mh_errbuf err);

    /** [control] Begin work (connect streams lazily or eagerly). */
    mh_status (*start)(void *instance, mh_errbuf err);

    /**
     * [control] Stop: close upstream connections, complete every pending request with MH_CANCELLED (or its
     * real result). After stop returns, the plugin makes no further sink or completion calls. Idempotent.
     */
    void (*stop)(void *instance);

    /** [control] Free the instance. Called once, after stop. */
    void (*destroy)(void *instance);

    /** [any] Current health; write a short human-readable detail into `detail`. */
    mh_health_state (*health)(void *instance, mh_errbuf detail);

    /**
     * [any] Start a look-up. Returns MH_OK when accepted: `done` will then be called exactly once. Any other
     * return value means `done` will NOT be called (MH_UNSUPPORTED for kinds the plugin does not serve).
     */
    mh_status (*request)(void *instance, const mh_request *request, mh_done_fn done, void *done_ctx);

    /**
     * [any] Subscribe `count` symbols to `channels` upstream. Idempotent per (symbol, channel). Upstream
     * refusals arrive later through sink.on_subscription_error; a synchronous non-OK return means nothing was
     * subscribed (message in err).
     */
    mh_status (*subscribe)(void *instance, const mh_str *symbols, size_t count, mh_channels channels,
                           mh_errbuf err);

    /** [any] Unsubscribe `count` symbols from `channels`. Unknown pairs are ignored. */
    mh_status (*unsubscribe)(void *instance, const mh_str *symbols, size_t count, mh_channels channels,
                             mh_errbuf err);

    /** [any] Look up a plugin extension (e.g. MH_EXT_REPLAY_CONTROL); NULL when not offered. The table stays
     *  valid until destroy. May be NULL itself. */
    const void *(*get_extension)(void *instance, const char *extension_id);
} mh_provider_vtable;

/* ============================================================================================================
 * Cache interface  (kind MH_KIND_CACHE, interface id "markethub.cache/1")
 * ==========================================================================================================*/

/** A range read of bars. */
typedef struct mh_bar_query {
    uint32_t struct_size;
    uint32_t timespan;   /* mh_timespan */
    mh_str ticker;
    int32_t multiplier;
    uint32_t limit;      /* 0 = no limit */
    int64_t from_ms;     /* inclusive bar start; 0 = unbounded */
    int64_t to_ms;       /* inclusive bar start; 0 = unbounded */
    int32_t descending;  /* 0 ascending by start; 1 descending (limit then keeps the newest) */
    int32_t reserved0;
} mh_bar_query;

/**
 * The cache vtable, returned through mh_plugin.vtable when kind == MH_KIND_CACHE. Every data operation is [any]
 * thread and asynchronous: it returns MH_OK when accepted (then `done` runs exactly once) or an error status
 * (then `done` is not called). Inputs are borrowed for the initiating call only; copy them.
 * Semantics every cache must honour (checked by the conformance kit):
 *  - bars are unique by (symbol, timespan, multiplier, start_ms); put_bars upserts, a later write overwrites,
 *    and sets updated_ms to the host clock; `source` is stored as given;
 *  - chain snapshots are unique by (underlying, expiration) and are returned only if younger than max_age_ms;
 *  - last quotes are unique by symbol; selections are unique by key;
 *  - a missing entry completes with MH_NOT_FOUND (get_chain, get_selection) or an empty result (get_bars,
 *    get_last_quotes).
 */
typedef struct mh_cache_vtable {
    uint32_t struct_size;

    /** [control] Create an instance; see mh_provider_vtable.create. */
    mh_status (*create)(const mh_host_api *host, mh_str config_json, void **out_instance, mh_errbuf err);
    /** [control] Open connections/files. A cache whose backend is unreachable should still start, report
     *  MH_HEALTH_DEGRADED and recover on its own. */
    mh_status (*start)(void *instance, mh_errbuf err);
    /** [control] Flush pending writes, complete pending operations, close. Idempotent. */
    void (*stop)(void *instance);
    /** [control] Free the instance, after stop. */
    void (*destroy)(void *instance);
    /** [any] Health and a short detail. */
    mh_health_state (*health)(void *instance, mh_errbuf detail);

    /** Upsert `count` bars (rule 4). Result: status only. */
    mh_status (*put_bars)(void *instance, const mh_bar *bars, size_t count, mh_done_fn done, void *done_ctx);
    /** Read bars. Result: `bars` (each with updated_ms and source). */
    mh_status (*get_bars)(void *instance, const mh_bar_query *query, mh_done_fn done, void *done_ctx);

    /** Store a chain snapshot document (JSON) for (underlying, expiration). Result: status only. */
    mh_status (*put_chain)(void *instance, mh_str underlying, mh_str expiration, mh_bytes json, mh_done_fn done,
                           void *done_ctx);
    /** Read a chain snapshot no older than max_age_ms (max_age_ms <= 0: no limit from the reader; the cache's
     *  own time-to-live, 24 hours by default, still applies). Result: `json` and `updated_ms`, or MH_NOT_FOUND. */
    mh_status (*get_chain)(void *instance, mh_str underlying, mh_str expiration, int64_t max_age_ms,
                           mh_done_fn done, void *done_ctx);

    /** Upsert last quotes (rule 4); updated_ms is taken from the records. Result: status only. */
    mh_status (*put_last_quotes)(void *instance, const mh_last_quote *quotes, size_t count, mh_done_fn done,
                                 void *done_ctx);
    /** Read last quotes for `count` symbols. Result: `last_quotes` for the symbols found (any order). */
    mh_status (*get_last_quotes)(void *instance, const mh_str *symbols, size_t count, mh_done_fn done,
                                 void *done_ctx);

    /** Store a selection document (JSON) under `key`. Result: status only. */
    mh_status (*put_selection)(void *instance, mh_str key, mh_bytes json, mh_done_fn done, void *done_ctx);
    /** Read the selection under `key`. Result: `json` and `updated_ms`, or MH_NOT_FOUND. */
    mh_status (*get_selection)(void *instance, mh_str key, mh_done_fn done, void *done_ctx);

    /** [any] Look up a plugin extension; may be NULL. */
    const void *(*get_extension)(void *instance, const char *extension_id);
} mh_cache_vtable;

/* ============================================================================================================
 * Transport interface  (kind MH_KIND_TRANSPORT, interface id "markethub.transport/1")
 * ==========================================================================================================*/

/** One HTTP header (rule 4 arrays). */
typedef struct mh_header {
    uint32_t struct_size;
    mh_str name;
    mh_str value;
} mh_header;

/** An HTTP request forwarded by a transport to the host. Borrowed for the on_http_request call. */
typedef struct mh_http_request {
    uint32_t struct_size;
    uint32_t reserved0;
    mh_str method;          /* "GET", "POST"... */
    mh_str path;            /* decoded path, e.g. "/api/market/aggs" */
    mh_str query;           /* raw query string without '?', percent-encoded */
    const mh_header *headers;
    size_t header_count;
    mh_bytes body;
    mh_str remote_address;  /* "127.0.0.1:53122"; may be empty */
    mh_str auth_subject;    /* who the transport authenticated (e.g. a token's id); empty when auth is off */
} mh_http_request;

/** An HTTP response from the host. Borrowed for the respond call. */
typedef struct mh_http_response {
    uint32_t struct_size;
    int32_t status;         /* HTTP status code */
    const mh_header *headers;
    size_t header_count;
    mh_bytes body;
} mh_http_response;

/**
 * The callbacks a transport calls into the host. Implemented by the host; valid from create until destroy
 * returns. All are [any] thread and never block.
 */
typedef struct mh_transport_host {
    uint32_t struct_size;
    void *ctx;
    /** A client completed its handshake. `client_id` is unique for the process lifetime (never 0).
     *  `meta_json` is a JSON object: {"auth":{...the client's auth payload...},"remoteAddress":"...",
     *  "transport":"websocket"|"polling","subject":"..."}. */
    void (*on_client_connected)(void *ctx, uint64_t client_id, mh_bytes meta_json);
    /** A client is gone; the host releases everything it held. `reason` is human-readable. */
    void (*on_client_disconnected)(void *ctx, uint64_t client_id, mh_str reason);
    /** A client sent event `event` with arguments `args_json` (a JSON array). When ack_id != 0 the client wants
     *  an acknowledgement: the host calls the transport's `ack` exactly once with that id. */
    void (*on_client_event)(void *ctx, uint64_t client_id, mh_str event, mh_bytes args_json, uint64_t ack_id);
    /** An HTTP request for the host. The host calls the transport's `respond` exactly once with request_id. */
    void (*on_http_request)(void *ctx, uint64_t request_id, const mh_http_request *request);
} mh_transport_host;

/** The transport vtable, returned through mh_plugin.vtable when kind == MH_KIND_TRANSPORT. */
typedef struct mh_transport_vtable {
    uint32_t struct_size;

    /** [control] Create an instance; see mh_provider_vtable.create. */
    mh_status (*create)(const mh_host_api *host, mh_str config_json, const mh_transport_host *callbacks,
                        void **out_instance, mh_errbuf err);
    /** [control] Bind listeners and start serving. Fails (with a message) when the port is taken. */
    mh_status (*start)(void *instance, mh_errbuf err);
    /** [control] Stop accepting, disconnect clients gracefully, answer pending requests, close. After it
     *  returns no host callback is made. Idempotent. */
    void (*stop)(void *instance);
    /** [control] Free the instance, after stop. */
    void (*destroy)(void *instance);
    /** [any] Health and a short detail (e.g. "12 clients"). */
    mh_health_state (*health)(void *instance, mh_errbuf detail);

    /**
     * [any] Send `event` with payload `payload_json` (one JSON value, sent as the event's single argument) to
     * every client in `room`. The transport encodes the frame once and writes the same bytes to every member.
     * When `conflation_key` is non-empty, a slow client keeps only the newest unsent message per key.
     */
    mh_status (*publish)(void *instance, mh_str room, mh_str event, mh_bytes payload_json, mh_str conflation_key);
    /** [any] Send `event` with `payload_json` to one client. */
    mh_status (*send)(void *instance, uint64_t client_id, mh_str event, mh_bytes payload_json);
    /** [any] Add a client to a room / remove it. Unknown clients give MH_NOT_FOUND. */
    mh_status (*join)(void *instance, uint64_t client_id, mh_str room);
    mh_status (*leave)(void *instance, uint64_t client_id, mh_str room);
    /** [any] Disconnect a client; `reason` may be sent to it. */
    mh_status (*disconnect)(void *instance, uint64_t client_id, mh_str reason);
    /** [any] Acknowledge a client event: `args_json` is a JSON array of ack arguments. */
    mh_status (*ack)(void *instance, uint64_t ack_id, mh_bytes args_json);
    /** [any] Answer an HTTP request forwarded by on_http_request. */
    mh_status (*respond)(void *instance, uint64_t request_id, const mh_http_response *response);

    /** [any] Look up a plugin extension; may be NULL. */
    const void *(*get_extension)(void *instance, const char *extension_id);
} mh_transport_vtable;

/* ============================================================================================================
 * The plugin descriptor and the entry point
 * ==========================================================================================================*/

/**
 * What a plugin library is. Returned by the entry function; the plugin owns it and it must stay valid (and
 * unchanged) for the life of the process: static storage is the usual choice.
 */
typedef struct mh_plugin {
    uint32_t struct_size;
    uint16_t abi_major;      /* MH_ABI_MAJOR the plugin was built against */
    uint16_t abi_minor;      /* MH_ABI_MINOR the plugin was built against */
    mh_kind kind;            /* MH_KIND_* */
    uint32_t reserved0;
    const char *id;          /* unique, stable, NUL-terminated: "markethub.memory-cache" */
    const char *version;     /* the plugin's own version, semver: "1.0.0" */
    const char *toolchain;   /* "swift-6.3.1" for Swift plugins, "c" for plugins with no language runtime */
    const char *description; /* one line for `markethub plugins` */
    const void *vtable;      /* mh_provider_vtable*, mh_cache_vtable* or mh_transport_vtable*, per kind */
} mh_plugin;

/**
 * [load] The entry function every plugin exports under the name MH_ENTRY_SYMBOL. It receives the host's ABI
 * version and returns the descriptor, or NULL to refuse to load (the host then reports the plugin as
 * incompatible). It must not call back into the host and must be cheap: it may be called by tools that only
 * list plugins.
 */
typedef const mh_plugin *(*mh_entry_fn)(uint16_t host_abi_major, uint16_t host_abi_minor);

/* ============================================================================================================
 * Well-known extension ids
 * ==========================================================================================================*/

/** Provider extension: replay control for recorded sessions (mh_replay_control_v1). */
#define MH_EXT_REPLAY_CONTROL "markethub.replay-control/1"

/** Replay control, offered by replaying providers for QA. All functions are [any] thread. */
typedef struct mh_replay_control_v1 {
    uint32_t struct_size;
    mh_status (*pause)(void *instance);
    mh_status (*resume)(void *instance);
    /** Jump to a position in the recording, in milliseconds of recording time since its start. */
    mh_status (*seek)(void *instance, int64_t offset_ms);
    /** Playback speed: 1.0 real time, N times faster, 0 or less = as fast as possible. */
    mh_status (*set_speed)(void *instance, double speed);
    /** Write a JSON object describing the replay position, speed and state into `out` (NUL-terminated). */
    mh_status (*status)(void *instance, mh_errbuf out);
} mh_replay_control_v1;

#ifdef __cplusplus
}
#endif

#endif /* MARKETHUB_PLUGIN_H */
