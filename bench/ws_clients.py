"""Holds N idle WebSocket connections open with the Python `websockets` package (a client other
than the Rust benchmark's own: different headers, extensions offered, buffers).

Usage: ws_clients.py URL N   -> prints "ready N" once all are open, then waits for stdin to close.
Used by local/benches/fanout.rs to measure the gateway's memory per idle connection. Opens them
one at a time, as the Rust clients do; WS_CONCURRENCY=64 opens 64 at a time (the gateway's RSS
then keeps what the concurrent handshakes used: about 3 KiB more per connection, measured).
"""
import asyncio
import os
import sys

import websockets


async def main(url, n):
    sem = asyncio.Semaphore(int(os.environ.get("WS_CONCURRENCY", "1")))
    conns = []

    async def one():
        async with sem:
            conns.append(await websockets.connect(url, ping_interval=None, max_size=2**20))

    await asyncio.gather(*(one() for _ in range(n)))
    print(f"ready {len(conns)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


asyncio.run(main(sys.argv[1], int(sys.argv[2])))
