"""The client side of the ``api`` benchmark, run in its own process.

``python -m tests.benchmarks._api_client poll URL CLIENTS INTERVAL SECONDS``:
CLIENTS tasks each GET /v1/status every INTERVAL seconds for SECONDS; prints
``start`` when they begin, then one JSON line with every latency (seconds).

``python -m tests.benchmarks._api_client ingest URL FORMAT BATCH BATCHES
CONCURRENCY``: POST BATCHES batches of BATCH items (json or msgpack) to
/v1/data/buf, CONCURRENCY at a time; prints one JSON line with the items and
the seconds they took.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import httpx
import msgpack
import uvloop

ITEM = {"obs": [0.5] * 8, "action": 3, "reward": 1.0}


async def poll(url: str, clients: int, interval: float, seconds: float) -> None:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        await client.get("/v1/status")  # warm the connection pool
        print("start", flush=True)
        deadline = time.perf_counter() + seconds

        async def one(offset: float) -> None:
            nonlocal errors
            await asyncio.sleep(offset)  # spread the clients over the interval
            next_at = time.perf_counter()
            while next_at < deadline:
                t0 = time.perf_counter()
                try:
                    response = await client.get("/v1/status")
                except httpx.HTTPError:
                    errors += 1  # counted, and its time too: the client waited
                else:
                    errors += response.status_code != 200
                latencies.append(time.perf_counter() - t0)
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

        await asyncio.gather(*(one(i * interval / clients) for i in range(clients)))
    print(json.dumps({"latencies": latencies, "errors": errors}), flush=True)


async def ingest(
    url: str, fmt: str, batch: int, batches: int, concurrency: int
) -> None:
    document = {"items": [ITEM] * batch}
    if fmt == "msgpack":
        body = msgpack.packb(document)
        headers = {"Content-Type": "application/msgpack"}
    else:
        body = json.dumps(document).encode()
        headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await client.post("/v1/data/buf", content=body, headers=headers)  # warm up
        queue = iter(range(batches))

        async def worker() -> None:
            for _ in queue:
                response = await client.post(
                    "/v1/data/buf", content=body, headers=headers
                )
                response.raise_for_status()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    print(
        json.dumps({"items": batch * batches, "seconds": elapsed, "bytes": len(body)})
    )


def main(argv: list[str]) -> None:
    mode, url, *rest = argv
    if mode == "poll":
        clients, interval, seconds = int(rest[0]), float(rest[1]), float(rest[2])
        uvloop.run(poll(url, clients, interval, seconds))
    else:
        fmt, batch, batches, concurrency = (
            rest[0],
            int(rest[1]),
            int(rest[2]),
            int(rest[3]),
        )
        uvloop.run(ingest(url, fmt, batch, batches, concurrency))


if __name__ == "__main__":
    main(sys.argv[1:])
