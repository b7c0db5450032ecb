"""Other clients' quote latency without and with clients that stop reading, in one run of the whole product.

N python-socketio clients subscribe to the stocks; phase 1 (baseline) measures their quote latency; phase 2
keeps K stalled raw WebSocket clients (subscribed to the stocks and ~150 option contracts, never reading)
connected for the whole phase, replacing each one the server disconnects as a slow consumer. The transport uses
its default limits (maxQueuedMessages 1024, slowClientGrace 5 s).

Latency is measured on the receipt side: the replay runs at speed 1, so receipt time minus the quote's
`timestamp` is delivery delay plus a constant (the replay's offset from the wall clock); the constant is taken
out as the smallest value seen in the run. Prints p50/p99/max per phase; with --check exits 1 when phase 2's p99
is more than 20 % above the baseline's.
"""

import argparse
import asyncio
import math
import threading
import time

import socketio

from harness import Product, rss_kib
from slow_client import StalledClient, option_tickers


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))] if ordered else float("nan")


class Phase:
    def __init__(self):
        self.name = "warm-up"


async def measuring_client(url, phase, samples, stop):
    client = socketio.AsyncClient(reconnection=False)

    def on_quote(payload):
        ts = payload.get("timestamp") if isinstance(payload, dict) else None
        if isinstance(ts, (int, float)) and payload.get("freshness") != "stale" and phase.name != "warm-up":
            samples.setdefault(phase.name, []).append(time.time() * 1000 - ts)

    client.on("live:quote", on_quote)
    await client.connect(url, transports=["websocket"], wait_timeout=15)
    for symbol in ("SPY", "QQQ", "AAPL"):
        await client.call("live:subscribe", {"symbol": symbol}, timeout=15)
    await stop.wait()
    await client.disconnect()


def keep_stalled(port, symbols, count, stop, counters):
    """Keeps `count` stalled clients connected until `stop`; a closed one is replaced."""
    clients = []
    while not stop.is_set():
        for client in list(clients):
            client.sock.setblocking(False)
            try:
                closed = client.sock.recv(1, 0x02) == b""  # MSG_PEEK: EOF means the server closed it
            except BlockingIOError:
                closed = False
            except OSError:
                closed = True
            if closed:
                client.close()
                clients.remove(client)
                counters["replaced"] += 1
        while len(clients) < count and not stop.is_set():
            clients.append(StalledClient(port, symbols))
            counters["started"] += 1
        stop.wait(0.5)
    for client in clients:
        client.close()


async def run(args):
    provider = {
        "source": "synthetic", "underlyings": ["SPY", "QQQ", "AAPL"], "seed": 9, "window": "09:30-11:30",
        "speed": 1, "startAt": "open", "loop": True,
    }
    product = Product(provider, {"plugin": "MemoryCache", "config": {}}, transport={"metricsInterval": 1000})
    try:
        symbols = ["SPY", "QQQ", "AAPL"] + option_tickers(product.url, "SPY", 100) + option_tickers(
            product.url, "QQQ", 50)
        phase = Phase()
        samples = {}
        stop = asyncio.Event()
        tasks = [asyncio.create_task(measuring_client(product.url, phase, samples, stop)) for _ in range(args.clients)]
        await asyncio.sleep(args.warmup)
        phase.name = "baseline"
        rss_base = rss_kib(product.pid)
        await asyncio.sleep(args.seconds)
        disconnects = product.metric("socketio_slow_consumer_disconnects_total")
        stalled_stop = threading.Event()
        counters = {"started": 0, "replaced": 0}
        keeper = threading.Thread(
            target=keep_stalled, args=(product.port, symbols, args.slow, stalled_stop, counters), daemon=True)
        phase.name = "with slow clients"
        keeper.start()
        rss_peak = rss_base
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            rss_peak = max(rss_peak, rss_kib(product.pid) or 0)
            await asyncio.sleep(0.5)
        phase.name = "done"
        stalled_stop.set()
        keeper.join()
        await asyncio.sleep(1.5)
        cut = product.metric("socketio_slow_consumer_disconnects_total") - disconnects
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        code = product.stop()
    floor = min(min(values) for values in samples.values() if values)
    print(f"{args.clients} clients x 3 stocks; {args.slow} stalled clients x {len(symbols)} symbols in phase 2; "
          f"{args.seconds} s per phase; latency = receipt - quote timestamp - {floor:.0f} ms (the run's minimum)")
    print(f"{'phase':<20} {'quotes':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    figures = {}
    for name in ("baseline", "with slow clients"):
        values = [value - floor for value in samples.get(name, [])]
        figures[name] = percentile(values, 0.99)
        print(f"{name:<20} {len(values):>8} {percentile(values, 0.5):>8.1f} {figures[name]:>8.1f} "
              f"{max(values) if values else float('nan'):>8.1f}")
    ratio = figures["with slow clients"] / figures["baseline"] if figures["baseline"] > 0 else float("inf")
    print(f"stalled clients started {counters['started']}, disconnected as slow consumers {cut:.0f} "
          f"(replaced {counters['replaced']}); server RSS {rss_base / 1024:.1f} MiB -> peak {rss_peak / 1024:.1f} MiB;"
          f" exit status {code}")
    verdict = "within" if ratio <= 1.2 else "NOT within"
    print(f"p99 with slow clients / baseline p99 = {ratio:.2f} ({verdict} 20 %)")
    return ratio <= 1.2 and code == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--slow", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--check", action="store_true", help="exit 1 when p99 grows more than 20 %%")
    args = parser.parse_args()
    ok = asyncio.run(run(args))
    if args.check and not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
