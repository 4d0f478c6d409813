"""Errors of the data layer."""

from __future__ import annotations

from ..errors import AiotrainerError

__all__ = ["CollectorAlreadyAcquiredError"]


class CollectorAlreadyAcquiredError(AiotrainerError, KeyError):
    """A data collector was acquired a second time.

    A collector has one owner, as in pamiq-core; that is what keeps the producers of
    one stream from being mixed up by accident.
    """

    def __init__(self, name: str) -> None:
        super().__init__(
            f"data collector {name!r} is already acquired; acquire it once and share "
            "the returned collector (collect() is thread-safe)"
        )

    def __str__(self) -> str:
        return str(self.args[0])
