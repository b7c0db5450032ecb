"""The whole product end to end: `markethub serve` with the recorded provider (a synthetic session), the
embedded SQLite cache and the Socket.IO transport, driven by python-socketio clients and plain HTTP."""

import threading
import time

import pytest
import requests
import socketio

from conftest import quote_client, wait_for
from markethub_host import MARKETHUB, MarketHub


def Host():
    return MarketHub(
        provider={"plugin": "RecordedProvider",
                  "config": {"source": "synthetic", "underlyings": ["SPY"], "seed": 3, "window": "09:30-10:00",
                             "speed": 20, "loop": True}},
        prefix="markethub-e2e-", healthy_statuses=(200,))


@pytest.fixture(scope="module")
def host():
    instance = Host()
    yield instance
    code = instance.stop()
    assert code == 0, instance.output()


def test_health_reports_every_plugin(host):
    body = requests.get(host.url + "/health", timeout=5).json()
    assert body["status"] in ("ok", "degraded")
    assert [plugin["id"] for plugin in body["plugins"]] == [
        "markethub.embedded-cache",
        "markethub.recorded-provider",
        "markethub.socketio-transport",
    ]


def test_daily_bars_come_through_the_transport(host):
    response = requests.get(host.url + "/api/market/aggs", params={"ticker": "SPY"}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["timespan"] == "day" and body["resultGranularity"] == "1/day"
    assert len(body["bars"]) > 200
    again = requests.get(host.url + "/api/market/aggs", params={"ticker": "SPY"}, timeout=30).json()
    assert again["source"] == "cache"


def test_bad_parameters_are_json_errors(host):
    response = requests.get(host.url + "/api/market/aggs", params={"ticker": "SPY", "timespan": "fortnight"}, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    missing = requests.get(host.url + "/api/market/nothing", timeout=5)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_live_quotes_reach_a_python_socketio_client(host):
    client, quotes, arrived = quote_client(host.url)
    try:
        ack = client.call("live:subscribe", {"symbol": "SPY"}, timeout=10)
        assert ack == {"ok": True, "symbol": "SPY"}
        assert arrived.wait(20), "no live:quote within 20 s:\n" + host.output()[-2000:]
        quote = quotes[-1][1]
        assert quote["symbol"] == "SPY"
        assert quote["bid"] > 0 and quote["ask"] >= quote["bid"] * 0.99
        assert quote["freshness"] in ("live", "frozen", "stale")
    finally:
        client.disconnect()


def test_two_clients_share_one_upstream_subscription(host):
    subscribes = host.metric("markethub_upstream_subscribes_total")
    unsubscribes = host.metric("markethub_upstream_unsubscribes_total")
    first, _, _ = quote_client(host.url)
    second, _, _ = quote_client(host.url)
    try:
        assert first.call("live:subscribe", {"symbol": "SPY"}, timeout=10) == {"ok": True, "symbol": "SPY"}
        assert second.call("live:subscribe", {"symbol": "SPY"}, timeout=10) == {"ok": True, "symbol": "SPY"}
        assert host.metric("markethub_upstream_subscribes_total") == subscribes + 1
        first.disconnect()
        time.sleep(0.5)
        assert host.metric("markethub_upstream_unsubscribes_total") == unsubscribes, "second client still wants SPY"
    finally:
        second.disconnect()
    assert wait_for(lambda: host.metric("markethub_upstream_unsubscribes_total") == unsubscribes + 1)


def test_invalid_symbol_gets_live_error(host):
    client = socketio.Client(reconnection=False)
    errors = []
    got = threading.Event()

    @client.on("live:error")
    def on_error(payload):
        errors.append(payload)
        got.set()

    client.connect(host.url, transports=["polling"], wait_timeout=10)
    try:
        ack = client.call("live:subscribe", {"symbol": "not a ticker!"}, timeout=10)
        assert ack["ok"] is False and ack["error"] == "invalid_symbol"
        assert got.wait(5)
        assert errors[0]["code"] == "invalid_symbol"
    finally:
        client.disconnect()


def connect_chart(url):
    client = socketio.Client(reconnection=False)
    received = {"chart:snapshot": [], "chart:update": [], "chart:error": []}
    events = {name: threading.Event() for name in received}

    def recorder(name):
        def record(payload):
            received[name].append(payload)
            events[name].set()

        return record

    for name in received:
        client.on(name, recorder(name))
    client.connect(url, transports=["websocket"], wait_timeout=10)
    return client, received, events


def test_chart_focus_gets_a_snapshot_then_updates(host):
    client, received, events = connect_chart(host.url)
    try:
        ack = client.call("chart:focus", {"symbol": "SPY", "timeframe": "1m", "sessionMode": "regular"}, timeout=30)
        assert ack == {"ok": True, "symbol": "SPY", "timeframe": "1m", "streaming": True}
        assert events["chart:snapshot"].wait(10), host.output()[-2000:]
        snapshot = received["chart:snapshot"][0]
        assert snapshot["symbol"] == "SPY" and snapshot["resultTicker"] == "SPY"
        assert snapshot["timeframe"] == "1m" and snapshot["resultGranularity"] == "1/minute"
        assert snapshot["streaming"] is True and snapshot["health"] in ("ok", "degraded")
        assert isinstance(snapshot["bars"], list) and "marketStatus" in snapshot
        for bar in snapshot["bars"]:
            assert set(bar) == {"t", "o", "h", "l", "c", "v", "vw", "n"}
            assert bar["l"] <= bar["o"] <= bar["h"] and bar["l"] <= bar["c"] <= bar["h"]
            assert bar["t"] % 60000 == 0
        # chart:update contents are checked deterministically in Tests/HostTests/ChartHubTests.swift; here the
        # replay at speed 20 does not stream reliably enough (see the branch report) to wait for one.
        daily = client.call("chart:focus", {"symbol": "SPY", "timeframe": "1D"}, timeout=30)
        assert daily == {"ok": True, "symbol": "SPY", "timeframe": "1D", "streaming": False}
        assert wait_for(lambda: any(s["timeframe"] == "1D" for s in received["chart:snapshot"]), 10)
        bad = client.call("chart:focus", {"symbol": "SPY", "timeframe": "7m"}, timeout=10)
        assert bad["ok"] is False and bad["error"] == "invalid_request"
        assert wait_for(lambda: received["chart:error"], 5)
    finally:
        client.disconnect()


def test_two_chart_clients_share_one_upstream_subscription(host):
    subscribes = host.metric("markethub_chart_upstream_subscribes_total")
    unsubscribes = host.metric("markethub_chart_upstream_unsubscribes_total")
    first, _, _ = connect_chart(host.url)
    second, _, _ = connect_chart(host.url)
    try:
        for client in (first, second):
            ack = client.call("chart:focus", {"symbol": "SPY", "timeframe": "5m"}, timeout=30)
            assert ack["ok"] is True and ack["streaming"] is True
        assert host.metric("markethub_chart_upstream_subscribes_total") == subscribes + 1
        assert first.call("chart:unfocus", timeout=10) == {"ok": True}
        time.sleep(0.5)
        assert host.metric("markethub_chart_upstream_unsubscribes_total") == unsubscribes, "second still focuses"
    finally:
        first.disconnect()
        second.disconnect()
    assert wait_for(lambda: host.metric("markethub_chart_upstream_unsubscribes_total") == unsubscribes + 1)
