"""aiotrainer's own loop runner: uvloop where it is installed."""

from __future__ import annotations

import asyncio

import uvloop

from aiotrainer._runner import run


async def loop_kind(tag: str) -> tuple[str, type[asyncio.AbstractEventLoop]]:
    return tag, type(asyncio.get_running_loop())


def test_runs_on_uvloop_and_returns_the_result() -> None:
    tag, kind = run(loop_kind, "x")
    assert tag == "x"
    assert issubclass(kind, uvloop.Loop)


def test_uvloop_false_runs_on_asyncio_s_own_loop() -> None:
    _, kind = run(loop_kind, "y", uvloop=False)
    assert not issubclass(kind, uvloop.Loop)
    assert issubclass(kind, asyncio.BaseEventLoop)
