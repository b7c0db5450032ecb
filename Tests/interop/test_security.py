"""Security end to end against `markethub serve`:
- the vendor API key (a canary value) never appears in any HTTP response, Socket.IO frame, log line, metric or
  recording, including error paths (a key the vendor refuses);
- with a transport token: REST answers 401 without it, Socket.IO CONNECT gets CONNECT_ERROR, /health stays
  open, and static files are public only when `webRoot` is configured;
- CORS answers only allowlisted origins;
- the client limit (transport `maxClients`) and the per-client subscription limit
  (`host.live.maxSubscriptionsPerClient`) hold."""

import json
import os
import subprocess
import time

import pytest
import requests
import socketio
import websocket

from conftest import ROOT, free_port
from markethub_host import MarketHub, log_directory

FAKE = os.environ.get("FAKE_MASSIVE_BIN", os.path.join(ROOT, ".build", "debug", "fake-massive"))
CANARY = "mh-secret-canary-security-4c2e91d7"


class FakeMassive:
    def __init__(self, keys):
        self.port = free_port()
        self.directory = log_directory("markethub-fake-")
        self.log = open(os.path.join(self.directory, "fake-massive.log"), "w+")
        self.process = subprocess.Popen(
            [FAKE, "--port", str(self.port), "--underlyings", "SPY", "--seed", "5", "--keys", keys,
             "--speed", "20", "--window", "09:30-10:30"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while "fake-massive listening" not in self.output():
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, "fake-massive did not start:\n" + self.output()
            time.sleep(0.2)

    def output(self):
        self.log.flush()
        with open(self.log.name) as handle:
            return handle.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log.close()


def massive_hub(fake, key, record_to=None):
    config = {"restURL": f"http://127.0.0.1:{fake.port}", "wsURL": f"ws://127.0.0.1:{fake.port}"}
    if record_to:
        config["recordTo"] = record_to
    hub = MarketHub(provider={"plugin": "MassiveProvider", "config": config},
                    environment={"MASSIVE_API_KEY": key})
    return hub


class Capture:
    """Everything the product sent us, kept to be scanned and saved into the test log directory."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "captured-responses.txt")
        self.handle = open(self.path, "w")

    def add(self, what, text):
        self.handle.write(f"== {what}\n{text}\n")
        self.handle.flush()

    def text(self):
        with open(self.path) as handle:
            return handle.read()


def exercise(hub, capture):
    """REST endpoints (good and bad requests), /metrics, /health, and a Socket.IO session's raw frames."""
    paths = ["/health", "/metrics", "/api/market/aggs?ticker=SPY", "/api/market/aggs?ticker=SPY&timespan=minute",
             "/api/market/quotes/SPY", "/api/market/trades/SPY", "/api/market/options/expirations/SPY",
             "/api/market/options/chain/SPY?strikes=2", "/api/market/watchlist?tickers=SPY,NOPE,bad!",
             "/api/market/options/contracts/O:SPY251219C00600000", "/api/market/aggs?ticker=UNKNOWNX",
             "/api/market/aggs?ticker=SPY&apiKey=client-supplied"]
    for path in paths:
        response = hub.get(path, timeout=60)
        capture.add(f"GET {path} -> {response.status_code} {dict(response.headers)}", response.text)
    conn = websocket.create_connection(f"ws://127.0.0.1:{hub.port}/socket.io/?EIO=4&transport=websocket", timeout=10)
    conn.send("40")
    for index, symbol in enumerate(["SPY", "O:SPY251219C00600000", "NOPE", "bad!"]):
        conn.send(f'42{index}["live:subscribe",{{"symbol":"{symbol}"}}]')
    conn.send('429["chart:focus",{"symbol":"SPY","timeframe":"1m"}]')
    deadline = time.monotonic() + 8
    conn.settimeout(1)
    while time.monotonic() < deadline:
        try:
            message = conn.recv()
        except websocket.WebSocketTimeoutException:
            continue
        if message == "2":
            conn.send("3")
        capture.add("socket frame", message if isinstance(message, str) else repr(message))
    conn.close()
    capture.add("metrics after", hub.get("/metrics").text)


def test_the_vendor_key_never_leaves_the_provider(tmp_path):
    fake = FakeMassive(CANARY)
    recording = os.path.join(log_directory("markethub-recording-"), "session.jsonl")
    hub = massive_hub(fake, CANARY, record_to=recording)
    capture = Capture(hub.directory)
    try:
        exercise(hub, capture)
    finally:
        code = hub.stop()
        fake.stop()
    assert code == 0, hub.output()[-3000:]
    assert "/api/market/aggs?ticker=SPY" in capture.text() and "socket frame" in capture.text()
    assert CANARY not in capture.text(), "the key reached an HTTP response, a metric or a socket frame"
    assert CANARY not in hub.output(), "the key reached the host's log"
    assert os.path.getsize(recording) > 0
    with open(recording, "rb") as handle:
        assert CANARY.encode() not in handle.read(), "the key reached the recording"


def test_a_refused_key_is_not_echoed_either():
    fake = FakeMassive("some-other-key")
    hub = massive_hub(fake, CANARY)
    capture = Capture(hub.directory)
    try:
        exercise(hub, capture)
    finally:
        hub.stop()
        fake.stop()
    assert "401" in capture.text() or "502" in capture.text() or "unauthorized" in capture.text().lower()
    assert CANARY not in capture.text()
    assert CANARY not in hub.output()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    web = tmp_path_factory.mktemp("web")
    (web / "index.html").write_text("<html>MarketHub</html>")
    os.chmod(web, 0o755)
    hub = MarketHub(transport={"token": "t0ken-abc", "corsOrigins": ["https://app.example"], "webRoot": str(web),
                               "maxClients": 5}, host={"live": {"maxSubscriptionsPerClient": 1}})
    yield hub
    assert hub.stop() == 0, hub.output()[-3000:]


def test_rest_needs_the_bearer_token_and_health_stays_open(guarded):
    assert guarded.get("/health").status_code == 200
    for path in ["/api/market/aggs?ticker=SPY", "/api/market/watchlist?tickers=SPY", "/metrics"]:
        bare = guarded.get(path)
        wrong = guarded.get(path, headers={"Authorization": "Bearer nope"})
        assert bare.status_code == 401, (path, bare.status_code)
        assert bare.json()["error"] and wrong.status_code == 401
    good = guarded.get("/api/market/watchlist?tickers=SPY", headers={"Authorization": "Bearer t0ken-abc"},
                       timeout=60)
    assert good.status_code == 200


def test_socketio_connect_needs_the_token(guarded):
    with pytest.raises(socketio.exceptions.ConnectionError):
        socketio.Client(reconnection=False).connect(guarded.url, transports=["polling"], wait_timeout=10)
    with pytest.raises(socketio.exceptions.ConnectionError):
        socketio.Client(reconnection=False).connect(guarded.url, transports=["polling"], auth={"token": "wrong"},
                                                    wait_timeout=10)
    client = socketio.Client(reconnection=False)
    client.connect(guarded.url, transports=["polling"], auth={"token": "t0ken-abc"}, wait_timeout=10)
    try:
        assert client.call("live:subscribe", {"symbol": "SPY"}, timeout=10)["ok"] is True
        client.call("live:unsubscribe", {"symbol": "SPY"}, timeout=10)
    finally:
        client.disconnect()
    url = f"ws://127.0.0.1:{guarded.port}/socket.io/?EIO=4&transport=websocket"
    # The CORS allowlist also guards WebSocket upgrades: a page from another origin cannot open one.
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(url, timeout=10, origin="https://evil.example")
    raw = websocket.create_connection(url, timeout=10, origin="https://app.example")
    raw.recv()
    raw.send('40{"token":"nope"}')
    reply = raw.recv()
    assert reply.startswith("44") and "message" in json.loads(reply[2:])
    raw.close()


def test_static_files_are_public_only_because_a_web_root_is_configured(guarded):
    page = guarded.get("/")
    assert page.status_code == 200 and "MarketHub" in page.text
    assert guarded.get("/../../etc/passwd").status_code in (400, 404)
    plain = MarketHub()
    try:
        assert plain.get("/").status_code == 404, "without webRoot nothing is served at /"
        assert plain.get("/index.html").status_code == 404
    finally:
        plain.stop()


def test_cors_answers_only_allowlisted_origins(guarded):
    allowed = requests.options(guarded.url + "/api/market/aggs", timeout=5, headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "GET"})
    assert allowed.headers.get("Access-Control-Allow-Origin") == "https://app.example"
    other = requests.options(guarded.url + "/api/market/aggs", timeout=5, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in other.headers
    response = guarded.get("/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_client_and_room_limits(guarded):
    clients = []
    try:
        refused = 0
        for _ in range(8):
            response = requests.get(f"{guarded.url}/socket.io/", params={"EIO": "4", "transport": "polling"},
                                    timeout=10)
            if response.status_code == 503:
                refused += 1
            else:
                assert response.status_code == 200
                clients.append(json.loads(response.text[1:])["sid"])
        assert len(clients) <= 5 and refused >= 3
    finally:
        for sid in clients:
            requests.post(f"{guarded.url}/socket.io/?EIO=4&transport=polling&sid={sid}", data="1", timeout=10)
    time.sleep(0.5)
    client = socketio.Client(reconnection=False)
    client.connect(guarded.url, transports=["polling"], auth={"token": "t0ken-abc"}, wait_timeout=10)
    try:
        # Both symbols exist in the synthetic session, so neither is released by an upstream refusal.
        assert client.call("live:subscribe", {"symbol": "SPY"}, timeout=10) == {"ok": True, "symbol": "SPY"}
        answer = client.call("live:subscribe", {"symbol": "QQQ"}, timeout=10)
        assert answer["ok"] is False and answer["error"] == "limit_exceeded", answer
    finally:
        client.disconnect()
