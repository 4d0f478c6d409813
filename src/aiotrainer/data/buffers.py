"""The built-in buffers: sequential (FIFO) and random replacement."""

from __future__ import annotations

import math
import pickle
import random
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .._validate import MAX_ITEMS, check_int, check_probability
from .buffer import DataBuffer

__all__ = ["RandomReplacementBuffer", "SequentialBuffer"]

T = TypeVar("T")


def _dump_items(items: list[Any], path: Path) -> None:
    with open(path.with_suffix(".pkl"), "wb") as f:
        pickle.dump(items, f, protocol=pickle.HIGHEST_PROTOCOL)


class SequentialBuffer(DataBuffer[T, list[T]]):
    """Keep the last ``max_size`` items in arrival order; the oldest goes first.

    :param max_size: the capacity, an int >= 1. The collector queue has the same bound.
    :raises TypeError: if ``max_size`` is not an int.
    :raises ValueError: if ``max_size`` < 1.
    """

    def __init__(self, max_size: int) -> None:
        size = check_int("max_size", max_size, minimum=1, maximum=MAX_ITEMS)
        assert size is not None
        super().__init__(max_queue_size=size)
        self._max_size = size
        self._items: deque[T] = deque(maxlen=size)

    @property
    def max_size(self) -> int:
        """The capacity."""
        return self._max_size

    def add(self, data: T) -> None:
        """Append ``data``; when full, the oldest item is dropped."""
        self._items.append(data)

    def get_data(self) -> list[T]:
        """Return the items, oldest first."""
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def save_state(self, path: Path) -> None:
        """Pickle the items to ``path`` with the ``.pkl`` suffix (as pamiq-core)."""
        _dump_items(list(self._items), path)

    def capture_state(self) -> Callable[[Path], None]:
        """Copy the item references now; pickle them later."""
        items = list(self._items)
        return lambda path: _dump_items(items, path)

    def load_state(self, path: Path) -> None:
        """Load the items that :meth:`save_state` wrote (trusted input: pickle)."""
        with open(path.with_suffix(".pkl"), "rb") as f:
            items: list[T] = pickle.load(f)
        self._items = deque(items, maxlen=self._max_size)


class RandomReplacementBuffer(DataBuffer[T, list[T]]):
    """Fill up to ``max_size``, then replace a random item with some probability.

    The same meaning as pamiq-core's: once full, a new item replaces a uniformly
    chosen stored one with probability ``replace_probability`` and is discarded
    otherwise. ``expected_survival_length`` derives that probability so that an item
    survives about that many additions.

    :param max_size: the capacity, an int >= 1.
    :param replace_probability: in [0, 1]; 1.0 when neither argument is given.
    :param expected_survival_length: an int >= 1; excludes ``replace_probability``.
    :raises TypeError: for arguments of the wrong type.
    :raises ValueError: for values out of range, or both optional arguments given.
    """

    def __init__(
        self,
        max_size: int,
        replace_probability: float | None = None,
        expected_survival_length: int | None = None,
    ) -> None:
        size = check_int("max_size", max_size, minimum=1, maximum=MAX_ITEMS)
        assert size is not None
        if replace_probability is not None and expected_survival_length is not None:
            raise ValueError(
                "give replace_probability or expected_survival_length, not both "
                f"(got {replace_probability!r} and {expected_survival_length!r})"
            )
        if replace_probability is None:
            if expected_survival_length is None:
                p = 1.0
            else:
                survival = check_int(
                    "expected_survival_length", expected_survival_length, minimum=1
                )
                assert survival is not None
                p = self.compute_replace_probability_from_expected_survival_length(
                    size, survival
                )
        else:
            p = check_probability("replace_probability", replace_probability)
        # Items that arrive faster than update() runs only matter up to the number
        # that can still land in the buffer: max_size / p of them (pamiq-core's bound).
        bound = size if p == 0.0 else size / p
        if bound > MAX_ITEMS:
            raise ValueError(
                f"replace_probability={p!r} with max_size={size} makes the collector "
                f"queue bound max_size / replace_probability = {bound:.3g} items; "
                f"expected replace_probability >= {size / MAX_ITEMS:.3g} (a bound "
                f"<= {MAX_ITEMS})"
            )
        queue = max(size, int(bound))
        super().__init__(max_queue_size=queue)
        self._max_size = size
        self._replace_probability = p
        self._items: list[T] = []
        self._random = random.Random()

    @staticmethod
    def compute_replace_probability_from_expected_survival_length(
        max_size: int, survival_length: int
    ) -> float:
        """The replace probability that makes items survive ``survival_length`` adds.

        :return: ``max_size / survival_length * (ln(max_size) + γ)``, clamped to [0, 1].
        """
        gamma = 0.5772156649015329  # Euler-Mascheroni constant
        p = max_size / survival_length * (math.log(max_size) + gamma)
        return min(max(p, 0.0), 1.0)

    @property
    def max_size(self) -> int:
        """The capacity."""
        return self._max_size

    @property
    def replace_probability(self) -> float:
        """The probability that a new item replaces a stored one when full."""
        return self._replace_probability

    @property
    def is_full(self) -> bool:
        """Whether the buffer holds ``max_size`` items."""
        return len(self._items) >= self._max_size

    def add(self, data: T) -> None:
        """Append ``data``, or when full replace a random item (or discard ``data``)."""
        if len(self._items) < self._max_size:
            self._items.append(data)
        elif self._random.random() < self._replace_probability:
            self._items[self._random.randrange(self._max_size)] = data

    def get_data(self) -> list[T]:
        """Return a copy of the stored items."""
        return self._items.copy()

    def __len__(self) -> int:
        return len(self._items)

    def save_state(self, path: Path) -> None:
        """Pickle the items to ``path`` with the ``.pkl`` suffix (as pamiq-core)."""
        _dump_items(self._items, path)

    def capture_state(self) -> Callable[[Path], None]:
        """Copy the item references now; pickle them later."""
        items = self._items.copy()
        return lambda path: _dump_items(items, path)

    def load_state(self, path: Path) -> None:
        """Load the items that :meth:`save_state` wrote (trusted input: pickle)."""
        with open(path.with_suffix(".pkl"), "rb") as f:
            items: list[Any] = list(pickle.load(f))
        self._items = items[: self._max_size]
