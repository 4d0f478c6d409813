"""Errors of the scheduler and the service."""

from __future__ import annotations

from ..errors import AiotrainerError

__all__ = ["PauseTimeoutError", "ServiceStateError", "TrainerFailedError"]


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


class PauseTimeoutError(AiotrainerError, TimeoutError):
    """Runs were still in flight (not parked) when a pause or a save's capture
    ran out of time; the pause was undone.

    :param timeout: the bound, in seconds.
    :param running: the trainers still running.
    """

    def __init__(self, timeout: float | None, running: list[str]) -> None:
        self.timeout = timeout
        self.running = running
        names = ", ".join(map(repr, running)) or "none (they ended meanwhile)"
        super().__init__(
            f"runs still in flight after {timeout} s; trainers still running: "
            f"{names}. The pause was undone; call pause_point() between the "
            "steps of a long train() so that a pause takes effect inside it"
        )
