"""Interop: python-socketio's client against the Swift server, over websocket and over polling."""

import queue
import threading
import time

import pytest
import requests
import socketio

from conftest import wait_for

TRANSPORTS = [["websocket"], ["polling"]]


class Recorder:
    """A client plus queues of what it received."""

    def __init__(self, reconnection=False, **kwargs):
        self.client = socketio.Client(reconnection=reconnection, logger=False, engineio_logger=False, **kwargs)
        self.events = queue.Queue()
        self.connects = 0
        self.disconnects = []
        self.lock = threading.Lock()

        @self.client.event
        def connect():
            with self.lock:
                self.connects += 1

        @self.client.event
        def disconnect(reason=None):
            with self.lock:
                self.disconnects.append(reason)

        @self.client.on("*")
        def any_event(event, *args):
            self.events.put((event, args))

    def next_event(self, timeout=5.0):
        return self.events.get(timeout=timeout)


@pytest.fixture
def recorders():
    created = []

    def make(**kwargs):
        recorder = Recorder(**kwargs)
        created.append(recorder)
        return recorder

    yield make
    for recorder in created:
        if recorder.client.connected:
            recorder.client.disconnect()


@pytest.mark.parametrize("transports", TRANSPORTS, ids=["websocket", "polling"])
def test_connect_with_auth_events_and_acks(server, recorders, transports):
    recorder = recorders()
    recorder.client.connect(server.url, auth={"token": "abc"}, transports=transports, wait_timeout=5)
    assert recorder.client.transport() == transports[0]
    assert recorder.next_event() == ("auth", ({"token": "abc"},))

    recorder.client.emit("message", ["one", 2, {"three": True}])
    assert recorder.next_event() == ("message-back", (["one", 2, {"three": True}],))

    recorder.client.emit("message", (1, "two"))
    assert recorder.next_event() == ("message-back", (1, "two"))

    assert recorder.client.call("message-with-ack", {"x": [1, 2]}, timeout=5) == {"x": [1, 2]}


@pytest.mark.parametrize("transports", TRANSPORTS, ids=["websocket", "polling"])
def test_binary_events_and_acks(server, recorders, transports):
    recorder = recorders()
    recorder.client.connect(server.url, transports=transports, wait_timeout=5)
    recorder.next_event()
    payload = bytes(range(256))
    recorder.client.emit("message", {"blob": payload, "n": 1})
    assert recorder.next_event() == ("message-back", ({"blob": payload, "n": 1},))
    assert recorder.client.call("message-with-ack", payload, timeout=5) == payload


def test_custom_namespace_and_invalid_namespace(server, recorders):
    recorder = recorders()
    greetings = queue.Queue()
    recorder.client.on("auth", lambda auth: greetings.put(auth), namespace="/custom")
    recorder.client.connect(server.url, namespaces=["/custom"], auth={"k": 1}, transports=["websocket"], wait_timeout=5)
    assert greetings.get(timeout=5) == {"k": 1}
    assert recorder.client.call("message-with-ack", "hi", namespace="/custom", timeout=5) == "hi"

    refused = recorders()
    with pytest.raises(socketio.exceptions.ConnectionError):
        refused.client.connect(server.url, namespaces=["/random"], transports=["websocket"], wait_timeout=3)


def test_upgrade_from_polling_to_websocket(server, recorders):
    recorder = recorders()
    recorder.client.connect(server.url, transports=["polling", "websocket"], wait_timeout=5)
    recorder.next_event()
    assert wait_for(lambda: recorder.client.transport() == "websocket")
    recorder.client.emit("message", "after upgrade")
    assert recorder.next_event() == ("message-back", ("after upgrade",))


@pytest.mark.parametrize("transports", TRANSPORTS, ids=["websocket", "polling"])
def test_rooms_and_publish(server, recorders, transports):
    member = recorders()
    outsider = recorders()
    member.client.connect(server.url, transports=transports, wait_timeout=5)
    outsider.client.connect(server.url, transports=transports, wait_timeout=5)
    member.next_event()
    outsider.next_event()
    assert member.client.call("join", "quotes:AAPL", timeout=5) == "quotes:AAPL"

    count = outsider.client.call(
        "publish", {"room": "quotes:AAPL", "event": "live:quote", "payload": {"bid": 1.25, "ask": 1.5}}, timeout=5
    )
    assert count == 1
    assert member.next_event() == ("live:quote", ({"bid": 1.25, "ask": 1.5},))
    with pytest.raises(queue.Empty):
        outsider.next_event(timeout=0.5)

    member.client.call("leave", "quotes:AAPL", timeout=5)
    assert outsider.client.call("publish", {"room": "quotes:AAPL", "event": "x", "payload": 1}, timeout=5) == 0


@pytest.mark.parametrize("transports", TRANSPORTS, ids=["websocket", "polling"])
def test_server_side_disconnect(server, recorders, transports):
    recorder = recorders(reconnection=True)
    recorder.client.connect(server.url, transports=transports, wait_timeout=5)
    recorder.next_event()
    recorder.client.emit("disconnect-me")
    assert wait_for(lambda: recorder.disconnects)
    assert recorder.disconnects[0] in (None, "io server disconnect", recorder.client.reason.SERVER_DISCONNECT)
    time.sleep(1.0)
    # A server-side disconnect is final: the client must not reconnect on its own.
    assert recorder.connects == 1


@pytest.mark.parametrize("transports", TRANSPORTS, ids=["websocket", "polling"])
def test_heartbeats_keep_an_idle_client_connected(server, recorders, transports):
    recorder = recorders()
    recorder.client.connect(server.url, transports=transports, wait_timeout=5)
    recorder.next_event()
    time.sleep(2.0)  # several 300 ms ping intervals
    assert recorder.client.connected and not recorder.disconnects
    recorder.client.emit("message", "still here")
    assert recorder.next_event() == ("message-back", ("still here",))


@pytest.mark.parametrize("transports", TRANSPORTS, ids=["websocket", "polling"])
def test_heartbeat_timeout_then_reconnect(server, recorders, transports):
    recorder = recorders(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=0.5)
    recorder.client.connect(server.url, transports=transports, wait_timeout=5)
    recorder.next_event()
    server.pause()  # no more pings: the client must declare the connection dead
    try:
        assert wait_for(lambda: recorder.disconnects, timeout=8)
    finally:
        server.resume()
    assert wait_for(lambda: recorder.connects >= 2, timeout=15)
    recorder.client.emit("message", "back")
    event = recorder.next_event()
    while event[0] == "auth":
        event = recorder.next_event()
    assert event == ("message-back", ("back",))


def test_reconnect_after_server_restart(server, recorders):
    recorder = recorders(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=0.5)
    recorder.client.connect(server.url, transports=["websocket"], wait_timeout=5)
    recorder.next_event()
    server.stop()
    assert wait_for(lambda: recorder.disconnects, timeout=5)
    server.start()
    assert wait_for(lambda: recorder.connects >= 2, timeout=15)


def test_token_is_required_in_connect_auth(token_server, recorders):
    refused = recorders()
    with pytest.raises(socketio.exceptions.ConnectionError):
        refused.client.connect(token_server.url, transports=["websocket"], wait_timeout=3)
    accepted = recorders()
    accepted.client.connect(token_server.url, auth={"token": "s3cret"}, transports=["polling"], wait_timeout=5)
    assert accepted.next_event() == ("auth", ({"token": "s3cret"},))


def test_rest_answers_and_missing_token(token_server):
    assert requests.get(f"{token_server.url}/health", timeout=5).status_code == 200
    response = requests.get(f"{token_server.url}/api/market/status", timeout=5)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    authorized = requests.get(
        f"{token_server.url}/api/market/status", headers={"Authorization": "Bearer s3cret"}, timeout=5
    )
    assert authorized.status_code == 404
    assert set(authorized.json()) == {"error", "message"}
