"""Fault soak of the whole product: `markethub serve` with the recorded provider replaying a synthetic session
under a seeded fault script (upstream stream drops and 429 windows), MongoCache against an nx-27017 server that
the soak stops and restarts (a cache outage), and Socket.IO clients churning (connect, live:subscribe,
chart:focus, disconnect). Prints a summary and exits non-zero when an assertion fails.

Run it through scripts/soak.sh (which builds the product and prepares the virtual environments)."""

import argparse
import asyncio
import json
import logging
import math
import os
import random
import sys
import tempfile
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
import socketio

from harness import MongoServer, Product, count_lines, rss_kib

SYMBOLS = ["SPY", "QQQ", "AAPL"]
TIMEFRAMES = ["1m", "5m", "15m"]
NEW_YORK = ZoneInfo("America/New_York")
# A client's quotes for one symbol that pause longer than this are remembered as a gap (to measure restores).
GAP_SECONDS = 0.5
RESTORE_LIMIT_SECONDS = 2.0


def fault_plan(minutes, seed):
    """The seeded fault script: 2 stream drops per minute, a 429 window every two minutes and one cache outage,
    kept apart so each fault's effect can be told apart. Times are offsets from the replay start (ms)."""
    rng = random.Random(seed)
    duration = minutes * 60_000
    outage_start = int(duration * 0.45)
    outage_length = min(30_000, duration // 8)
    drops = []
    count = 2 * minutes
    # The first drop comes after the clients' ramp-up (they connect during the first 20 s).
    spacing = (duration - 60_000) / count
    for index in range(count):
        at = int(40_000 + index * spacing + rng.uniform(0, spacing * 0.3))
        drops.append({"kind": "stream-drop", "atMs": at, "durationMs": rng.randint(2_000, 5_000)})
    limits = []
    windows = max(1, minutes // 2)
    for index in range(windows):
        at = int((index + 0.3) * duration / windows)
        # Keep 429 windows out of the cache outage (with both, nothing but memory could answer a chart).
        if at + 25_000 > outage_start and at < outage_start + outage_length + 5_000:
            at = max(10_000, outage_start - 40_000) if index == 0 else outage_start + outage_length + 10_000
        limits.append({"kind": "rest-429", "atMs": at, "durationMs": 20_000, "retryAfterMs": 3_000})
    return drops, limits, (outage_start, outage_length)


class Stats:
    def __init__(self):
        self.connects = 0
        self.connect_errors = []
        self.ack_errors = []
        self.sessions = []
        self.snapshots = 0
        self.empty_snapshots = []
        self.nonempty_seen = {}
        self.quotes = 0
        self.server_disconnects = []
        self.offset_ms = None  # min(receipt wall ms - quote timestamp): the replay's wall-clock offset

    def note_offset(self, recv_ms, ts):
        value = recv_ms - ts
        if self.offset_ms is None or value < self.offset_ms:
            self.offset_ms = value


class Session:
    """One connection of one client: what it subscribed to and when its quotes paused."""

    def __init__(self, client, stats):
        self.client = client
        self.stats = stats
        self.connected_at = None
        self.disconnected_at = None
        self.subscribed = {}  # symbol -> wall time the ack arrived
        self.last = {}  # symbol -> wall time of the last quote
        self.gaps = {}  # symbol -> [(previous quote wall, next quote wall, next quote timestamp)]
        self.leaving = False
        self.cut = asyncio.Event()

    def on_disconnect(self, *reason):
        if not self.leaving:
            self.disconnected_at = time.time()
            self.stats.server_disconnects.append(
                f"{time.strftime('%H:%M:%S')} client {self.client} disconnected by the server {reason}")
            self.cut.set()

    def on_quote(self, payload):
        now = time.time()
        stats = self.stats
        stats.quotes += 1
        if not isinstance(payload, dict) or payload.get("freshness") == "stale":
            return
        symbol = payload.get("symbol")
        ts = payload.get("timestamp")
        if isinstance(ts, (int, float)):
            stats.note_offset(now * 1000, ts)
        previous = self.last.get(symbol)
        if previous is not None and now - previous > GAP_SECONDS:
            self.gaps.setdefault(symbol, []).append((previous, now, ts))
        self.last[symbol] = now

    def on_snapshot(self, payload):
        stats = self.stats
        stats.snapshots += 1
        if not isinstance(payload, dict):
            return
        key = (payload.get("symbol"), payload.get("timeframe"))
        bars = payload.get("bars") or []
        if bars:
            stats.nonempty_seen.setdefault(key, time.time())
        elif key in stats.nonempty_seen:
            stats.empty_snapshots.append(
                {"at": time.time(), "key": key, "note": payload.get("note"), "health": payload.get("health"),
                 "source": payload.get("source")})


ENGINEIO_LOG = logging.getLogger("soak.engineio")


async def client_loop(index, url, seed, stats, stop_at):
    rng = random.Random(seed * 1_000 + index)
    await asyncio.sleep(rng.uniform(0, 20))
    while time.monotonic() < stop_at - 3:
        client = socketio.AsyncClient(reconnection=False, engineio_logger=ENGINEIO_LOG)
        session = Session(index, stats)
        client.on("live:quote", session.on_quote)
        client.on("chart:snapshot", session.on_snapshot)
        client.on("disconnect", session.on_disconnect)
        try:
            await client.connect(url, transports=["websocket"], wait_timeout=10)
        except Exception as error:  # noqa: BLE001 - every failure is counted and reported
            stats.connect_errors.append(f"{time.strftime('%H:%M:%S')} client {index}: {error!r}")
            await asyncio.sleep(1 + rng.uniform(0, 1))
            continue
        stats.connects += 1
        stats.sessions.append(session)
        session.connected_at = time.time()
        try:
            for symbol in rng.sample(SYMBOLS, rng.randint(1, len(SYMBOLS))):
                ack = await client.call("live:subscribe", {"symbol": symbol}, timeout=15)
                if isinstance(ack, dict) and ack.get("ok"):
                    session.subscribed[symbol] = time.time()
                else:
                    stats.ack_errors.append(f"client {index} live:subscribe {symbol}: {ack!r}")
            focus = {"symbol": rng.choice(SYMBOLS), "timeframe": rng.choice(TIMEFRAMES)}
            ack = await client.call("chart:focus", focus, timeout=15)
            if not (isinstance(ack, dict) and ack.get("ok")):
                stats.ack_errors.append(f"client {index} chart:focus {focus}: {ack!r}")
            hold = rng.uniform(15, 60)
            try:
                await asyncio.wait_for(session.cut.wait(), max(0.0, min(hold, stop_at - time.monotonic() - 2)))
            except asyncio.TimeoutError:
                pass
        except Exception as error:  # noqa: BLE001
            stats.ack_errors.append(f"{time.strftime('%H:%M:%S')} client {index}: {error!r}")
        if session.disconnected_at is None:
            session.disconnected_at = time.time()
        session.leaving = True
        try:
            await client.disconnect()
        except Exception:  # noqa: BLE001
            pass
        await asyncio.sleep(rng.uniform(0.2, 2.0))


async def poll_health(url, samples, stop_at):
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < stop_at:
            try:
                async with http.get(url + "/health", timeout=aiohttp.ClientTimeout(total=5)) as response:
                    body = await response.json(content_type=None)
                plugins = {entry["slot"]: entry for entry in body.get("plugins", [])}
                # The server's own time of the report: a late answer still counts for when it was true.
                checked = body.get("checkedAt")
                at = checked / 1000 if isinstance(checked, (int, float)) else time.time()
                samples.append((at, body.get("status"), plugins))
            except Exception as error:  # noqa: BLE001
                samples.append((time.time(), f"error: {error!r}", {}))
            await asyncio.sleep(0.5)


async def poll_rest(url, stop_at, errors):
    """Steady REST traffic (what the web client does besides sockets), so look-ups meet the 429 windows."""
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < stop_at:
            for path in ["/api/market/trades/SPY?limit=1000", "/api/market/aggs?ticker=QQQ&timespan=minute"]:
                try:
                    async with http.get(url + path, timeout=aiohttp.ClientTimeout(total=20)) as response:
                        await response.read()
                        if response.status >= 500:
                            errors.append(f"{time.strftime('%H:%M:%S')} {path}: HTTP {response.status}")
                except Exception as error:  # noqa: BLE001
                    errors.append(f"{time.strftime('%H:%M:%S')} {path}: {error!r}")
            await asyncio.sleep(2)


async def watch_loop_lag(lags, stop_at):
    """How late this process's event loop wakes up: client-side delays, not the server's."""
    while time.monotonic() < stop_at:
        before = time.monotonic()
        await asyncio.sleep(0.1)
        lags.append((time.time(), time.monotonic() - before - 0.1))


async def sample_rss(pid, samples, stop_at):
    while time.monotonic() < stop_at:
        value = rss_kib(pid)
        if value is not None:
            samples.append((time.time(), value))
        await asyncio.sleep(1)


async def cache_outage(mongo, start_wall, outage, events):
    start_ms, length_ms = outage
    await asyncio.sleep(max(0.0, start_wall + start_ms / 1000 - time.time()))
    # The server is stopped and started on a thread: the clients' event loop must not pause meanwhile.
    events.append(("cache-stop", time.time()))
    await asyncio.to_thread(mongo.stop)
    await asyncio.sleep(length_ms / 1000)
    await asyncio.to_thread(mongo.start)
    events.append(("cache-start", time.time()))


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def session_origin_ms(first_quote_ms):
    """09:30 New York of the session day a quote belongs to (the replay's offset 0 with startAt: open)."""
    day = datetime.fromtimestamp(first_quote_ms / 1000, NEW_YORK).date()
    return int(datetime(day.year, day.month, day.day, 9, 30, tzinfo=NEW_YORK).timestamp() * 1000)


def analyse(args, product, stats, drops, limits, outage, health, rss, events, rest_errors, replay_start_wall):
    failures = []
    output = product.output()
    # Log lines from the moment the product serves (the replay's first connecting/live lines come before).
    output = output[output.find("markethub serving"):] if "markethub serving" in output else output
    summary = {"minutes": args.minutes, "clients": args.clients, "seed": args.seed}
    summary["faults"] = {"stream-drop": len(drops), "rest-429": len(limits), "cache-outage": 1}

    # Map replay offsets to wall time: quotes carry replay timestamps; the smallest (receipt - timestamp) is the
    # wall time of replay offset 0 less the session origin.
    if stats.offset_ms is None:
        failures.append("no quotes arrived at all")
        return summary, failures
    def wall_of_offset(offset_ms):
        return (args.origin_ms + offset_ms + stats.offset_ms) / 1000

    # 1. Subscriptions restored within 2 s of each upstream recovery.
    restores = []  # first quote after the recovery: receipt - max(recovery, when the replay sent it)
    waits = []  # the same, receipt - recovery (includes the symbol's own quiet spells)
    late = []
    for drop in drops:
        began = wall_of_offset(drop["atMs"])
        recovered = wall_of_offset(drop["atMs"] + drop["durationMs"])
        for session in stats.sessions:
            if session.connected_at is None or session.disconnected_at is None:
                continue
            if session.disconnected_at < recovered + RESTORE_LIMIT_SECONDS:
                continue
            for symbol, since in session.subscribed.items():
                if since > began - 1:
                    continue
                first_after, due = None, recovered
                for previous, following, ts in session.gaps.get(symbol, []):
                    if previous <= recovered + 0.05 and following >= recovered - 0.5:
                        first_after = following
                        if isinstance(ts, (int, float)):
                            due = max(recovered, (ts + stats.offset_ms) / 1000)
                        break
                if first_after is None:
                    # No pause spanning the recovery: quotes arrived at most GAP_SECONDS apart around it.
                    last = session.last.get(symbol)
                    if last is None or last < recovered:
                        late.append((drop["atMs"], session.client, symbol, "no quote after the recovery"))
                        continue
                    first_after = recovered
                restore = max(0.0, first_after - due)
                restores.append(restore)
                waits.append(max(0.0, first_after - recovered))
                if restore > RESTORE_LIMIT_SECONDS:
                    late.append((drop["atMs"], session.client, symbol, f"{restore:.2f} s"))
    summary["restore"] = {
        "checks": len(restores), "max_s": round(max(restores), 3) if restores else None,
        "p99_s": round(percentile(restores, 0.99), 3) if restores else None,
        "p50_s": round(percentile(restores, 0.5), 3) if restores else None,
        "first_quote_after_recovery_max_s": round(max(waits), 3) if waits else None,
        "first_quote_after_recovery_p99_s": round(percentile(waits, 0.99), 3) if waits else None,
    }
    if not restores:
        failures.append("no subscription spanned an upstream recovery: nothing was checked")
    if late:
        failures.append(f"{len(late)} subscriptions not restored within {RESTORE_LIMIT_SECONDS} s: {late[:10]}")

    # 2. No empty chart:snapshot once the cache held bars for that chart.
    summary["chart_snapshots"] = stats.snapshots
    summary["empty_snapshots_after_bars"] = len(stats.empty_snapshots)
    if stats.empty_snapshots:
        failures.append(f"empty chart:snapshot while bars were cached: {stats.empty_snapshots[:5]}")

    # 3. No crash.
    summary["alive_at_end"] = product.alive()
    if not product.alive():
        failures.append("markethub exited during the soak:\n" + output[-3000:])

    # 4. RSS bounded: start is after warm-up (all clients connected), peak over the run, end at the end.
    warm = [value for wall, value in rss if wall >= replay_start_wall + 20]
    if warm:
        start, peak, end = warm[0], max(value for _, value in rss), warm[-1]
        half = [value for wall, value in rss if wall >= replay_start_wall + 20 + (rss[-1][0] - replay_start_wall - 20) / 2]
        summary["rss_mib"] = {
            "start": round(start / 1024, 1), "peak": round(peak / 1024, 1), "end": round(end / 1024, 1),
            "second_half_growth": round((half[-1] - half[0]) / 1024, 1) if half else None,
        }
        bound = max(64 * 1024, start // 2)
        if end - start > bound:
            failures.append(f"RSS grew {(end - start) / 1024:.0f} MiB (bound {bound / 1024:.0f} MiB)")
    else:
        failures.append("no RSS samples after warm-up")

    # 5. Each fault explained once in the logs, and visible in /health while it lasts.
    connecting = count_lines(output, r"provider stream connecting")
    live = count_lines(output, r"provider stream live")
    per_drop = connecting / len(drops) if drops else 0
    summary["log_lines"] = {
        "provider stream connecting": connecting, "provider stream live": live,
        "upstream rate limited look-ups": count_lines(output, r"upstream rate limited look-ups"),
        "upstream look-ups answered again": count_lines(output, r"upstream look-ups answered again"),
        "mongo cache unreachable": count_lines(output, r"mongo cache unreachable"),
        "mongo cache reachable again": count_lines(output, r"mongo cache reachable again"),
        "warning_or_error_lines": count_lines(output, r"\b(warning|error|critical)\b"),
        "total_lines": output.count("\n"),
    }
    if not drops or per_drop != int(per_drop) or per_drop < 1 or per_drop > 3:
        failures.append(f"stream drop log lines: {connecting} 'connecting' for {len(drops)} drops")
    if live < connecting:
        failures.append(f"{connecting} 'provider stream connecting' lines but only {live} 'live'")
    rate_lines = summary["log_lines"]["upstream rate limited look-ups"]
    if not (1 <= rate_lines <= len(limits)):
        failures.append(f"{rate_lines} rate-limit log lines for {len(limits)} windows")
    if summary["log_lines"]["mongo cache unreachable"] != 1 or summary["log_lines"]["mongo cache reachable again"] != 1:
        failures.append(f"cache outage log lines: {summary['log_lines']}")

    def health_during(begin, end, slot, predicate):
        return [sample for sample in health if begin <= sample[0] <= end and slot in sample[2]
                and predicate(sample[2][slot])]

    unseen = []
    for drop in drops:
        begin = wall_of_offset(drop["atMs"]) + 0.3
        end = wall_of_offset(drop["atMs"] + drop["durationMs"]) - 0.3
        if not health_during(begin, end, "provider",
                             lambda entry: entry["status"] != "ok" and "connecting" in entry["detail"]):
            unseen.append(("stream-drop", drop["atMs"]))
    for window in limits:
        begin = wall_of_offset(window["atMs"])
        end = wall_of_offset(window["atMs"] + window["durationMs"])
        if not health_during(begin, end, "provider", lambda entry: "rate limited" in entry["detail"]):
            unseen.append(("rest-429", window["atMs"]))
    stop_wall = next((wall for name, wall in events if name == "cache-stop"), None)
    start_wall = next((wall for name, wall in events if name == "cache-start"), None)
    if stop_wall and start_wall and not health_during(stop_wall, start_wall, "cache",
                                                      lambda entry: entry["status"] != "ok"):
        unseen.append(("cache-outage", outage[0]))
    recovered_cache = start_wall and health_during(start_wall, start_wall + 30, "cache",
                                                   lambda entry: entry["status"] == "ok")
    if start_wall and not recovered_cache:
        failures.append("the cache did not report ok within 30 s of the server's restart")
    summary["faults_not_seen_in_health"] = unseen
    if unseen:
        failures.append(f"faults not visible in /health while they lasted: {unseen}")

    # 6. Client and REST errors.
    summary["connects"] = stats.connects
    summary["connect_errors"] = len(stats.connect_errors)
    summary["ack_errors"] = len(stats.ack_errors)
    summary["rest_errors"] = len(rest_errors)
    summary["server_disconnects"] = len(stats.server_disconnects)
    if stats.server_disconnects:
        failures.append(f"{len(stats.server_disconnects)} clients disconnected by the server: "
                        f"{stats.server_disconnects[:5]}")
    summary["quotes_received"] = stats.quotes
    if stats.connect_errors:
        failures.append(f"{len(stats.connect_errors)} connect errors: {stats.connect_errors[:5]}")
    if stats.ack_errors:
        failures.append(f"{len(stats.ack_errors)} ack errors: {stats.ack_errors[:5]}")
    if rest_errors:
        failures.append(f"{len(rest_errors)} REST errors (5xx or transport): {rest_errors[:5]}")
    return summary, failures


async def run(args):
    directory = tempfile.mkdtemp(prefix="markethub-soak-")
    os.chmod(directory, 0o755)
    handler = logging.FileHandler(os.path.join(directory, "clients.log"))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    ENGINEIO_LOG.addHandler(handler)
    ENGINEIO_LOG.setLevel(logging.WARNING)
    ENGINEIO_LOG.propagate = False
    drops, limits, outage = fault_plan(args.minutes, args.seed)
    mongo = MongoServer(directory)
    mongo.start()
    length = args.minutes + 10
    window_end = f"{9 + (30 + length) // 60:02d}:{(30 + length) % 60:02d}"
    provider = {
        "source": "synthetic", "underlyings": SYMBOLS, "seed": args.seed, "window": f"09:30-{window_end}",
        "speed": 1, "startAt": "open", "loop": False, "faults": drops + limits,
    }
    cache = {"plugin": "MongoCache", "config": {"uri": mongo.uri, "retryIntervalMs": 1000}}
    transport = {"maxClients": 2_000}
    transport.update(json.loads(args.transport))
    product = Product(provider, cache, transport=transport, directory=directory, log_level=args.log_level)
    replay_start_wall = product.ready_wall
    print(f"soak: markethub pid {product.pid} on {product.url}, logs in {directory}", flush=True)
    stats = Stats()
    health, rss, events, rest_errors, lags = [], [], [], [], []
    stop_at = time.monotonic() + args.minutes * 60
    try:
        tasks = [asyncio.create_task(client_loop(i, product.url, args.seed, stats, stop_at)) for i in range(args.clients)]
        tasks += [
            asyncio.create_task(poll_health(product.url, health, stop_at)),
            asyncio.create_task(poll_rest(product.url, stop_at, rest_errors)),
            asyncio.create_task(sample_rss(product.pid, rss, stop_at)),
            asyncio.create_task(watch_loop_lag(lags, stop_at)),
            asyncio.create_task(cache_outage(mongo, replay_start_wall, outage, events)),
        ]
        progress = asyncio.create_task(report_progress(stats, rss, stop_at))
        await asyncio.gather(*tasks)
        progress.cancel()
        # Origin of the replay: 09:30 New York of the session the quotes came from.
        args.origin_ms = session_origin_ms(time.time() * 1000 - (stats.offset_ms or 0))
        summary, failures = analyse(args, product, stats, drops, limits, outage, health, rss, events,
                                    rest_errors, replay_start_wall)
        values = [lag for _, lag in lags]
        summary["driver_loop_lag_s"] = {"p99": round(percentile(values, 0.99), 3), "max": round(max(values), 3)}
        summary["load_average"] = os.getloadavg()
    finally:
        code = product.stop()
        mongo.stop()
    summary["exit_status"] = code
    if code != 0:
        failures.append(f"markethub exited with status {code} on SIGTERM")
    summary["directory"] = directory
    return summary, failures


async def report_progress(stats, rss, stop_at):
    while True:
        await asyncio.sleep(30)
        left = max(0, stop_at - time.monotonic())
        current = rss[-1][1] / 1024 if rss else 0
        print(f"soak: {left:.0f} s left, {stats.connects} connects, {stats.quotes} quotes, RSS {current:.0f} MiB",
              flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", help="also write the summary to this file")
    parser.add_argument("--transport", default="{}", help="extra SocketIOTransport settings (JSON)")
    parser.add_argument("--log-level", default="info", help="markethub's host.logLevel (debug shows why sessions close)")
    args = parser.parse_args()
    summary, failures = asyncio.run(run(args))
    print(json.dumps(summary, indent=2, default=str))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"summary": summary, "failures": failures}, handle, indent=2, default=str)
    if failures:
        print("SOAK FAILED:", file=sys.stderr)
        for failure in failures:
            print(" - " + failure, file=sys.stderr)
        sys.exit(1)
    print("soak passed")


if __name__ == "__main__":
    main()
