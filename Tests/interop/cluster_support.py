"""Processes for the cluster tests: a real redis-server, an nx-27017 MongoDB server, `markethub serve` hosts
configured with a `cluster:` section, and a TCP round-robin balancer."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading

import requests

from conftest import ROOT, free_port, wait_for

MARKETHUB = os.environ.get("MARKETHUB_BIN", os.path.join(ROOT, ".build", "debug", "markethub"))


class RedisServer:
    """redis-server on a free loopback port without persistence; restartable on the same port."""

    def __init__(self):
        self.binary = os.environ.get("MARKETHUB_REDIS_SERVER") or shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.access(self.binary, os.X_OK):
            raise RuntimeError(
                "redis-server is not installed: run scripts/install-deps.sh (Debian package redis-server) "
                "or set MARKETHUB_REDIS_SERVER"
            )
        self.port = free_port()
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

        def answers():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                    probe.sendall(b"PING\r\n")
                    return probe.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        if not wait_for(answers, 10):
            self.kill()
            raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


class MongoServer:
    """nx-27017 (scripts/setup-test-peers.sh installs it) on a free loopback port, in memory."""

    def __init__(self):
        venv = os.environ.get("MARKETHUB_NX27017") or os.path.join(ROOT, ".venv-test-peers")
        self.binary = os.path.join(venv, "bin", "nx-27017")
        if not os.access(self.binary, os.X_OK):
            raise RuntimeError(f"nx-27017 is not installed at {self.binary}: run scripts/setup-test-peers.sh")
        self.python = os.path.join(venv, "bin", "python")
        self.port = free_port()
        self.process = None

    @property
    def uri(self):
        return f"mongodb://127.0.0.1:{self.port}"

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "--host", "127.0.0.1", "--port", str(self.port), "--db", "memory"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

        def listening():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False

        if not wait_for(listening, 20):
            self.kill()
            raise RuntimeError(f"nx-27017 did not start on port {self.port}")

    def query(self, script):
        """Runs a pymongo snippet (with `db` bound) in the nx-27017 environment; returns its stdout."""
        program = (
            "import json, pymongo\n"
            f"db = pymongo.MongoClient('{self.uri}', serverSelectionTimeoutMS=5000)['markethub']\n" + script
        )
        return subprocess.run([self.python, "-c", program], check=True, capture_output=True, text=True,
                              timeout=60).stdout

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


class ClusterHost:
    """One `markethub serve` with the recorded provider and a `cluster:` section."""

    def __init__(self, name, redis_url, prefix, cache=None, underlyings=("SPY", "QQQ"), speed=20, clustered=True):
        self.name = name
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix=f"markethub-cluster-{name}-")
        os.chmod(self.directory, 0o755)
        cache = cache or f"plugin: EmbeddedCache\n  config: {{ path: {self.directory}/cache.sqlite }}"
        self.config = os.path.join(self.directory, "config.yaml")
        with open(self.config, "w") as handle:
            handle.write(
                f"""
host: {{ logLevel: info }}
provider:
  plugin: RecordedProvider
  config: {{ source: synthetic, underlyings: [{", ".join(underlyings)}], seed: 3, window: "09:30-10:00", speed: {speed}, loop: true }}
cache:
  {cache}
transports:
  - plugin: SocketIOTransport
    config: {{ host: 127.0.0.1, port: {self.port} }}
"""
            )
            if clustered:
                handle.write(
                    f"""cluster:
  redisUrl: {redis_url}
  instanceId: {name}
  keyPrefix: {prefix}
  leaseTtlMs: 2000
  leaseRenewMs: 500
  demandTtlMs: 3000
"""
            )
        self.log = open(os.path.join(self.directory, "serve.log"), "w+")
        self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.process = subprocess.Popen(
            [MARKETHUB, "serve", "--config", self.config], stdout=self.log, stderr=subprocess.STDOUT,
            cwd=self.directory,
        )
        ready = wait_for(self._answers, 90, 0.2)
        assert ready, f"{self.name} did not start:\n" + self.output()

    def _answers(self):
        assert self.process.poll() is None, self.output()
        try:
            return requests.get(self.url + "/health", timeout=2).status_code in (200, 503)
        except requests.RequestException:
            return False

    def output(self):
        self.log.flush()
        with open(self.log.name) as handle:
            return handle.read()

    def health(self):
        return requests.get(self.url + "/health", timeout=5).json()

    def cluster(self):
        return self.health()["cluster"]

    def upstream(self):
        return {entry["symbol"] for entry in self.cluster()["upstream"]}

    def ingesting(self):
        try:
            return self.cluster()["role"] == "ingesting"
        except (requests.RequestException, KeyError, ValueError):
            return False

    def metric(self, name):
        text = requests.get(self.url + "/metrics", timeout=5).text
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
        return float(match.group(1)) if match else 0.0

    def kill(self):
        """SIGKILL: the host dies without releasing its lease (as a crashed machine would)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        return self.process.returncode if self.process is not None else 0


class RoundRobinBalancer:
    """A TCP load balancer that sends each new connection to the next backend in turn (no stickiness)."""

    def __init__(self, backends):
        self.backends = backends
        self.next = 0
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.chosen = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            backend = self.backends[self.next % len(self.backends)]
            self.next += 1
            self.chosen.append(backend)
            try:
                upstream = socket.create_connection(("127.0.0.1", backend), timeout=5)
            except OSError:
                client.close()
                continue
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source, target):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.closed = True
        self.listener.close()
