"""The Socket.IO transport's TLS listener (`tls: {certificate, privateKey}`), end to end: a self-signed
certificate made with the openssl CLI at test time, HTTPS for REST and Engine.IO polling, WSS for WebSocket,
python-socketio clients verifying against the certificate, and plain HTTP refused on the TLS port."""

import os
import socket
import subprocess

import pytest
import requests

from conftest import quote_client
from markethub_host import MarketHub


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    cert, key = str(directory / "cert.pem"), str(directory / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def tls_hub(certificate):
    cert, key = certificate
    hub = MarketHub(transport={"tls": {"certificate": cert, "privateKey": key}}, scheme="https")
    yield hub
    assert hub.stop() == 0, hub.output()[-3000:]


def test_rest_over_https_with_the_certificate_verified(tls_hub, certificate):
    response = requests.get(tls_hub.url + "/health", verify=certificate[0], timeout=10)
    assert response.status_code == 200 and response.json()["status"] in ("ok", "degraded")
    bars = requests.get(tls_hub.url + "/api/market/aggs", params={"ticker": "SPY"}, verify=certificate[0],
                        timeout=60)
    assert bars.status_code == 200, bars.text


def test_plain_http_on_the_tls_port_gets_no_answer(tls_hub):
    with pytest.raises(requests.RequestException):
        requests.get(f"http://127.0.0.1:{tls_hub.port}/health", timeout=5)
    assert tls_hub.healthy()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_socketio_over_wss_and_https_polling(tls_hub, certificate, transport, monkeypatch):
    # python-engineio makes its own requests session for polling, which trusts REQUESTS_CA_BUNDLE.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certificate[0])
    http_session = requests.Session()
    http_session.verify = certificate[0]
    client, quotes, arrived = quote_client(
        tls_hub.url, [transport], http_session=http_session, ssl_verify=certificate[0])
    try:
        assert client.transport() == transport
        assert client.call("live:subscribe", {"symbol": "SPY"}, timeout=10) == {"ok": True, "symbol": "SPY"}
        assert arrived.wait(20), "no live:quote over TLS"
        assert quotes[-1][1]["symbol"] == "SPY"
    finally:
        client.disconnect()


def test_a_missing_certificate_file_is_a_clear_startup_error(tmp_path):
    with pytest.raises((RuntimeError, AssertionError)) as failure:
        MarketHub(transport={"tls": {"certificate": str(tmp_path / "none.pem"), "privateKey": str(tmp_path / "k.pem")}},
                  scheme="https")
    assert "tls.certificate" in str(failure.value)
