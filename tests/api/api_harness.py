"""Serve a service's API on a free loopback port for a test (real uvicorn).

Import it as ``from api_harness import ...`` (``tests/api`` is on ``sys.path``
for the tests in it, as ``tests/`` is for ``helpers``).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
import httpx
from fastapi import FastAPI

from aiotrainer import SequentialBuffer, Trainer, TrainerService
from aiotrainer.api import create_app, serve

__all__ = ["Logger", "Served", "logging_service", "served"]


@dataclass
class Served:
    url: str
    port: int
    app: FastAPI
    client: httpx.AsyncClient


@asynccontextmanager
async def served(
    service: TrainerService, *, token: str | None = None, **app_kwargs: Any
) -> AsyncIterator[Served]:
    """``create_app(service)`` served on 127.0.0.1 with a free port, and a client
    (that sends ``token`` if given) for it; the server stops on exit."""
    app = create_app(service, token=token, **app_kwargs)
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with anyio.create_task_group() as tg:
        port = await tg.start(partial(serve, app, host="127.0.0.1", port=0))
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(
            base_url=url, headers=headers, timeout=10
        ) as client:
            yield Served(url, port, app, client)
        tg.cancel_scope.cancel()


class Logger(Trainer):
    """Logs a finite, a NaN and an infinite metric on every run."""

    def train(self) -> None:
        self.log_metrics({"loss": 0.25, "nan": math.nan, "inf": math.inf})


def logging_service(**kwargs: Any) -> TrainerService:
    return TrainerService(
        buffers={"buf": SequentialBuffer(kwargs.pop("size", 100))},
        trainers={"t": Logger("buf", 1, 1)},
        **kwargs,
    )
