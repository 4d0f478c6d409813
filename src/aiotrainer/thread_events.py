"""Hooks a component gets when the service pauses and resumes."""

from __future__ import annotations

__all__ = ["ThreadEventMixin"]


class ThreadEventMixin:
    """Receive ``on_paused`` / ``on_resumed`` notifications.

    aiotrainer calls them in a worker thread, after :meth:`TrainerService.pause`
    has made sure that no ``run()`` is in flight, and on resume.
    """

    def on_paused(self) -> None:
        """Called when the service has paused."""

    def on_resumed(self) -> None:
        """Called when the service resumes."""
