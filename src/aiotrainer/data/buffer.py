"""The abstract data buffer."""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from .._validate import check_int
from ..state.persistence import PersistentStateMixin

__all__ = ["DataBuffer"]

T = TypeVar("T")
R = TypeVar("R")


class DataBuffer(ABC, PersistentStateMixin, Generic[T, R]):
    """Where a data user keeps the items a trainer learns from.

    Subclasses implement :meth:`add`, :meth:`get_data` and :meth:`__len__`. A buffer
    is only ever touched by its :class:`~aiotrainer.DataUser`, under the user's lock,
    so implementations need not be thread-safe.

    :param max_queue_size: the bound of the collector queue in front of this buffer
        (items collected but not yet moved in by ``update()``; when it is full the
        oldest item is dropped and counted) and of the timestamps its data user
        keeps. ``0`` keeps nothing; ``None`` means unbounded and warns, as in
        pamiq-core.
    :raises TypeError: if ``max_queue_size`` is not an int or None.
    :raises ValueError: if ``max_queue_size`` is negative.
    """

    def __init__(self, max_queue_size: int | None = None) -> None:
        super().__init__()
        if max_queue_size is None:
            warnings.warn(
                f"max_queue_size is None in {type(self).__name__}: the collector's "
                "queue and the timestamps will have unlimited size, which may cause "
                "memory issues if data collection is faster than processing; "
                "pass max_queue_size=<int>",
                RuntimeWarning,
                stacklevel=2,
            )
        elif (
            not isinstance(max_queue_size, bool)
            and isinstance(max_queue_size, int)
            and max_queue_size < 0
        ):
            raise ValueError(
                f"max_queue_size must be non-negative: expected an int >= 0 or "
                f"None, got {max_queue_size!r}"
            )
        self._max_queue_size = check_int(
            "max_queue_size", max_queue_size, minimum=0, optional=True
        )

    @property
    def max_queue_size(self) -> int | None:
        """The bound of the collector queue, or ``None`` for unbounded."""
        return self._max_queue_size

    @property
    def max_size(self) -> int | None:
        """The most items this buffer can hold, or ``None`` if it has no bound."""
        return None

    def capture_state(self) -> Callable[[Path], None] | None:
        """Snapshot the state in memory and return a function that writes it.

        The service calls this while trainers are quiesced, then writes the
        snapshot to disk after they have resumed, so that a checkpoint holds the
        trainers only for the copy. ``None`` (the default) means "no cheap
        snapshot": :meth:`save_state` is called while quiesced instead.
        """
        return None

    @abstractmethod
    def add(self, data: T) -> None:
        """Add one item. A full buffer makes room as its policy says."""

    @abstractmethod
    def get_data(self) -> R:
        """Return the stored items (a copy the caller may keep)."""

    @abstractmethod
    def __len__(self) -> int:
        """Return the number of stored items."""
