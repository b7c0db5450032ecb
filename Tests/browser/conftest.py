"""Fixtures for the browser tests: `markethub serve` with the recorded provider (a synthetic session, with
optional fault scripts), the embedded cache and the Socket.IO transport serving Web/, and Debian's Chromium
driven headless through Debian's chromedriver."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARKETHUB = os.environ.get("MARKETHUB_BIN", os.path.join(ROOT, ".build", "debug", "markethub"))
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
ARTIFACTS = os.environ.get("BROWSER_ARTIFACTS", os.path.join(ROOT, "artifacts", "browser"))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Host:
    """One `markethub serve` process with its own directory, cache file and port; restartable."""

    def __init__(self, provider_config, directory=None, host_config=None):
        self.port = free_port()
        self.directory = directory or tempfile.mkdtemp(prefix="markethub-browser-")
        os.chmod(self.directory, 0o755)
        self.config = os.path.join(self.directory, "config.yaml")
        provider = json.dumps(provider_config)
        host = json.dumps({"logLevel": "info", **(host_config or {})})
        with open(self.config, "w") as handle:
            handle.write(
                f"""
host: {host}
provider:
  plugin: RecordedProvider
  config: {provider}
cache:
  plugin: EmbeddedCache
  config: {{ path: {self.directory}/cache.sqlite }}
transports:
  - plugin: SocketIOTransport
    config: {{ host: 127.0.0.1, port: {self.port}, webRoot: {os.path.join(ROOT, "Web")} }}
"""
            )
        self.process = None
        self.log = None
        self.start()

    def start(self):
        self.log = open(os.path.join(self.directory, "serve.log"), "a+")
        self.process = subprocess.Popen(
            [MARKETHUB, "serve", "--config", self.config], stdout=self.log, stderr=subprocess.STDOUT, cwd=self.directory
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                if requests.get(self.url + "/health", timeout=2).status_code in (200, 503):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("markethub did not start:\n" + self.output())

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-6000:]

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log:
            self.log.close()
        self.process = None

    def restart(self):
        self.stop()
        self.start()


SESSION = {"source": "synthetic", "underlyings": ["SPY", "QQQ"], "seed": 11, "window": "09:30-12:00", "speed": 5, "loop": True}


@pytest.fixture(scope="module")
def host():
    server = Host(dict(SESSION))
    yield server
    assert server.process.poll() is None, "the host must survive every test:\n" + server.output()
    server.stop()
    shutil.rmtree(server.directory, ignore_errors=True)


class Browser:
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="markethub-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--window-size=1280,800",
            f"--user-data-dir={self.profile}",
        ):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        # The page itself is 1280×800, whatever the headless window chrome takes.
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False}
        )

    def wait(self, condition, timeout=30, message=""):
        return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(lambda _: condition(), message)

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def screenshot(self, name):
        os.makedirs(ARTIFACTS, exist_ok=True)
        path = os.path.join(ARTIFACTS, f"{name}.png")
        self.driver.save_screenshot(path)
        return path

    def console_errors(self):
        return [
            entry["message"]
            for entry in self.driver.get_log("browser")
            if entry["level"] == "SEVERE" and "status of 404" not in entry["message"]
        ]

    def quit(self):
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture
def browser(request):
    session = Browser()
    yield session
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        session.screenshot(f"failed-{request.node.name}")
    session.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
