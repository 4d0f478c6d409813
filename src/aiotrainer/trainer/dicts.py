"""Named trainers."""

from __future__ import annotations

import logging
from collections import UserDict
from collections.abc import Callable, Iterable
from pathlib import Path

from .._validate import check_component_name
from ..data.dicts import DataUsersDict
from ..errors import UnknownNameError
from ..model.dicts import TrainingModelsDict
from ..state.persistence import PersistentStateMixin
from ..thread_events import ThreadEventMixin
from .base import Trainer

__all__ = ["TrainersDict"]

logger = logging.getLogger("aiotrainer.trainer")


class TrainersDict(UserDict[str, Trainer], PersistentStateMixin, ThreadEventMixin):
    """Trainers by name; attaching, pausing and saving apply to all of them."""

    def __setitem__(self, key: str, item: Trainer) -> None:
        check_component_name("trainer", key)
        if not isinstance(item, Trainer):
            raise TypeError(
                f"trainer {key!r} must be a Trainer, got {type(item).__name__}: {item!r}"
            )
        for other, t in self.data.items():
            if t is item and other != key:
                raise ValueError(
                    f"the same trainer object is registered as {other!r} and {key!r}; "
                    "expected one instance per name"
                )
        super().__setitem__(key, item)

    def __missing__(self, key: str) -> Trainer:
        raise UnknownNameError("trainer", key, self.data)

    def attach_training_models(self, training_models: TrainingModelsDict) -> None:
        """Attach the models to every trainer."""
        for trainer in self.values():
            trainer.attach_training_models(training_models)

    def attach_data_users(self, data_users: DataUsersDict) -> None:
        """Attach the data users to every trainer."""
        for trainer in self.values():
            trainer.attach_data_users(data_users)

    def on_paused(self) -> None:
        """Call ``on_paused()`` on every trainer, even after one raised.

        :raises BaseException: the first error, once every trainer was called.
        """
        _call_all(t.on_paused for t in self.values())

    def on_resumed(self) -> None:
        """Call ``on_resumed()`` on every trainer, even after one raised.

        :raises BaseException: the first error, once every trainer was called.
        """
        _call_all(t.on_resumed for t in self.values())

    def save_state(self, path: Path) -> None:
        """Save each trainer into ``path/<name>``."""
        path.mkdir()
        for name, trainer in self.items():
            trainer.save_state(path / name)

    def load_state(self, path: Path) -> None:
        """Load each trainer from ``path/<name>``."""
        for name, trainer in self.items():
            trainer.load_state(path / name)


def _call_all(hooks: Iterable[Callable[[], None]]) -> None:
    first: Exception | None = None
    for hook in hooks:
        try:
            hook()
        except Exception as exc:
            if first is None:
                first = exc
            else:
                logger.exception("another trainer hook failed too")
    if first is not None:
        raise first
