"""Errors of the trainer layer."""

from __future__ import annotations

from ..errors import AiotrainerError

__all__ = ["NotAttachedError"]


class NotAttachedError(AiotrainerError, AttributeError, RuntimeError):
    """A trainer was asked for models or data users before they were attached.

    An ``AttributeError``, as pamiq-core raises there.
    """

    def __init__(self, trainer: str, what: str, attach: str, hook: str) -> None:
        super().__init__(
            f"trainer {trainer!r} has no {what} attached yet; call {attach}() first "
            f"(the service does it at start) and retrieve them in {hook}() or later"
        )
