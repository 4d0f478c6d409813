import asyncio

import pytest


async def test_runs_on_each_loop(request: pytest.FixtureRequest) -> None:
    loop = asyncio.get_running_loop()
    expected = request.node.callspec.id
    assert ("uvloop" in type(loop).__module__) == (expected == "uvloop")
