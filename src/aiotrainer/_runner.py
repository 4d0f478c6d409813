"""Running a coroutine on the loop aiotrainer prefers: uvloop where it exists."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar, TypeVarTuple

import anyio

__all__ = ["run"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def _have_uvloop() -> bool:
    if sys.platform == "win32":
        return False
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def run(fn: Callable[[*Ts], Awaitable[T]], *args: *Ts, uvloop: bool = True) -> T:
    """``anyio.run(fn, *args)`` on uvloop when it is installed, else on asyncio.

    Where aiotrainer owns the event loop (the demo, the daemon) it runs on uvloop:
    a wake-up of a waiting trainer costs less Python on it (see
    docs/performance.md).

    :param uvloop: False for asyncio's own loop even where uvloop is installed.
    :return: what ``fn`` returned.
    """
    use = uvloop and _have_uvloop()
    return anyio.run(fn, *args, backend_options={"use_uvloop": use})
