"""Fixtures of the data-layer tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Switch threads far more often than the 5 ms default, to expose races."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
