"""Scale-out end to end: two or three `markethub serve` hosts sharing a real redis-server (live fan-out, the
ingestion lease, shared demand) and, for the cache test, one nx-27017 MongoDB server. See docs/deployment.md."""

import json
import threading
import time
import uuid

import pytest
import requests
import socketio

from cluster_support import ClusterHost, MongoServer, RedisServer, RoundRobinBalancer
from conftest import quote_client, wait_for


@pytest.fixture
def redis():
    server = RedisServer()
    server.start()
    yield server
    server.kill()


@pytest.fixture
def hosts(redis):
    """Starts hosts on demand (A first, so A takes the lease); stops every one at the end."""
    prefix = "t" + uuid.uuid4().hex[:8]
    started = []

    def start(name, **options):
        host = ClusterHost(name, redis.url, prefix, **options)
        host.start()
        started.append(host)
        return host

    yield start
    for host in started:
        host.stop()


def received_after(quotes, instant, symbol="SPY"):
    return [payload for at, payload in list(quotes) if at > instant and payload["symbol"] == symbol]


def subscribe(client, symbol):
    assert client.call("live:subscribe", {"symbol": symbol}, timeout=10) == {"ok": True, "symbol": symbol}


def test_a_client_on_b_receives_quotes_ingested_on_a_and_b_takes_over_when_a_dies(hosts):
    a = hosts("host-a")
    assert wait_for(a.ingesting, 10), a.output()[-3000:]
    b = hosts("host-b")
    client, quotes, _ = quote_client(b.url)
    chart = socketio.Client(reconnection=False)
    updates = []
    chart.on("chart:update", lambda payload: updates.append((time.monotonic(), payload)))
    chart.connect(b.url, transports=["websocket"], wait_timeout=10)
    try:
        subscribe(client, "SPY")
        ack = chart.call("chart:focus", {"symbol": "SPY", "timeframe": "1m"}, timeout=30)
        assert ack["ok"] is True and ack["streaming"] is True
        assert wait_for(lambda: received_after(quotes, 0), 20), "no quote on B:\n" + b.output()[-3000:]
        # A ingests for B's client; B's provider streams nothing.
        assert wait_for(lambda: "SPY" in a.upstream(), 5)
        assert not b.ingesting() and b.upstream() == set()
        assert b.metric("markethub_cluster_delivered_total") > 0
        assert a.metric("markethub_cluster_published_total") > 0

        killed = time.monotonic()
        a.kill()
        assert wait_for(b.ingesting, 5), "B did not take the lease within 5 s:\n" + b.output()[-3000:]
        took_over = time.monotonic() - killed
        assert "SPY" in b.upstream()
        assert wait_for(lambda: received_after(quotes, killed + took_over), 15), "no quote after the takeover"
        # The chart client was told the stream was degraded while the ingesting host changed.
        assert wait_for(lambda: any(p["health"] == "degraded" for at, p in updates if at > killed), 5), updates
        print(f"takeover after {took_over:.2f} s")
    finally:
        client.disconnect()
        chart.disconnect()


def test_demand_union_is_exact(hosts):
    a = hosts("host-a")
    assert wait_for(a.ingesting, 10)
    b = hosts("host-b")
    on_a, _, _ = quote_client(a.url)
    on_b, _, _ = quote_client(b.url)
    try:
        subscribe(on_a, "QQQ")
        subscribe(on_b, "SPY")
        assert wait_for(lambda: a.upstream() == {"SPY", "QQQ"}, 5), a.cluster()
        assert on_a.call("live:unsubscribe", {"symbol": "QQQ"}, timeout=10)["ok"] is True
        assert wait_for(lambda: a.upstream() == {"SPY"}, 5), a.cluster()
        subscribe(on_a, "SPY")
        on_b.disconnect()
        time.sleep(1.5)
        assert a.upstream() == {"SPY"}, "A's own client still wants SPY"
        on_a.call("live:unsubscribe", {"symbol": "SPY"}, timeout=10)
        assert wait_for(lambda: a.upstream() == set(), 5), a.cluster()
        assert b.upstream() == set()
    finally:
        on_a.disconnect()
        if on_b.connected:
            on_b.disconnect()


def test_redis_restart_degrades_then_recovers_without_restarting_hosts(hosts, redis):
    a = hosts("host-a")
    assert wait_for(a.ingesting, 10)
    b = hosts("host-b")
    on_a, quotes_a, _ = quote_client(a.url)
    on_b, quotes_b, _ = quote_client(b.url)
    try:
        subscribe(on_a, "SPY")
        subscribe(on_b, "SPY")
        assert wait_for(lambda: received_after(quotes_b, 0), 20)
        redis.kill()
        down = time.monotonic()
        assert wait_for(lambda: b.health()["status"] == "degraded" and b.cluster()["redis"] == "down", 5), b.health()
        # The lease holder keeps streaming to its own clients.
        assert wait_for(lambda: received_after(quotes_a, down + 1), 15), "A stopped serving its own client"
        redis.start()
        up = time.monotonic()
        assert wait_for(lambda: b.health()["status"] == "ok" and a.health()["status"] == "ok", 15), b.health()
        assert wait_for(lambda: received_after(quotes_b, up), 20), "delivery on B did not resume"
        # Exactly one host ingests afterwards. A usually keeps the lease (B waits a lease lifetime after Redis
        # returns), but on a busy machine A may reconnect later than that and B takes over: both are correct.
        assert wait_for(lambda: a.ingesting() != b.ingesting(), 10), (a.cluster(), b.cluster())
        settled = time.monotonic()
        assert wait_for(lambda: received_after(quotes_a, settled), 20), "A's client stopped receiving"
    finally:
        on_a.disconnect()
        on_b.disconnect()


def test_websocket_clients_work_behind_a_round_robin_balancer(hosts):
    a = hosts("host-a")
    assert wait_for(a.ingesting, 10)
    b = hosts("host-b")
    balancer = RoundRobinBalancer([a.port, b.port])
    try:
        for _ in range(4):
            client, quotes, _ = quote_client(balancer.url)
            try:
                subscribe(client, "SPY")
                assert wait_for(lambda: received_after(quotes, 0), 20), f"no quote via {balancer.chosen[-1]}"
            finally:
                client.disconnect()
        assert {a.port, b.port} <= set(balancer.chosen)
    finally:
        balancer.close()


def test_two_hosts_writing_the_same_bars_to_one_mongodb_store_no_duplicates(hosts):
    mongo = MongoServer()
    mongo.start()
    started = []
    try:
        cache = f"plugin: MongoCache\n  config: {{ uri: \"{mongo.uri}\", database: markethub }}"
        a = hosts("host-a", cache=cache)
        started.append(a)
        b = hosts("host-b", cache=cache)
        started.append(b)
        results = {}

        def fetch(host, key):
            response = requests.get(host.url + "/api/market/aggs", params={"ticker": "SPY"}, timeout=120)
            results[key] = (response.status_code, len(response.json().get("bars", [])))

        threads = [threading.Thread(target=fetch, args=(host, f"{host.name}-{i}")) for i in range(2) for host in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)
        assert all(status == 200 and count > 200 for status, count in results.values()), results

        def stored():
            return json.loads(
                mongo.query(
                    "rows = list(db.option_aggregates.find({'ticker': 'SPY'}, {'ticker': 1, 'timespan': 1, "
                    "'multiplier': 1, 'timestamp': 1}))\n"
                    "keys = {(r['ticker'], r['timespan'], r['multiplier'], r['timestamp']) for r in rows}\n"
                    "print(json.dumps([len(rows), len(keys)]))\n"
                )
            )

        assert wait_for(lambda: stored()[0] > 200, 30, 1), stored()
        total, distinct = stored()
        assert total == distinct, f"{total} bars stored, {distinct} distinct"
    finally:
        for host in started:  # before the database goes, so the caches flush cleanly
            host.stop()
        mongo.kill()
