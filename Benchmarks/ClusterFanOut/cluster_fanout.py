"""Fan-out with one host against two clustered hosts sharing Redis: deliveries per second and delivery spread.

Starts redis-server and `markethub serve` hosts (recorded provider, synthetic session at high speed), connects
WebSocket Socket.IO clients (spread round robin over the hosts), subscribes each to the same symbols for a
fixed time, and prints, for each setup:

- deliveries/s: live:quote events received by all clients together, per second;
- spread p50/p99 (ms): for each quote (symbol, sequence), how long after its first arrival at any client it
  arrived at each other client. On one host this is the transport's fan-out; on two hosts it adds the hop
  through Redis to the following host's clients;
- cross-host p99 (ms): the same, only for deliveries on the following host (two hosts only).

The clients run in this Python process, so with many clients the figures are bounded by the clients, not the
hosts: compare the two setups at the same client count. Usage: scripts/bench-cluster.sh [--clients N]
[--seconds S] [--speed X] (defaults 8 clients, 15 s, speed 100: more clients saturate this Python process first).
"""

import argparse
import os
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "interop"))

import socketio  # noqa: E402

from cluster_support import ClusterHost, RedisServer, wait_for  # noqa: E402

SYMBOLS = ["SPY", "QQQ"]


def stop(host):
    """SIGTERM, and SIGKILL when a host is still draining overloaded clients after 30 s."""
    try:
        host.stop()
    except subprocess.TimeoutExpired:
        host.kill()


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(setup, hosts, clients, seconds):
    arrivals = {}
    lock = threading.Lock()
    sockets = []
    for index in range(clients):
        host = hosts[index % len(hosts)]
        client = socketio.Client(reconnection=False)

        def on_quote(payload, where=host.name):
            now = time.monotonic()
            key = (payload["symbol"], payload.get("sequence"), payload.get("timestamp"), payload.get("bid"))
            with lock:
                arrivals.setdefault(key, []).append((now, where))

        client.on("live:quote", on_quote)
        client.connect(host.url, transports=["websocket"], wait_timeout=10)
        for symbol in SYMBOLS:
            client.call("live:subscribe", {"symbol": symbol}, timeout=10)
        sockets.append(client)
    time.sleep(2)  # let every subscription reach the ingesting host
    with lock:
        arrivals.clear()
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    with lock:
        snapshot = {key: list(value) for key, value in arrivals.items()}
    for client in sockets:
        client.disconnect()
    deliveries = sum(len(value) for value in snapshot.values())
    spread, cross = [], []
    following = hosts[1].name if len(hosts) > 1 else None
    for value in snapshot.values():
        first = min(at for at, _ in value)
        for at, where in value:
            spread.append((at - first) * 1000)
            if where == following:
                cross.append((at - first) * 1000)
    print(
        f"{setup:<28} clients={clients:<4} quotes={len(snapshot):<6} deliveries/s={deliveries / elapsed:9.0f} "
        f"spread p50={percentile(spread, 0.5):7.2f} ms p99={percentile(spread, 0.99):7.2f} ms"
        + (f" cross-host p99={percentile(cross, 0.99):7.2f} ms" if following else ""),
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--speed", type=int, default=100)
    options = parser.parse_args()

    redis = RedisServer()
    redis.start()
    try:
        single = ClusterHost("single", redis.url, "bench", speed=options.speed, clustered=False)
        single.start()
        try:
            run("one host", [single], options.clients, options.seconds)
        finally:
            stop(single)
        prefix = "bench" + uuid.uuid4().hex[:6]
        a = ClusterHost("host-a", redis.url, prefix, speed=options.speed)
        a.start()
        assert wait_for(a.ingesting, 10), "host-a did not take the lease"
        b = ClusterHost("host-b", redis.url, prefix, speed=options.speed)
        b.start()
        try:
            run("two hosts (Redis fan-out)", [a, b], options.clients, options.seconds)
        finally:
            stop(b)
            stop(a)
    finally:
        redis.kill()


if __name__ == "__main__":
    main()
