"""Other clients' quote latency without and with clients that stop reading, in one run of the whole product.

N python-socketio clients subscribe to the stocks and measure their quote latency. K raw WebSocket clients
subscribe to the stocks and ~150 option contracts: in baseline phases they read everything, in slow phases they
stop reading (each one the server disconnects as a slow consumer is replaced by a new stalled one), so both kinds
of phase carry the same subscriptions and upstream load and differ only in the slow readers. The phases
alternate (baseline, slow, baseline, slow...) so that a drift of the machine's load over the run hits both
alike. The transport uses its default limits (maxQueuedMessages 1024, slowClientGrace 5 s).

Latency is measured on the receipt side: the replay runs at speed 1, so receipt time minus the quote's
`timestamp` is delivery delay plus a constant (the replay's offset from the wall clock); the constant is taken
out as the smallest value seen in the run. Prints p50/p99/max per kind of phase; with --check exits 1 when the
slow phases' p99 is more than 20 % above the baseline phases'.
"""

import argparse
import asyncio
import math
import os
import socket
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


class Heavy:
    """A raw WebSocket client subscribed to many symbols, read by a thread until `stall()`: the same
    subscriptions (and so the same upstream load) in both phases, reading in the first, not in the second."""

    def __init__(self, port, symbols):
        self.client = StalledClient(port, symbols, receive_buffer=1 << 20)
        self.client.sock.settimeout(0.5)
        self.reading = threading.Event()
        self.reading.set()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while self.reading.is_set():
            try:
                if not self.client.sock.recv(1 << 16):
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    def stall(self):
        self.reading.clear()
        self.thread.join()

    def closed_by_server(self):
        self.client.sock.setblocking(False)
        try:
            return self.client.sock.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True


def keep_stalled(port, symbols, heavies, stop, counters):
    """Every heavy client stops reading; one the server disconnects is replaced by a new stalled one."""
    for heavy in heavies:
        heavy.stall()
    while not stop.is_set():
        for index, heavy in enumerate(heavies):
            if heavy.closed_by_server():
                heavy.client.close()
                replacement = Heavy(port, symbols)
                replacement.stall()
                heavies[index] = replacement
                counters["replaced"] += 1
        stop.wait(0.5)


async def run(args):
    provider = {
        "source": "synthetic", "underlyings": ["SPY", "QQQ", "AAPL"], "seed": 9, "window": "09:30-11:30",
        "speed": 1, "startAt": "open", "loop": True,
    }
    # Pings far apart: the raw clients do not answer them, and no client should be cut for that.
    transport = {"metricsInterval": 1000, "pingInterval": 300_000, "pingTimeout": 60_000}
    product = Product(provider, {"plugin": "MemoryCache", "config": {}}, transport=transport)
    counters = {"started": 0, "replaced": 0}
    rss_base = rss_peak = 0
    try:
        symbols = ["SPY", "QQQ", "AAPL"] + option_tickers(product.url, "SPY", 100) + option_tickers(
            product.url, "QQQ", 50)
        phase = Phase()
        samples = {}
        stop = asyncio.Event()
        tasks = [asyncio.create_task(measuring_client(product.url, phase, samples, stop)) for _ in range(args.clients)]
        heavies = []
        disconnects = product.metric("socketio_slow_consumer_disconnects_total")
        # Baseline and slow phases alternate, so a drift of the machine's load over the run hits both alike.
        for round_index in range(args.rounds):
            for heavy in heavies:
                heavy.client.close()
            heavies = [Heavy(product.port, symbols) for _ in range(args.slow)]
            counters["started"] += args.slow
            if round_index == 0:
                await asyncio.sleep(args.warmup)
                rss_base = rss_kib(product.pid) or 0
            phase.name = "baseline"
            await asyncio.sleep(args.seconds)
            stalled_stop = threading.Event()
            keeper = threading.Thread(
                target=keep_stalled, args=(product.port, symbols, heavies, stalled_stop, counters), daemon=True)
            keeper.start()
            phase.name = "with slow clients"
            deadline = time.monotonic() + args.seconds
            while time.monotonic() < deadline:
                rss_peak = max(rss_peak, rss_kib(product.pid) or 0)
                await asyncio.sleep(0.5)
            phase.name = "between"
            stalled_stop.set()
            keeper.join()
        for heavy in heavies:
            heavy.client.close()
        await asyncio.sleep(1.5)
        cut = product.metric("socketio_slow_consumer_disconnects_total") - disconnects
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        code = product.stop()
    floor = min(min(values) for values in samples.values() if values)
    print(f"{args.clients} clients x 3 stocks; {args.slow} raw clients x {len(symbols)} symbols, reading in baseline "
          f"phases, stalled in slow phases; {args.rounds} rounds of {args.seconds} s + {args.seconds} s; "
          f"latency = receipt - quote timestamp - {floor:.0f} ms (the run's minimum)")
    print(f"{'phase':<20} {'quotes':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    figures = {}
    for name in ("baseline", "with slow clients"):
        values = [value - floor for value in samples.get(name, [])]
        figures[name] = percentile(values, 0.99)
        print(f"{name:<20} {len(values):>8} {percentile(values, 0.5):>8.1f} {figures[name]:>8.1f} "
              f"{max(values) if values else float('nan'):>8.1f}")
    ratio = figures["with slow clients"] / figures["baseline"] if figures["baseline"] > 0 else float("inf")
    print(f"stalled clients started {counters['started']} (+{counters['replaced']} replacements), disconnected as "
          f"slow consumers {cut:.0f}; server RSS {rss_base / 1024:.1f} MiB -> peak {rss_peak / 1024:.1f} MiB;"
          f" exit status {code}; load average {os.getloadavg()[0]:.1f}")
    verdict = "within" if ratio <= 1.2 else "NOT within"
    print(f"p99 with slow clients / baseline p99 = {ratio:.2f} ({verdict} 20 %)")
    return ratio <= 1.2 and code == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--slow", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15, help="length of each phase")
    parser.add_argument("--rounds", type=int, default=3, help="baseline/slow phase pairs")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--check", action="store_true", help="exit 1 when p99 grows more than 20 %%")
    args = parser.parse_args()
    ok = asyncio.run(run(args))
    if args.check and not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
