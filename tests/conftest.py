"""Shared fixtures: every async test runs on asyncio and on uvloop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping

import pytest
import uvloop

import aiotrainer.time
from helpers import Journal


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Parametrize every async test over the default loop and uvloop."""
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture(autouse=True)
def _real_time_clock() -> Iterator[None]:
    """Give every test aiotrainer's clock as real time, and put it back after.

    The clock is process-wide, as pamiq-core's: a restored checkpoint moves it to
    the saved time and a paused service stops it, which must not leak into the
    next test.
    """
    _reset_clock()
    yield
    _reset_clock()


def _reset_clock() -> None:
    clock = aiotrainer.time.get_global_time_controller()
    clock.resume()
    clock.set_time_scale(1.0)
    clock.load_state_dict(aiotrainer.time.TimeController().state_dict())


@pytest.fixture
async def journal() -> Journal:
    """A fresh :class:`helpers.Journal` for the test's trainers to record into."""
    return Journal()
