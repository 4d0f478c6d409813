"""The persistent-state interface shared by every component."""

from __future__ import annotations

from pathlib import Path

__all__ = ["PersistentStateMixin"]


class PersistentStateMixin:
    """Components that can save their state into a path and load it back.

    The defaults do nothing, so a component without state need not override them.
    aiotrainer calls both in a worker thread, never on the event loop.
    """

    def save_state(self, path: Path) -> None:
        """Save this component's state to ``path`` (a directory or a file stem).

        :param path: where to save; it does not exist yet.
        """

    def load_state(self, path: Path) -> None:
        """Load the state that :meth:`save_state` wrote to ``path``.

        :param path: the same path that was given to :meth:`save_state`.
        """
