"""The product end to end with the vendor provider: `fake-massive` (the fake vendor) and `markethub serve` with
MassiveProvider pointed at it by YAML alone, the key from MASSIVE_API_KEY. The same checks as the recorded
provider's end-to-end test: daily bars over HTTP and live quotes to a python-socketio client."""

import os
import signal
import subprocess
import threading

import pytest
import requests
import socketio

from conftest import ROOT, free_port, quote_client, wait_for
from markethub_host import MarketHub, log_directory

FAKE = os.environ.get("FAKE_MASSIVE_BIN", os.path.join(ROOT, ".build", "debug", "fake-massive"))
KEY = "mh-secret-canary-e2e-5b1f0c9d7a"


class Stack:
    """fake-massive on a free port, then `markethub serve` with MassiveProvider pointed at it."""

    def __init__(self):
        self.directory = log_directory("markethub-massive-e2e-")
        os.chmod(self.directory, 0o755)
        self.fake_port = free_port()
        self.fake_log = open(os.path.join(self.directory, "fake.log"), "w+")
        self.fake = subprocess.Popen(
            [FAKE, "--port", str(self.fake_port), "--underlyings", "SPY", "--seed", "3", "--keys", KEY,
             "--speed", "20", "--window", "09:30-10:30"],
            stdout=self.fake_log, stderr=subprocess.STDOUT,
        )
        assert wait_for(self._fake_listening, 120, 0.2), "fake-massive did not start:\n" + self.fake_output()
        self.hub = MarketHub(
            provider={"plugin": "MassiveProvider",
                      "config": {"restURL": f"http://127.0.0.1:{self.fake_port}",
                                 "wsURL": f"ws://127.0.0.1:{self.fake_port}"}},
            environment={"MASSIVE_API_KEY": KEY}, directory=self.directory, healthy_statuses=(200,))

    def _fake_listening(self):
        assert self.fake.poll() is None, self.fake_output()
        return "fake-massive listening" in self.fake_output()

    @property
    def url(self):
        return self.hub.url

    def output(self):
        return self.hub.output()

    def fake_output(self):
        self.fake_log.flush()
        with open(self.fake_log.name) as handle:
            return handle.read()

    def stop(self):
        code = self.hub.stop()
        if self.fake.poll() is None:
            self.fake.send_signal(signal.SIGTERM)
            self.fake.wait(timeout=30)
        return code


@pytest.fixture(scope="module")
def stack():
    instance = Stack()
    yield instance
    code = instance.stop()
    assert code == 0, instance.output()
    assert KEY not in instance.output(), "the key reached the host's log"


def test_health_names_the_massive_provider(stack):
    body = requests.get(stack.url + "/health", timeout=5).json()
    assert "markethub.massive-provider" in [plugin["id"] for plugin in body["plugins"]]


def test_daily_bars_come_from_the_fake_vendor(stack):
    response = requests.get(stack.url + "/api/market/aggs", params={"ticker": "SPY"}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["timespan"] == "day"
    assert len(body["bars"]) > 200, body
    again = requests.get(stack.url + "/api/market/aggs", params={"ticker": "SPY"}, timeout=30).json()
    assert again["source"] == "cache"


def test_live_quotes_reach_a_python_socketio_client(stack):
    client, quotes, arrived = quote_client(stack.url)
    try:
        ack = client.call("live:subscribe", {"symbol": "SPY"}, timeout=10)
        assert ack == {"ok": True, "symbol": "SPY"}
        assert arrived.wait(30), "no live:quote within 30 s:\n" + stack.output()[-2000:]
        quote = quotes[-1][1]
        assert quote["symbol"] == "SPY" and quote["bid"] > 0
    finally:
        client.disconnect()
    metrics = requests.get(stack.url + "/metrics", timeout=5).text
    assert "markethub_massive_rest_requests_total" in metrics
    assert KEY not in metrics


def test_chain_and_contract_come_from_the_fake_vendor(stack):
    expirations = requests.get(stack.url + "/api/market/options/expirations/SPY", timeout=60)
    assert expirations.status_code == 200, expirations.text
    dates = expirations.json()["expirations"]
    assert dates and all(entry["daysToExpiry"] >= 0 for entry in dates)
    response = requests.get(stack.url + "/api/market/options/chain/SPY", params={"strikes": 2}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["underlying"] == "SPY" and body["underlyingPrice"] > 0
    (group,) = body["expirations"]
    assert group["expiration"] == dates[0]["date"]
    rows = group["strikes"]
    strikes = [row["strike"] for row in rows]
    assert len(strikes) == 5 and strikes == sorted(strikes)
    assert strikes[2] == min(strikes, key=lambda strike: abs(strike - body["underlyingPrice"]))
    call, put = rows[2]["call"], rows[2]["put"]
    # The fake sends the vendor's snapshot fields: quotes, volatility and Greeks from the provider.
    assert call["bid"] > 0 and call["ask"] >= call["bid"] and put["bid"] > 0
    assert call["greeksSource"] == "provider" and 0.2 < call["delta"] < 0.8 and -0.8 < put["delta"] < -0.2
    contract = requests.get(stack.url + f"/api/market/options/contracts/{call['ticker']}", timeout=60)
    assert contract.status_code == 200, contract.text
    assert contract.json()["underlying"] == "SPY" and contract.json()["strike"] == call["strike"]
    watch = requests.get(stack.url + "/api/market/watchlist", params={"tickers": "SPY"}, timeout=60).json()
    assert watch["items"][0]["ticker"] == "SPY" and watch["items"][0]["last"] > 0


def test_chart_focus_streams_bars_from_the_fake_vendor(stack):
    client = socketio.Client(reconnection=False)
    snapshots, updates = [], []
    got_snapshot = threading.Event()

    @client.on("chart:snapshot")
    def on_snapshot(payload):
        snapshots.append(payload)
        got_snapshot.set()

    @client.on("chart:update")
    def on_update(payload):
        updates.append(payload)

    client.connect(stack.url, transports=["websocket"], wait_timeout=10)
    try:
        ack = client.call("chart:focus", {"symbol": "SPY", "timeframe": "1m", "sessionMode": "regular"}, timeout=60)
        assert ack == {"ok": True, "symbol": "SPY", "timeframe": "1m", "streaming": True}
        assert got_snapshot.wait(30), stack.output()[-2000:]
        snapshot = snapshots[0]
        assert snapshot["symbol"] == "SPY" and snapshot["resultGranularity"] == "1/minute"
        assert snapshot["bars"], "the fake vendor's minute bars reach the chart"
        for bar in snapshot["bars"]:
            assert bar["l"] <= min(bar["o"], bar["c"]) and max(bar["o"], bar["c"]) <= bar["h"]
        # The fake streams its session at 20x: a minute bar every 3 s, folded live by the chart hub.
        assert wait_for(lambda: any(item["bars"] for item in updates), 30), (
            "no chart:update with bars within 30 s:\n" + stack.output()[-2000:])
        update = next(item for item in updates if item["bars"])
        assert update["symbol"] == "SPY" and update["timeframe"] == "1m"
        for bar in update["bars"]:
            assert bar["t"] % 60000 == 0 and bar["l"] <= min(bar["o"], bar["c"]) <= bar["h"]
    finally:
        client.disconnect()
