"""A configurable `markethub serve` process for the end-to-end, hostile-traffic and security tests: a provider
(the synthetic recorded one unless given), the embedded cache in the process's directory, the Socket.IO transport
with the given transport config, and `host:` settings. Logs go to MARKETHUB_TEST_LOG_DIR when set
(scripts/scan-secrets.sh scans that directory), else to the process's temporary directory."""

import json
import os
import re
import signal
import subprocess
import tempfile
import time

import requests

from conftest import ROOT, free_port

MARKETHUB = os.environ.get("MARKETHUB_BIN", os.path.join(ROOT, ".build", "debug", "markethub"))


def log_directory(prefix):
    base = os.environ.get("MARKETHUB_TEST_LOG_DIR")
    if base:
        os.makedirs(base, exist_ok=True)
        return tempfile.mkdtemp(prefix=prefix, dir=base)
    return tempfile.mkdtemp(prefix=prefix)


class MarketHub:
    def __init__(self, transport=None, provider=None, environment=None, host=None, scheme="http",
                 prefix="markethub-test-", directory=None, healthy_statuses=(200, 503)):
        self.port = free_port()
        self.scheme = scheme
        self.directory = directory or log_directory(prefix)
        os.chmod(self.directory, 0o755)
        transport_config = {"host": "127.0.0.1", "port": self.port}
        transport_config.update(transport or {})
        provider = provider or {
            "plugin": "RecordedProvider",
            "config": {"source": "synthetic", "underlyings": ["SPY", "QQQ"], "seed": 7, "window": "09:30-10:00",
                       "speed": 20, "loop": True},
        }
        self.config = os.path.join(self.directory, "config.yaml")
        with open(self.config, "w") as handle:
            handle.write(
                f"host: {json.dumps(dict({'logLevel': 'info'}, **(host or {})))}\n"
                f"provider:\n  plugin: {provider['plugin']}\n  config: {json.dumps(provider['config'])}\n"
                f"cache:\n  plugin: EmbeddedCache\n  config: {json.dumps({'path': self.directory + '/cache.sqlite'})}\n"
                f"transports:\n  - plugin: SocketIOTransport\n    config: {json.dumps(transport_config)}\n"
            )
        self.log = open(os.path.join(self.directory, f"serve-{self.port}.log"), "w+")
        self.process = subprocess.Popen(
            [MARKETHUB, "serve", "--config", self.config], stdout=self.log, stderr=subprocess.STDOUT,
            cwd=self.directory, env=dict(os.environ, **(environment or {})),
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                # By default 503 is an answer too: a provider refused by the vendor is "down" but the host serves.
                if self.get("/health", timeout=2).status_code in healthy_statuses:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("markethub did not start:\n" + self.output())

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def get(self, path, **options):
        options.setdefault("timeout", 5)
        options.setdefault("verify", False)
        return requests.get(self.url + path, **options)

    def healthy(self):
        response = self.get("/health")
        return response.status_code == 200 and response.json()["status"] in ("ok", "degraded")

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log.name) as handle:
            return handle.read()

    def metric(self, name):
        text = self.get("/metrics").text
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
        return float(match.group(1)) if match else 0.0

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode
