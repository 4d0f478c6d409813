"""The client side of the ``api`` benchmark, run in its own process.

``python -m tests.benchmarks._api_client poll URL CLIENTS INTERVAL SECONDS``:
CLIENTS keep-alive connections each GET /v1/status every INTERVAL seconds for
SECONDS (a minimal HTTP/1.1 client, to measure the server, not the client); prints
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


class _Connection:
    """One keep-alive HTTP/1.1 connection with a minimal GET: a lean client, so
    that the latencies measure the server rather than a client library's CPU
    (httpx costs far more per request than the server does)."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def get(self, path: str) -> int:
        """GET ``path``; return the status code once the whole body is read."""
        self._writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self._reader.readexactly(length)
        return int(lines[0].split()[1])

    def close(self) -> None:
        self._writer.close()


async def poll(url: str, clients: int, interval: float, seconds: float) -> None:
    latencies: list[float] = []
    errors = 0
    parsed = httpx.URL(url)
    assert parsed.host and parsed.port
    connections = [
        await _Connection.open(parsed.host, parsed.port) for _ in range(clients)
    ]
    for connection in connections:
        await connection.get("/v1/status")  # warm up
    print("start", flush=True)
    deadline = time.perf_counter() + seconds

    async def one(connection: _Connection, offset: float) -> None:
        nonlocal errors
        await asyncio.sleep(offset)  # spread the clients over the interval
        next_at = time.perf_counter()
        while next_at < deadline:
            t0 = time.perf_counter()
            try:
                status = await connection.get("/v1/status")
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1  # counted; the connection is then done
                return
            latencies.append(time.perf_counter() - t0)
            errors += status != 200
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    await asyncio.gather(
        *(one(c, i * interval / clients) for i, c in enumerate(connections))
    )
    for connection in connections:
        connection.close()
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
