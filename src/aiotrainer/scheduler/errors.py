"""Errors of the scheduler and the service."""

from __future__ import annotations

from ..errors import AiotrainerError

__all__ = ["ServiceStateError", "TrainerFailedError"]


class TrainerFailedError(AiotrainerError, RuntimeError):
    """A trainer raised and its error policy stopped the service.

    The trainer's exception is the ``__cause__``.
    """

    def __init__(self, trainer: str, error: BaseException) -> None:
        self.trainer = trainer
        """The name of the trainer that failed."""
        self.error = error
        """The exception its run raised (also the ``__cause__``)."""
        super().__init__(
            f"trainer {trainer!r} failed: {type(error).__name__}: {error}; the "
            "service stopped (set on_error='retry' or 'disable' to keep it running)"
        )


class ServiceStateError(AiotrainerError, RuntimeError):
    """A service method was called in a state that does not allow it."""
