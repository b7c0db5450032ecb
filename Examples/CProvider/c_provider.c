/*
 * c_provider.c — a MarketHub provider plugin written in plain C, against markethub_plugin.h alone.
 *
 * It proves the ABI is language-neutral: no Swift, no runtime shared with the host. It emits deterministic
 * NBBO quotes for every symbol subscribed to MH_CHANNEL_QUOTES, paced by the host's timer service (so tests
 * that drive the host clock drive this plugin too), and answers one look-up: MH_REQUEST_LAST_TRADE.
 *
 * Configuration (JSON object, all optional):
 *   "intervalMs": positive integer, default 100 — time between quote batches.
 *
 * Build:  cc -shared -fPIC -O2 -I Sources/PluginAPI/include Examples/CProvider/c_provider.c \
 *            -Wl,--version-script=Plugins/plugin.exports -lpthread -o libCProvider.so
 */
#include "markethub_plugin.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SYMBOLS 64
#define MAX_SYMBOL_LEN 64

typedef struct c_provider {
    const mh_host_api *host;
    const mh_provider_sink *sink;
    pthread_mutex_t lock;       /* guards everything below; held while calling the sink */
    int running;
    int64_t interval_ns;
    uint64_t timer;
    int64_t sequence;
    size_t symbol_count;
    char symbols[MAX_SYMBOLS][MAX_SYMBOL_LEN + 1];
} c_provider;

static void write_error(mh_errbuf err, const char *message) {
    if (err.buf == NULL || err.cap == 0) return;
    snprintf(err.buf, err.cap, "%s", message);
}

static void log_info(c_provider *p, const char *message) {
    if (MH_HAS_FIELD(p->host, mh_host_api, log) && p->host->log != NULL) {
        mh_str text = {message, strlen(message)};
        mh_str none = {NULL, 0};
        p->host->log(p->host->ctx, MH_LOG_INFO, text, none);
    }
}

/* Finds the integer value of "key" in a flat JSON object. Returns 1 and sets *out when present and numeric,
 * 0 when absent, -1 when present but not an integer. Enough for this example's one key. */
static int json_int(mh_str json, const char *key, long long *out) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    char *text = malloc(json.len + 1);
    if (text == NULL) return -1;
    if (json.len > 0) memcpy(text, json.ptr, json.len);
    text[json.len] = '\0';
    char *at = strstr(text, pattern);
    if (at == NULL) {
        free(text);
        return 0;
    }
    at += strlen(pattern);
    while (*at == ' ' || *at == '\t' || *at == '\n' || *at == '\r') at++;
    if (*at != ':') {
        free(text);
        return -1;
    }
    at++;
    char *end = NULL;
    long long value = strtoll(at, &end, 10);
    int ok = end != at && (*end == ',' || *end == '}' || *end == ' ' || *end == '\n' || *end == '\r' || *end == '\t');
    free(text);
    if (!ok) return -1;
    *out = value;
    return 1;
}

static void emit(void *arg);

/* Called with p->lock held. */
static void arm_timer(c_provider *p) {
    p->timer = p->host->schedule(p->host->ctx, p->interval_ns, emit, p);
}

/* Timer callback, on a host thread: one deterministic quote per subscribed symbol. */
static void emit(void *arg) {
    c_provider *p = arg;
    pthread_mutex_lock(&p->lock);
    if (!p->running) {
        pthread_mutex_unlock(&p->lock);
        return;
    }
    size_t count = p->symbol_count;
    if (count > 0) {
        mh_quote quotes[MAX_SYMBOLS];
        int64_t now = p->host->now_ns(p->host->ctx);
        for (size_t i = 0; i < count; i++) {
            int64_t seq = ++p->sequence;
            double bid = 100.0 + (double)(seq % 100) * 0.01;
            memset(&quotes[i], 0, sizeof quotes[i]);
            quotes[i].struct_size = sizeof(mh_quote);
            quotes[i].symbol.ptr = p->symbols[i];
            quotes[i].symbol.len = strlen(p->symbols[i]);
            quotes[i].ts_ns = now;
            quotes[i].bid_price = bid;
            quotes[i].ask_price = bid + 0.05;
            quotes[i].bid_size = 10;
            quotes[i].ask_size = 12;
            quotes[i].bid_exchange = 1;
            quotes[i].ask_exchange = 2;
            quotes[i].sequence = seq;
        }
        p->sink->on_quotes(p->sink->ctx, quotes, count);
    }
    arm_timer(p);
    pthread_mutex_unlock(&p->lock);
}

static mh_status provider_create(const mh_host_api *host, mh_str config, const mh_provider_sink *sink,
                                 void **out, mh_errbuf err) {
    if (host == NULL || sink == NULL || out == NULL) {
        write_error(err, "create needs a host table, a sink and an output pointer");
        return MH_INVALID;
    }
    if (!MH_HAS_FIELD(host, mh_host_api, cancel) || host->schedule == NULL || host->now_ns == NULL) {
        write_error(err, "this host does not offer timers, which c-provider needs");
        return MH_UNSUPPORTED;
    }
    long long interval_ms = 100;
    int found = json_int(config, "intervalMs", &interval_ms);
    if (found < 0 || (found == 1 && interval_ms <= 0)) {
        write_error(err, "intervalMs must be a positive integer (milliseconds between quote batches)");
        return MH_INVALID;
    }
    c_provider *p = calloc(1, sizeof *p);
    if (p == NULL) {
        write_error(err, "out of memory");
        return MH_INTERNAL;
    }
    p->host = host;
    p->sink = sink;
    p->interval_ns = (int64_t)interval_ms * 1000000;
    pthread_mutex_init(&p->lock, NULL);
    *out = p;
    return MH_OK;
}

static mh_status provider_start(void *instance, mh_errbuf err) {
    (void)err;
    c_provider *p = instance;
    pthread_mutex_lock(&p->lock);
    if (!p->running) {
        p->running = 1;
        arm_timer(p);
    }
    pthread_mutex_unlock(&p->lock);
    log_info(p, "c-provider started");
    return MH_OK;
}

static void provider_stop(void *instance) {
    c_provider *p = instance;
    pthread_mutex_lock(&p->lock);
    if (p->running) {
        p->running = 0;
        p->host->cancel(p->host->ctx, p->timer);
        mh_stream_state state;
        memset(&state, 0, sizeof state);
        state.struct_size = sizeof state;
        state.state = MH_STREAM_STOPPED;
        state.retry_after_ms = -1;
        p->sink->on_state(p->sink->ctx, &state);
    }
    pthread_mutex_unlock(&p->lock);
}

static void provider_destroy(void *instance) {
    c_provider *p = instance;
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static mh_health_state provider_health(void *instance, mh_errbuf detail) {
    c_provider *p = instance;
    pthread_mutex_lock(&p->lock);
    int running = p->running;
    size_t count = p->symbol_count;
    pthread_mutex_unlock(&p->lock);
    char text[96];
    snprintf(text, sizeof text, "%s, %zu symbols", running ? "streaming" : "stopped", count);
    write_error(detail, text);
    return running ? MH_HEALTH_OK : MH_HEALTH_DOWN;
}

static mh_status provider_request(void *instance, const mh_request *request, mh_done_fn done, void *done_ctx) {
    c_provider *p = instance;
    if (request == NULL || done == NULL) return MH_INVALID;
    if (request->kind != MH_REQUEST_LAST_TRADE) return MH_UNSUPPORTED;
    mh_result result;
    memset(&result, 0, sizeof result);
    result.struct_size = sizeof result;
    result.retry_after_ms = -1;
    if (request->ticker.len == 0 || request->ticker.len > MAX_SYMBOL_LEN) {
        static const char message[] = "ticker must be 1 to 64 bytes";
        result.status = MH_INVALID;
        result.message.ptr = message;
        result.message.len = sizeof message - 1;
        done(done_ctx, &result);
        return MH_OK;
    }
    mh_trade trade;
    memset(&trade, 0, sizeof trade);
    trade.struct_size = sizeof trade;
    trade.symbol = request->ticker;
    trade.ts_ns = p->host->now_ns(p->host->ctx);
    trade.price = 101.25;
    trade.size = 10;
    trade.exchange = 4;
    trade.condition_count = 1;
    trade.conditions[0] = 12;
    trade.sequence = 1;
    result.status = MH_OK;
    result.trades = &trade;
    result.trade_count = 1;
    done(done_ctx, &result);
    return MH_OK;
}

static int find_symbol(c_provider *p, mh_str symbol) {
    for (size_t i = 0; i < p->symbol_count; i++) {
        if (strlen(p->symbols[i]) == symbol.len && memcmp(p->symbols[i], symbol.ptr, symbol.len) == 0) return (int)i;
    }
    return -1;
}

static mh_status provider_subscribe(void *instance, const mh_str *symbols, size_t count, mh_channels channels,
                                    mh_errbuf err) {
    c_provider *p = instance;
    if ((channels & MH_CHANNEL_QUOTES) == 0) return MH_OK; /* this example only streams quotes */
    for (size_t i = 0; i < count; i++) {
        if (symbols[i].len == 0 || symbols[i].len > MAX_SYMBOL_LEN) {
            write_error(err, "symbols must be 1 to 64 bytes");
            return MH_INVALID;
        }
    }
    pthread_mutex_lock(&p->lock);
    mh_status status = MH_OK;
    for (size_t i = 0; i < count; i++) {
        if (find_symbol(p, symbols[i]) >= 0) continue;
        if (p->symbol_count == MAX_SYMBOLS) {
            write_error(err, "c-provider streams at most 64 symbols");
            status = MH_LIMIT_EXCEEDED;
            break;
        }
        memcpy(p->symbols[p->symbol_count], symbols[i].ptr, symbols[i].len);
        p->symbols[p->symbol_count][symbols[i].len] = '\0';
        p->symbol_count++;
    }
    pthread_mutex_unlock(&p->lock);
    return status;
}

static mh_status provider_unsubscribe(void *instance, const mh_str *symbols, size_t count, mh_channels channels,
                                      mh_errbuf err) {
    (void)err;
    c_provider *p = instance;
    if ((channels & MH_CHANNEL_QUOTES) == 0) return MH_OK;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < count; i++) {
        int index = find_symbol(p, symbols[i]);
        if (index < 0) continue;
        memmove(p->symbols[index], p->symbols[index + 1], (p->symbol_count - (size_t)index - 1) * sizeof p->symbols[0]);
        p->symbol_count--;
    }
    pthread_mutex_unlock(&p->lock);
    return MH_OK;
}

static const mh_provider_vtable vtable = {
    .struct_size = sizeof(mh_provider_vtable),
    .create = provider_create,
    .start = provider_start,
    .stop = provider_stop,
    .destroy = provider_destroy,
    .health = provider_health,
    .request = provider_request,
    .subscribe = provider_subscribe,
    .unsubscribe = provider_unsubscribe,
    .get_extension = NULL,
};

static const mh_plugin descriptor = {
    .struct_size = sizeof(mh_plugin),
    .abi_major = MH_ABI_MAJOR,
    .abi_minor = MH_ABI_MINOR,
    .kind = MH_KIND_PROVIDER,
    .id = "example.c-provider",
    .version = "1.0.0",
    .toolchain = "c",
    .description = "Example provider in plain C: deterministic quotes, last-trade look-up",
    .vtable = &vtable,
};

MH_EXPORT const mh_plugin *markethub_plugin_entry_v1(uint16_t host_abi_major, uint16_t host_abi_minor) {
    (void)host_abi_minor;
    return host_abi_major == MH_ABI_MAJOR ? &descriptor : NULL;
}
