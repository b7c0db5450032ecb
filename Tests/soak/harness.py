"""Shared parts of the soak and slow-consumer runs: the product under test (`markethub serve` with a written
configuration), an nx-27017 MongoDB wire server that can be stopped and restarted, and process memory."""

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MARKETHUB = os.environ.get("MARKETHUB_BIN", os.path.join(ROOT, ".build", "debug", "markethub"))
NX27017 = os.environ.get("MARKETHUB_NX27017", os.path.join(ROOT, ".venv-test-peers"))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_kib(pid):
    """VmRSS of a process in KiB (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class MongoServer:
    """nx-27017 on a fixed loopback port and storage directory, so a restart finds the same data."""

    def __init__(self, directory):
        self.port = free_port()
        self.directory = directory
        self.process = None
        executable = os.path.join(NX27017, "bin", "nx-27017")
        if not os.access(executable, os.X_OK):
            raise RuntimeError(f"nx-27017 is not installed at {executable}: run scripts/setup-test-peers.sh")
        self.executable = executable

    @property
    def uri(self):
        return f"mongodb://127.0.0.1:{self.port}/markethub_soak"

    def start(self):
        log = open(os.path.join(self.directory, "nx.log"), "a")
        self.process = subprocess.Popen(
            [
                self.executable, "--host", "127.0.0.1", "--port", str(self.port),
                "--db", os.path.join(self.directory, "nx.sqlite"),
                "--log-file", os.path.join(self.directory, "nx-server.log"),
                "--pid-file", os.path.join(self.directory, "nx.pid"),
            ],
            stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError("nx-27017 did not start; see " + os.path.join(self.directory, "nx.log"))

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


class Product:
    """`markethub serve` with the recorded provider, a cache and the Socket.IO transport."""

    def __init__(self, provider, cache, transport=None, directory=None, log_level="info"):
        self.port = free_port()
        self.directory = directory or tempfile.mkdtemp(prefix="markethub-soak-")
        os.chmod(self.directory, 0o755)
        self.config = os.path.join(self.directory, "config.yaml")
        transport_config = {"host": "127.0.0.1", "port": self.port}
        transport_config.update(transport or {})
        # JSON is YAML: every section is written as one JSON value.
        with open(self.config, "w") as handle:
            handle.write(f"host: {{ logLevel: {log_level} }}\n")
            handle.write(f"provider: {{ plugin: RecordedProvider, config: {json.dumps(provider)} }}\n")
            handle.write(f"cache: {json.dumps(cache)}\n")
            handle.write(f"transports: [ {{ plugin: SocketIOTransport, config: {json.dumps(transport_config)} }} ]\n")
        self.log_path = os.path.join(self.directory, "serve.log")
        self.log = open(self.log_path, "w+")
        self.process = subprocess.Popen(
            [MARKETHUB, "serve", "--config", self.config], stdout=self.log, stderr=subprocess.STDOUT,
            cwd=self.directory,
        )
        self.started_wall = time.time()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("markethub exited at start:\n" + self.output()[-4000:])
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    self.ready_wall = time.time()
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("markethub did not start:\n" + self.output()[-4000:])

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.process.poll() is None

    def output(self):
        self.log.flush()
        with open(self.log_path, errors="replace") as handle:
            return handle.read()

    def metrics(self):
        text = requests.get(self.url + "/metrics", timeout=5).text
        values = {}
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, _, value = line.rpartition(" ")
            try:
                values[name] = float(value)
            except ValueError:
                pass
        return values

    def metric(self, name):
        return self.metrics().get(name, 0.0)

    def stop(self, timeout=60):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
                return None
        return self.process.returncode


def count_lines(text, pattern):
    return len(re.findall(pattern, text, re.M))
