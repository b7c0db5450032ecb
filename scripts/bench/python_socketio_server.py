"""python-socketio (asyncio + aiohttp) publishing the benchmark's quote stream, for comparison.

Waits for --clients connections, joins each to every symbol's room, publishes --symbols quotes
--rate times a second for --seconds, then emits "stop" with {"published", "first"} to everyone.
"""

import argparse
import asyncio
import time

import socketio
from aiohttp import web


async def maybe_await(value):
    if asyncio.iscoroutine(value):
        await value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--rate", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()

    sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=25, ping_timeout=20, cors_allowed_origins="*")
    app = web.Application()
    sio.attach(app)
    state = {"connected": 0}
    ready = asyncio.Event()

    @sio.event
    async def connect(sid, environ, auth=None):
        await maybe_await(sio.enter_room(sid, "all"))
        for index in range(args.symbols):
            await maybe_await(sio.enter_room(sid, f"quotes:SYM{index}"))
        state["connected"] += 1
        if state["connected"] >= args.clients:
            ready.set()

    async def publish():
        await ready.wait()
        loop = asyncio.get_running_loop()
        first = time.time_ns()
        published = 0
        tick = 1.0 / args.rate
        deadline = loop.time()
        for sequence in range(args.rate * args.seconds):
            for index in range(args.symbols):
                quote = {"s": f"SYM{index}", "b": 100.25 + sequence % 7, "a": 100.5 + sequence % 7, "t": time.time_ns()}
                await sio.emit("quote", quote, room=f"quotes:SYM{index}")
                published += 1
            deadline += tick
            await asyncio.sleep(max(0.0, deadline - loop.time()))
        await sio.emit("stop", {"published": published, "first": first}, room="all")
        await asyncio.sleep(2)
        raise web.GracefulExit()

    async def start_publisher(app):
        app["publisher"] = asyncio.create_task(publish())

    app.on_startup.append(start_publisher)
    print(f"listening on 127.0.0.1:{args.port}", flush=True)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
