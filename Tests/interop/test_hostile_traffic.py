"""Hostile traffic against a running `markethub serve`: random bytes, oversized frames, invalid JSON, unknown
events, wrong argument types, packet floods and long-polling abuse. Each attack must end in a clean error or a
disconnect; afterwards /health answers and a well-behaved python-socketio client, subscribed the whole time,
keeps receiving quotes."""

import json
import os
import random
import socket
import threading
import time

import pytest
import requests
import socketio
import websocket

from markethub_host import MarketHub

MAX_PAYLOAD = 65_536


@pytest.fixture(scope="module")
def hub():
    instance = MarketHub(transport={"maxPayload": MAX_PAYLOAD, "eventsPerSecond": 20, "eventBurst": 40,
                                    "maxBodyBytes": 65_536})
    yield instance
    code = instance.stop()
    assert code == 0, instance.output()[-4000:]


class Watcher:
    """A normal client subscribed to SPY throughout; counts the quotes it receives."""

    def __init__(self, url):
        self.client = socketio.Client(reconnection=False)
        self.quotes = 0
        self.lock = threading.Lock()

        @self.client.on("live:quote")
        def on_quote(_payload):
            with self.lock:
                self.quotes += 1

        self.client.connect(url, transports=["websocket"], wait_timeout=10)
        assert self.client.call("live:subscribe", {"symbol": "SPY"}, timeout=10)["ok"] is True

    def count(self):
        with self.lock:
            return self.quotes

    def still_receiving(self, seconds=20):
        start = self.count()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.count() > start:
                return True
            time.sleep(0.1)
        return False


@pytest.fixture(scope="module")
def watcher(hub):
    instance = Watcher(hub.url)
    assert instance.still_receiving(), "the watcher got no quotes before any attack:\n" + hub.output()[-2000:]
    yield instance
    instance.client.disconnect()


@pytest.fixture(autouse=True)
def unaffected(hub, watcher):
    yield
    assert hub.process.poll() is None, "markethub died:\n" + hub.output()[-4000:]
    assert hub.healthy(), "/health is not ok after the attack"
    assert watcher.client.connected, "the well-behaved client was disconnected"
    assert watcher.still_receiving(), "the well-behaved client stopped receiving quotes"


def ws_url(hub):
    return f"ws://127.0.0.1:{hub.port}/socket.io/?EIO=4&transport=websocket"


def open_socket(hub):
    """A raw Engine.IO WebSocket with the Socket.IO namespace connected."""
    conn = websocket.create_connection(ws_url(hub), timeout=10)
    assert conn.recv().startswith("0{")
    conn.send("40")
    assert conn.recv().startswith("40")
    return conn


def closed_within(conn, seconds=10):
    """True when the server closes the WebSocket (pings may still arrive before that)."""
    conn.settimeout(seconds)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            opcode, _ = conn.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return True
    except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
        return True
    except websocket.WebSocketTimeoutException:
        return False
    return False


def test_random_bytes_on_the_tcp_port_get_a_clean_close(hub):
    generator = random.Random(11)
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as raw:
            raw.sendall(bytes(generator.getrandbits(8) for _ in range(generator.randint(1, 4096))))
            raw.shutdown(socket.SHUT_WR)
            answer = b""
            while True:
                chunk = raw.recv(65_536)
                if not chunk:
                    break
                answer += chunk
            assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer[:200]


def test_random_websocket_frames_close_the_connection(hub):
    generator = random.Random(12)
    for index in range(10):
        conn = open_socket(hub)
        payload = bytes(generator.getrandbits(8) for _ in range(generator.randint(1, 2048)))
        if index % 2:
            conn.send_binary(payload)
        else:
            conn.send("9" + payload.hex())
        assert closed_within(conn), "a garbage frame did not close the connection"
        conn.close()


def test_a_frame_above_max_payload_closes_the_connection(hub):
    conn = open_socket(hub)
    conn.send('42["live:subscribe","' + "A" * (MAX_PAYLOAD * 2) + '"]')
    assert closed_within(conn)
    conn.close()


def test_invalid_json_closes_the_connection(hub):
    for text in ['42["live:subscribe",{bad', "42[", '42{"a":1}', "42[1,2]", '42["x"]trailing', "4" + "[" * 5000]:
        conn = open_socket(hub)
        conn.send(text)
        assert closed_within(conn), f"{text[:40]!r} did not close the connection"
        conn.close()


def test_unknown_events_get_an_error_ack_and_the_connection_stays(hub):
    conn = open_socket(hub)
    conn.send('421["no:such:event",{"x":1}]')
    reply = next_message(conn, "431")
    assert json.loads(reply[3:])[0]["error"] == "unknown_event"
    conn.send('42["no:such:event"]')
    conn.send('422["live:subscribe",{"symbol":"QQQ"}]')
    assert json.loads(next_message(conn, "432")[3:])[0] == {"ok": True, "symbol": "QQQ"}
    conn.close()


def next_message(conn, prefix, seconds=15):
    conn.settimeout(seconds)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = conn.recv()
        if message == "2":
            conn.send("3")
            continue
        if isinstance(message, str) and message.startswith(prefix):
            return message
    raise AssertionError(f"no message starting with {prefix!r}")


WRONG_ARGUMENTS = [1, 1.5, True, None, [], ["SPY"], {}, {"symbol": 5}, {"symbol": None}, {"symbol": ["SPY"]},
                   {"symbol": {"nested": "SPY"}}, {"symbol": ""}, {"symbol": "x" * 10_000}, {"symbol": "O:SPY\u0000"},
                   "not a ticker!", "../../etc/passwd"]


def test_wrong_argument_types_for_live_subscribe_get_error_acks(hub):
    client = socketio.Client(reconnection=False)
    client.connect(hub.url, transports=["websocket"], wait_timeout=10)
    try:
        for argument in WRONG_ARGUMENTS:
            ack = client.call("live:subscribe", argument, timeout=10)
            assert isinstance(ack, dict) and ack["ok"] is False, (argument, ack)
            assert ack["error"] in ("invalid_request", "invalid_symbol"), (argument, ack)
            time.sleep(0.06)
        ack = client.call("live:unsubscribe", 42, timeout=10)
        assert isinstance(ack, dict)
        assert client.call("live:subscribe", {"symbol": "SPY"}, timeout=10) == {"ok": True, "symbol": "SPY"}
    finally:
        client.disconnect()


def test_wrong_argument_types_for_chart_focus_get_error_acks(hub):
    client = socketio.Client(reconnection=False)
    client.connect(hub.url, transports=["websocket"], wait_timeout=10)
    try:
        for argument in WRONG_ARGUMENTS + [{"symbol": "SPY", "timeframe": 5}, {"symbol": "SPY", "timeframe": "7x"},
                                           {"symbol": "SPY", "timeframe": "5m", "sessionMode": ["x"]}]:
            ack = client.call("chart:focus", argument, timeout=10)
            assert isinstance(ack, dict) and ack["ok"] is False, (argument, ack)
            assert isinstance(ack.get("error"), str) and isinstance(ack.get("message"), str), (argument, ack)
            time.sleep(0.06)
    finally:
        client.disconnect()


def test_a_packet_flood_is_rate_limited_and_the_flooder_can_continue(hub):
    conn = open_socket(hub)
    for index in range(2_000):
        conn.send(f'42{index}["live:subscribe",{{"symbol":"SPY"}}]')
    refused = 0
    answered = 0
    conn.settimeout(15)
    while answered + refused < 2_000:
        message = conn.recv()
        if message == "2":
            conn.send("3")
        elif message.startswith("43"):
            if "rate_limited" in message:
                refused += 1
            else:
                answered += 1
    assert refused > 1_000 and answered >= 20, (refused, answered)
    time.sleep(2.5)
    conn.send('429999["live:subscribe",{"symbol":"SPY"}]')
    assert '"ok":true' in next_message(conn, "439999")
    conn.close()


def polling_handshake(hub):
    response = requests.get(f"{hub.url}/socket.io/", params={"EIO": "4", "transport": "polling"}, timeout=10)
    assert response.status_code == 200 and response.text.startswith("0{")
    return json.loads(response.text[1:])["sid"]


def polling_url(hub, sid):
    return f"{hub.url}/socket.io/?EIO=4&transport=polling&sid={sid}"


def test_two_concurrent_polling_gets_end_the_session(hub):
    sid = polling_handshake(hub)
    assert requests.post(polling_url(hub, sid), data="40", timeout=10).status_code == 200
    first = requests.get(polling_url(hub, sid), timeout=10)
    assert first.status_code == 200 and first.text.startswith("40")
    results = {}

    def long_poll():
        results["first"] = requests.get(polling_url(hub, sid), timeout=60)

    thread = threading.Thread(target=long_poll)
    thread.start()
    time.sleep(0.5)
    second = requests.get(polling_url(hub, sid), timeout=10)
    thread.join(30)
    assert second.status_code == 400
    assert results["first"].status_code == 200 and "1" in results["first"].text.split("\x1e")
    assert requests.get(polling_url(hub, sid), timeout=10).status_code == 400, "the session must be gone"


def test_bad_sids_and_versions_get_400(hub):
    for params in [{"EIO": "4", "transport": "polling", "sid": "nope"},
                   {"EIO": "4", "transport": "polling", "sid": "x" * 5_000},
                   {"EIO": "3", "transport": "polling"}, {"EIO": "4", "transport": "carrier-pigeon"},
                   {"EIO": "abc", "transport": "polling"}]:
        response = requests.get(f"{hub.url}/socket.io/", params=params, timeout=10)
        assert response.status_code == 400, (params, response.status_code)
        assert requests.post(f"{hub.url}/socket.io/", params=params, data="40", timeout=10).status_code == 400


def test_garbage_polling_bodies_get_400_and_end_the_session(hub):
    generator = random.Random(13)
    bodies = [b"", b"\x1e\x1e", b"9", b"bnot-base64!", b"4" + b"[" * 3000, b"40\x1e42[", b"\xff\xfe\x00",
              bytes(generator.getrandbits(8) for _ in range(1000))]
    for body in bodies:
        sid = polling_handshake(hub)
        response = requests.post(polling_url(hub, sid), data=body, timeout=10)
        assert response.status_code == 400, (body[:20], response.status_code)
        assert requests.get(polling_url(hub, sid), timeout=10).status_code == 400


def test_a_polling_body_above_max_payload_gets_413(hub):
    sid = polling_handshake(hub)
    response = requests.post(polling_url(hub, sid), data=b"4" + b"x" * (MAX_PAYLOAD * 2), timeout=30)
    assert response.status_code == 413


def test_rest_bodies_above_the_limit_get_413(hub):
    response = requests.post(hub.url + "/api/market/aggs/warm", data=b"{" + b" " * 200_000 + b"}",
                             headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 413
    assert response.json()["error"]


def test_many_idle_connections_that_never_connect_a_namespace_are_harmless(hub):
    sockets = []
    try:
        for _ in range(50):
            conn = websocket.create_connection(ws_url(hub), timeout=10)
            assert conn.recv().startswith("0{")
            sockets.append(conn)
        for conn in sockets[:25]:
            conn.send("4" + "0" * 100)
    finally:
        for conn in sockets:
            conn.close()
