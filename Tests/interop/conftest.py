"""Fixtures that run the Swift conformance server binary on a free loopback port."""

import os
import signal
import socket
import subprocess
import threading
import time

import pytest
import socketio

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get(
    "SIO_SERVER_BIN", os.path.join(ROOT, ".build", "debug", "socketio-conformance-server")
)


def wait_for(predicate, timeout=5.0, interval=0.02):
    """Polls `predicate` until it holds or `timeout` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def quote_client(url, transports=("websocket",), **options):
    """A python-socketio client that keeps every `live:quote` it receives as (monotonic time, payload).
    Returns (client, received, arrived); `arrived` is set by the first quote."""
    client = socketio.Client(reconnection=False, **options)
    received = []
    arrived = threading.Event()

    @client.on("live:quote")
    def on_quote(payload):
        received.append((time.monotonic(), payload))
        arrived.set()

    client.connect(url, transports=list(transports), wait_timeout=10)
    return client, received, arrived


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """One conformance server process; restartable on the same port."""

    def __init__(self, port, extra_args=()):
        self.port = port
        self.extra_args = list(extra_args)
        self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        if not os.path.exists(BINARY):
            raise RuntimeError(f"conformance server not built: {BINARY}")
        self.process = subprocess.Popen(
            [BINARY, "--port", str(self.port), *self.extra_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if line.startswith("listening on"):
                return
            if line == "" and self.process.poll() is not None:
                break
        self.stop()
        raise RuntimeError("conformance server did not start")

    def pause(self):
        self.process.send_signal(signal.SIGSTOP)

    def resume(self):
        self.process.send_signal(signal.SIGCONT)

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        self.process = None

    def alive(self):
        return self.process is not None and self.process.poll() is None


@pytest.fixture
def server():
    process = ServerProcess(free_port())
    process.start()
    yield process
    assert process.alive(), "the server must survive every test"
    process.stop()


@pytest.fixture
def token_server():
    process = ServerProcess(free_port(), ["--token", "s3cret"])
    process.start()
    yield process
    assert process.alive()
    process.stop()
