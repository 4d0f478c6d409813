"""The persistent-state interface shared by every component."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

__all__ = ["PersistentStateMixin", "load_pickle", "save_pickle"]


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


def save_pickle(obj: Any, path: str | os.PathLike[str]) -> None:
    """Pickle ``obj`` into the file ``path`` (pamiq-core's ``save_pickle``).

    :param obj: any picklable object.
    :param path: the file to write (created or replaced).
    :raises OSError: when the file cannot be written.
    :raises pickle.PicklingError: when ``obj`` cannot be pickled.
    """
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def load_pickle(path: str | os.PathLike[str]) -> Any:
    """Unpickle the object in the file ``path`` (pamiq-core's ``load_pickle``).

    Pickle runs code from the file: load only trusted files.

    :param path: the file to read.
    :raises FileNotFoundError: when there is no such file.
    :raises pickle.UnpicklingError: when the file is not a pickle.
    :return: the object.
    """
    with open(path, "rb") as f:
        return pickle.load(f)
