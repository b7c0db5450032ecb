"""Option chain, contract, selection, quote, trade and watchlist routes over real HTTP, and the quote router's
subscription rules over real Socket.IO, against `markethub serve` (recorded provider with a synthetic SPY
session, the embedded SQLite cache, the Socket.IO transport)."""

import os
import tempfile
import threading

import pytest
import requests
import socketio

from markethub_host import MarketHub


def OptionsHost(directory):
    """One `markethub serve` whose cache file lives in `directory`, so a second one can reopen it."""
    return MarketHub(
        provider={"plugin": "RecordedProvider",
                  "config": {"source": "synthetic", "underlyings": ["SPY"], "seed": 5, "window": "09:30-10:00",
                             "speed": 20, "loop": True}},
        host={"live": {"maxSubscriptionsPerClient": 3}, "options": {"rate": 0.045, "dividendYield": 0.012}},
        directory=directory, healthy_statuses=(200,))


@pytest.fixture(scope="module")
def directory():
    path = tempfile.mkdtemp(prefix="markethub-options-")
    os.chmod(path, 0o755)
    return path


@pytest.fixture(scope="module")
def host(directory):
    instance = OptionsHost(directory)
    yield instance
    assert instance.stop() == 0, instance.output()


def test_chain_shape_and_atm_window(host):
    expirations = requests.get(host.url + "/api/market/options/expirations/SPY", timeout=30).json()["expirations"]
    assert expirations and all(entry["daysToExpiry"] >= 0 for entry in expirations)
    response = requests.get(host.url + "/api/market/options/chain/SPY", params={"strikes": 3}, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["underlying"] == "SPY" and body["underlyingPrice"] > 0
    assert body["source"] in ("provider", "cache", "cache+provider")
    (group,) = body["expirations"]
    assert group["expiration"] == expirations[0]["date"]
    strikes = [row["strike"] for row in group["strikes"]]
    assert len(strikes) == 7 and strikes == sorted(strikes)
    nearest = min(strikes, key=lambda strike: abs(strike - body["underlyingPrice"]))
    assert strikes[3] == nearest
    leg = group["strikes"][3]["call"]
    assert leg["type"] == "call" and leg["expiration"] == group["expiration"]
    assert leg["greeksSource"] in ("provider", "computed") and leg["iv"] > 0
    assert leg["freshness"] in ("stale", "frozen")


def test_contract_quotes_trades_watchlist(host):
    chain = requests.get(host.url + "/api/market/options/chain/SPY", params={"strikes": 1}, timeout=30).json()
    ticker = chain["expirations"][0]["strikes"][1]["put"]["ticker"]
    contract = requests.get(host.url + f"/api/market/options/contracts/{ticker}", timeout=30)
    assert contract.status_code == 200, contract.text
    assert contract.json()["underlying"] == "SPY" and contract.json()["delta"] < 0
    quote = requests.get(host.url + f"/api/market/quotes/{ticker}", timeout=30)
    assert quote.status_code == 200, quote.text
    assert quote.json()["symbol"] == ticker and quote.json()["source"] in ("provider", "cache", "live")
    trades = requests.get(host.url + "/api/market/trades/SPY", params={"limit": 5}, timeout=30)
    assert trades.status_code == 200 and len(trades.json()["trades"]) <= 5
    assert requests.get(host.url + "/api/market/trades/SPY", params={"limit": "x"}, timeout=5).status_code == 400
    watch = requests.get(host.url + "/api/market/watchlist", params={"tickers": "SPY,NOPE1"}, timeout=30).json()
    assert watch["items"][0]["ticker"] == "SPY" and watch["items"][0]["last"] > 0
    assert watch["items"][1]["error"] == "not_found"
    assert requests.get(host.url + "/api/market/options/contracts/SPY", timeout=5).status_code == 400


def test_router_limits_and_cleanup_over_socketio(host):
    client = socketio.Client(reconnection=False)
    errors = []
    got = threading.Event()

    @client.on("live:error")
    def on_error(payload):
        errors.append(payload)
        got.set()

    # Symbols the recorded session knows (the provider refuses others, which frees the client's slot).
    chain = requests.get(host.url + "/api/market/options/chain/SPY", params={"strikes": 1}, timeout=30).json()
    rows = chain["expirations"][0]["strikes"]
    contracts = [rows[0]["call"]["ticker"], rows[1]["call"]["ticker"], rows[2]["call"]["ticker"]]
    client.connect(host.url, transports=["websocket"], wait_timeout=10)
    try:
        for symbol in ("SPY", contracts[0], contracts[1]):
            assert client.call("live:subscribe", {"symbol": symbol}, timeout=10)["ok"] is True
        refused = client.call("live:subscribe", {"symbol": contracts[2]}, timeout=10)
        assert refused["ok"] is False and refused["error"] == "limit_exceeded", refused
        assert got.wait(5) and errors[-1]["code"] == "limit_exceeded" and errors[-1]["symbol"] == contracts[2]
        assert client.call("live:unsubscribe", {"symbol": contracts[0]}, timeout=10)["ok"] is True
        assert client.call("live:subscribe", {"symbol": contracts[2]}, timeout=10)["ok"] is True
        # While streamed, the REST quote is the router's value.
        quote = requests.get(host.url + f"/api/market/quotes/{contracts[2]}", timeout=10).json()
        assert quote["symbol"] == contracts[2] and quote["source"] in ("live", "provider", "cache")
    finally:
        client.disconnect()
    assert not errors[:-1], errors


def test_selection_survives_a_restart(directory, host):
    body = {"underlying": "SPY", "expiration": "2025-12-19", "contract": "O:SPY251219C00610000"}
    saved = requests.post(host.url + "/api/market/options/selection", json=body, timeout=10)
    assert saved.status_code == 200, saved.text
    bad = requests.post(host.url + "/api/market/options/selection", json={"underlying": "SPY"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
    # Restart: the host stops (flushing the cache), a new one opens the same cache file. This is the module's
    # last test, so the fixture's own stop only collects the exit status.
    assert host.stop() == 0, host.output()
    second = OptionsHost(directory)
    try:
        loaded = requests.get(second.url + "/api/market/options/selection", timeout=10)
        assert loaded.status_code == 200, loaded.text
        assert loaded.json() == saved.json()
    finally:
        assert second.stop() == 0, second.output()
