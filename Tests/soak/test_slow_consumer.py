"""A client that stops reading its socket: the server keeps its memory bounded (quotes conflate, the queue is
capped), disconnects it as a slow consumer once it stays behind for the configured grace, and keeps serving the
other clients. The whole product (`markethub serve`) with the recorded provider and a raw WebSocket client."""

import threading
import time

import pytest
import socketio

from harness import Product, rss_kib
from slow_client import StalledClient, option_tickers

GRACE_MS = 1_000


@pytest.fixture(scope="module")
def product():
    provider = {
        "source": "synthetic", "underlyings": ["SPY", "QQQ"], "seed": 5, "window": "09:30-10:30", "speed": 5,
        "startAt": "open", "loop": True,
    }
    cache = {"plugin": "MemoryCache", "config": {}}
    # Pings far apart, so a disconnect within the test can only be the slow-consumer rule.
    transport = {
        "maxQueuedMessages": 64, "slowClientGrace": GRACE_MS, "metricsInterval": 250, "pingInterval": 60_000,
        "pingTimeout": 60_000,
    }
    instance = Product(provider, cache, transport=transport)
    yield instance
    code = instance.stop()
    assert code == 0, instance.output()[-3000:]


def wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_a_client_that_stops_reading_is_disconnected_and_memory_stays_bounded(product):
    healthy = socketio.Client(reconnection=False)
    quotes = []
    healthy.on("live:quote", lambda payload: quotes.append(time.monotonic()))
    healthy.connect(product.url, transports=["websocket"], wait_timeout=10)
    try:
        assert healthy.call("live:subscribe", {"symbol": "SPY"}, timeout=10)["ok"]
        assert wait_for(lambda: len(quotes) > 0, 20), "no quotes for the healthy client"
        symbols = ["SPY", "QQQ"] + option_tickers(product.url, "SPY", 120) + option_tickers(product.url, "QQQ", 60)
        assert len(symbols) > 100, f"the chain listed too few contracts: {len(symbols)}"
        # Memory before the slow client, after the option chains have been built and cached.
        time.sleep(2)
        before = rss_kib(product.pid)
        disconnects = product.metric("socketio_slow_consumer_disconnects_total")
        conflated = product.metric("socketio_messages_conflated_total")
        peak = [before]
        sampling = threading.Event()

        def sample():
            while not sampling.is_set():
                value = rss_kib(product.pid)
                if value:
                    peak[0] = max(peak[0], value)
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        slow = StalledClient(product.port, symbols)
        try:
            assert wait_for(lambda: product.metric("markethub_clients") == 2, 10)
            cut = wait_for(lambda: product.metric("socketio_slow_consumer_disconnects_total") > disconnects, 45)
            elapsed = time.monotonic() - slow.stalled_at
            sampling.set()
            sampler.join()
            assert cut, "the client that stopped reading was not disconnected as a slow consumer within 45 s"
            # Not before it had stayed behind for the grace period (it needs a backlog first, then the grace).
            assert elapsed * 1000 >= GRACE_MS, f"disconnected after {elapsed:.2f} s, before the grace"
            assert slow.drain_until_closed(30), "the server did not close the slow client's connection"
        finally:
            slow.close()
        assert product.metric("socketio_messages_conflated_total") > conflated, "quotes were not conflated"
        growth_mib = (peak[0] - before) / 1024
        print(f"slow consumer: disconnected after {elapsed:.2f} s; RSS {before / 1024:.1f} MiB -> peak "
              f"{peak[0] / 1024:.1f} MiB (+{growth_mib:.1f})")
        assert growth_mib < 64, f"server memory grew {growth_mib:.1f} MiB while a client did not read"
        # The other client is still served.
        assert wait_for(lambda: product.metric("markethub_clients") == 1, 10)
        count = len(quotes)
        assert wait_for(lambda: len(quotes) > count, 10), "the healthy client stopped receiving quotes"
        assert healthy.connected
    finally:
        healthy.disconnect()
