/*
 * A configurable test plugin for the loader's error paths, compiled by the tests with -D switches:
 *   FIXTURE_ID, FIXTURE_KIND, FIXTURE_ABI_MAJOR, FIXTURE_TOOLCHAIN  — descriptor fields
 *   FIXTURE_NO_ENTRY   — export a differently named function instead of the entry point
 *   FIXTURE_REFUSE     — the entry point returns NULL
 *   FIXTURE_SHORT_VTABLE — the vtable claims to be smaller than ABI 1.0 requires
 *   FIXTURE_CACHE_SILENT / FIXTURE_CACHE_TWICE — misbehaving completions (see below)
 * It implements a transport that accepts everything and does nothing, and a cache that completes every
 * operation with MH_UNAVAILABLE, so it can also stand in a running host's slots.
 */
#include "markethub_plugin.h"

#include <stdlib.h>

#ifndef FIXTURE_ID
#define FIXTURE_ID "test.fixture"
#endif
#ifndef FIXTURE_KIND
#define FIXTURE_KIND MH_KIND_TRANSPORT
#endif
#ifndef FIXTURE_ABI_MAJOR
#define FIXTURE_ABI_MAJOR MH_ABI_MAJOR
#endif
#ifndef FIXTURE_TOOLCHAIN
#define FIXTURE_TOOLCHAIN "c"
#endif

static int instance_token;

static mh_status t_create(const mh_host_api *h, mh_str c, const mh_transport_host *cb, void **out, mh_errbuf e) {
    (void)h; (void)c; (void)cb; (void)e;
    *out = &instance_token;
    return MH_OK;
}
static mh_status ok_start(void *i, mh_errbuf e) { (void)i; (void)e; return MH_OK; }
static void noop(void *i) { (void)i; }
static mh_health_state health(void *i, mh_errbuf d) { (void)i; (void)d; return MH_HEALTH_OK; }
static mh_status t_publish(void *i, mh_str r, mh_str ev, mh_bytes p, mh_str k) { (void)i; (void)r; (void)ev; (void)p; (void)k; return MH_OK; }
static mh_status t_send(void *i, uint64_t c, mh_str ev, mh_bytes p) { (void)i; (void)c; (void)ev; (void)p; return MH_OK; }
static mh_status t_room(void *i, uint64_t c, mh_str r) { (void)i; (void)c; (void)r; return MH_OK; }
static mh_status t_ack(void *i, uint64_t a, mh_bytes p) { (void)i; (void)a; (void)p; return MH_OK; }
static mh_status t_respond(void *i, uint64_t r, const mh_http_response *p) { (void)i; (void)r; (void)p; return MH_OK; }

static const mh_transport_vtable transport_vtable = {
#ifdef FIXTURE_SHORT_VTABLE
    .struct_size = 8,
#else
    .struct_size = sizeof(mh_transport_vtable),
#endif
    .create = t_create, .start = ok_start, .stop = noop, .destroy = noop, .health = health,
    .publish = t_publish, .send = t_send, .join = t_room, .leave = t_room, .disconnect = t_room,
    .ack = t_ack, .respond = t_respond, .get_extension = NULL,
};

static mh_status c_create(const mh_host_api *h, mh_str c, void **out, mh_errbuf e) {
    (void)h; (void)c; (void)e;
    *out = &instance_token;
    return MH_OK;
}
/* FIXTURE_CACHE_SILENT: accept operations and never complete them (the host must time out).
 * FIXTURE_CACHE_TWICE: complete every operation twice (the host must ignore the second call). */
static void unavailable(mh_done_fn done, void *ctx) {
    mh_result r = {0};
    r.struct_size = sizeof r;
    r.status = MH_UNAVAILABLE;
    r.retry_after_ms = -1;
#ifdef FIXTURE_CACHE_SILENT
    (void)done; (void)ctx; (void)r;
    return;
#else
    done(ctx, &r);
#ifdef FIXTURE_CACHE_TWICE
    done(ctx, &r);
#endif
#endif
}
static mh_status c_put_bars(void *i, const mh_bar *b, size_t n, mh_done_fn d, void *x) { (void)i; (void)b; (void)n; unavailable(d, x); return MH_OK; }
static mh_status c_get_bars(void *i, const mh_bar_query *q, mh_done_fn d, void *x) { (void)i; (void)q; unavailable(d, x); return MH_OK; }
static mh_status c_put_chain(void *i, mh_str u, mh_str e, mh_bytes j, mh_done_fn d, void *x) { (void)i; (void)u; (void)e; (void)j; unavailable(d, x); return MH_OK; }
static mh_status c_get_chain(void *i, mh_str u, mh_str e, int64_t a, mh_done_fn d, void *x) { (void)i; (void)u; (void)e; (void)a; unavailable(d, x); return MH_OK; }
static mh_status c_put_quotes(void *i, const mh_last_quote *q, size_t n, mh_done_fn d, void *x) { (void)i; (void)q; (void)n; unavailable(d, x); return MH_OK; }
static mh_status c_get_quotes(void *i, const mh_str *s, size_t n, mh_done_fn d, void *x) { (void)i; (void)s; (void)n; unavailable(d, x); return MH_OK; }
static mh_status c_put_sel(void *i, mh_str k, mh_bytes j, mh_done_fn d, void *x) { (void)i; (void)k; (void)j; unavailable(d, x); return MH_OK; }
static mh_status c_get_sel(void *i, mh_str k, mh_done_fn d, void *x) { (void)i; (void)k; unavailable(d, x); return MH_OK; }

static const mh_cache_vtable cache_vtable = {
    .struct_size = sizeof(mh_cache_vtable),
    .create = c_create, .start = ok_start, .stop = noop, .destroy = noop, .health = health,
    .put_bars = c_put_bars, .get_bars = c_get_bars, .put_chain = c_put_chain, .get_chain = c_get_chain,
    .put_last_quotes = c_put_quotes, .get_last_quotes = c_get_quotes, .put_selection = c_put_sel,
    .get_selection = c_get_sel, .get_extension = NULL,
};

__attribute__((unused)) static const mh_plugin descriptor = {
    .struct_size = sizeof(mh_plugin),
    .abi_major = FIXTURE_ABI_MAJOR,
    .abi_minor = MH_ABI_MINOR,
    .kind = FIXTURE_KIND,
    .id = FIXTURE_ID,
    .version = "0.0.1",
    .toolchain = FIXTURE_TOOLCHAIN,
    .description = "loader test fixture",
    .vtable = FIXTURE_KIND == MH_KIND_CACHE ? (const void *)&cache_vtable : (const void *)&transport_vtable,
};

#ifdef FIXTURE_NO_ENTRY
MH_EXPORT const mh_plugin *some_other_function(uint16_t major, uint16_t minor) {
#else
MH_EXPORT const mh_plugin *markethub_plugin_entry_v1(uint16_t major, uint16_t minor) {
#endif
    (void)major; (void)minor;
#ifdef FIXTURE_REFUSE
    return NULL;
#else
    return &descriptor;
#endif
}
