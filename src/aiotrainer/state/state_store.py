"""pamiq-core's ``StateStore``: save registered objects into one directory each time.

The API and the layout are pamiq-core's: ``StateStore(states_dir)``, then
``register(name, obj)`` for each object, ``save_state()`` makes
``<states_dir>/<timestamp>.state/<name>...`` and ``load_state(path)`` calls each
object's ``load_state(path / name)``. What aiotrainer adds is atomicity: the
objects write into a hidden temporary directory, every file is flushed, and only
then is it renamed to its final name, so a crash mid-save leaves no partial state
that a later ``load_state`` could pick.

The service's own checkpoints live in a :class:`~aiotrainer.CheckpointStore`
(with a manifest, checksums and retention); a directory written by either one
with pamiq-core's names (``models``, ``data``, ``trainers``, ``time``) loads in
the other.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

from .._validate import check_component_name
from ..errors import AiotrainerError
from . import _atomic
from .persistence import PersistentStateMixin

__all__ = ["DuplicateStateNameError", "StateStore"]


class DuplicateStateNameError(AiotrainerError, KeyError):
    """A name registered twice in a :class:`StateStore` (a ``KeyError``, as in
    pamiq-core)."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"State with name {name!r} is already registered; expected a new name "
            "for each object"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class StateStore:
    """Save and load many persistent objects at once (pamiq-core's ``StateStore``).

    :param states_dir: the directory the states go in; created if missing (its
        parent must exist).
    :param state_name_format: a :meth:`datetime.strftime` format naming each saved
        state directory.
    :raises TypeError: for arguments of the wrong type.
    """

    def __init__(
        self,
        states_dir: str | os.PathLike[str],
        state_name_format: str = "%Y-%m-%d_%H-%M-%S,%f.state",
    ) -> None:
        if not isinstance(states_dir, str | os.PathLike):
            raise TypeError(f"states_dir must be a path, got {states_dir!r}")
        if not isinstance(state_name_format, str) or not state_name_format:
            raise TypeError(
                "state_name_format must be a non-empty strftime format str, "
                f"got {state_name_format!r}"
            )
        self.states_dir = Path(states_dir)
        self.states_dir.mkdir(exist_ok=True)
        self.state_name_format = state_name_format
        self._registered_states: dict[str, PersistentStateMixin] = {}

    def register(self, name: str, state: PersistentStateMixin) -> None:
        """Register ``state`` to be saved as ``<state dir>/<name>``.

        :param name: unique among the registered names; a plain directory name.
        :param state: an object with ``save_state(path)`` and ``load_state(path)``.
        :raises KeyError: (:class:`DuplicateStateNameError`) if ``name`` is taken.
        :raises TypeError: if ``state`` has no ``save_state``/``load_state``.
        :raises ValueError: for a name that is not a plain directory name.
        """
        if name in self._registered_states:
            raise DuplicateStateNameError(name)
        check_component_name("state", name)
        if not callable(getattr(state, "save_state", None)) or not callable(
            getattr(state, "load_state", None)
        ):
            raise TypeError(
                f"state {name!r} must have save_state(path) and load_state(path) "
                f"(a PersistentStateMixin), got {type(state).__name__}"
            )
        self._registered_states[name] = state

    def save_state(self) -> Path:
        """Save every registered object into a new directory; return its path.

        The directory appears complete or not at all.

        :raises FileExistsError: if a state of the same name exists already (two
            saves within the resolution of ``state_name_format``).
        :raises OSError: from the file system, or what an object's
            ``save_state`` raises; nothing is left behind then.
        :return: ``<states_dir>/<now formatted by state_name_format>``.
        """
        target = self.states_dir / datetime.now().strftime(self.state_name_format)
        if os.path.lexists(target):
            raise FileExistsError(f"State path: {str(target)!r} already exists")
        tmp = Path(
            tempfile.mkdtemp(prefix=f"{_atomic.TMP_PREFIX}state-", dir=self.states_dir)
        )
        try:
            for name, state in self._registered_states.items():
                state.save_state(tmp / name)
            _atomic.sync_tree(tmp, reserved="")
            if os.path.lexists(target):
                raise FileExistsError(f"State path: {str(target)!r} already exists")
            os.rename(tmp, target)
        except BaseException:
            _atomic.remove_stale(tmp)
            raise
        _atomic.fsync_dir(self.states_dir)
        return target

    def load_state(self, state_path: str | os.PathLike[str]) -> None:
        """Call each registered object's ``load_state(state_path / name)``.

        :raises FileNotFoundError: if ``state_path`` does not exist
            ("State path: ... not found!", as pamiq-core says).
        """
        path = Path(state_path)
        if not path.exists():
            raise FileNotFoundError(
                f"State path: {str(path)!r} not found! Expected a directory that "
                "StateStore.save_state() (or a checkpoint store) wrote"
            )
        for name, state in self._registered_states.items():
            state.load_state(path / name)
