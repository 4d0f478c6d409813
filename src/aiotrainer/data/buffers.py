"""The built-in buffers: sequential (FIFO) and random replacement."""

from __future__ import annotations

import math
import pickle
import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .._validate import MAX_ITEMS, check_int, check_probability
from .buffer import DataBuffer

__all__ = [
    "DictRandomReplacementBuffer",
    "DictSequentialBuffer",
    "RandomReplacementBuffer",
    "SequentialBuffer",
]

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

    Draws come from the :mod:`random` module, as in pamiq-core, so that
    ``random.seed(n)`` makes a run reproducible; pass ``rng`` (aiotrainer's
    addition) for a private generator instead.

    :param max_size: the capacity, an int >= 1.
    :param replace_probability: in [0, 1]; 1.0 when neither argument is given.
    :param expected_survival_length: an int >= 1; excludes ``replace_probability``.
    :param rng: a :class:`random.Random` to draw from instead of the module.
    :raises TypeError: for arguments of the wrong type.
    :raises ValueError: for values out of range, or both optional arguments given.
    """

    def __init__(
        self,
        max_size: int,
        replace_probability: float | None = None,
        expected_survival_length: int | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        size = check_int("max_size", max_size, minimum=1, maximum=MAX_ITEMS)
        assert size is not None
        if replace_probability is not None and expected_survival_length is not None:
            raise ValueError(
                "Cannot specify both replace_probability and expected_survival_length."
                f" Please specify only one of them (got {replace_probability!r} and "
                f"{expected_survival_length!r})"
            )
        if rng is not None and not isinstance(rng, random.Random):
            raise TypeError(f"rng must be a random.Random or None, got {rng!r}")
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
            p = check_probability(
                "replace_probability",
                replace_probability,
                pamiq_wording="replace_probability must be between 0.0 and 1.0 inclusive",
            )
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
        self._random: random.Random | None = rng

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
            return
        draw = random if self._random is None else self._random
        # pamiq-core's draws, in its order: the same seed gives the same buffer
        if draw.random() > self._replace_probability:
            return
        self._items[draw.randint(0, self._max_size - 1)] = data

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


class _DictBuffer(DataBuffer[Mapping[str, T], dict[str, list[T]]]):
    """Items are dicts with a fixed set of keys; ``get_data()`` returns a list per
    key. The storage is an inner buffer of dicts, saved as that buffer saves."""

    def __init__(self, keys: Iterable[str], inner: DataBuffer[dict[str, T], Any]):
        if isinstance(keys, str) or not isinstance(keys, Iterable):
            raise TypeError(f"keys must be an iterable of str, got {keys!r}")
        key_set = set(keys)
        bad = [k for k in key_set if not isinstance(k, str)]
        if bad:
            raise TypeError(f"keys must be str, got {bad!r}")
        self._inner = inner
        super().__init__(inner.max_queue_size)
        self._keys = key_set

    @property
    def keys(self) -> set[str]:
        """A copy of the keys every item must have."""
        return set(self._keys)

    @property
    def max_size(self) -> int:
        """The capacity."""
        size = self._inner.max_size
        assert size is not None  # both inner buffers are bounded
        return size

    def add(self, data: Mapping[str, T]) -> None:
        """Add one item: a mapping with exactly :attr:`keys`.

        :raises ValueError: if its keys differ ("Data keys ... do not match
            expected keys ...", as pamiq-core says).
        """
        if not isinstance(data, Mapping):
            raise TypeError(
                f"{type(self).__name__} items must be mappings with keys "
                f"{sorted(self._keys)}, got {type(data).__name__}"
            )
        if set(data.keys()) != self._keys:
            raise ValueError(
                f"Data keys {set(data.keys())} do not match expected keys "
                f"{self._keys} (missing {sorted(self._keys - set(data))}, "
                f"unexpected {sorted(set(data) - self._keys)})"
            )
        self._inner.add(dict(data))

    def get_data(self) -> dict[str, list[T]]:
        """Return a list per key, in the inner buffer's order."""
        out: dict[str, list[T]] = {k: [] for k in self._keys}
        for item in self._inner.get_data():
            for k, v in item.items():
                out[k].append(v)
        return out

    def __len__(self) -> int:
        return len(self._inner)

    def save_state(self, path: Path) -> None:
        """Save as the inner buffer does (``path.pkl``, as pamiq-core)."""
        self._inner.save_state(path)

    def capture_state(self) -> Callable[[Path], None] | None:
        """Snapshot as the inner buffer does."""
        return self._inner.capture_state()

    def load_state(self, path: Path) -> None:
        """Load what :meth:`save_state` wrote."""
        self._inner.load_state(path)


class DictSequentialBuffer(_DictBuffer[T]):
    """A :class:`SequentialBuffer` of dicts with fixed ``keys``; ``get_data()``
    returns ``{key: [values, oldest first]}`` (pamiq-core's ``DictSequentialBuffer``).

    :param keys: the keys every item has.
    :param max_size: the capacity, an int >= 1.
    :raises TypeError: for arguments of the wrong type.
    :raises ValueError: if ``max_size`` < 1.
    """

    def __init__(self, keys: Iterable[str], max_size: int) -> None:
        super().__init__(keys, SequentialBuffer[dict[str, T]](max_size))


class DictRandomReplacementBuffer(_DictBuffer[T]):
    """A :class:`RandomReplacementBuffer` of dicts with fixed ``keys``
    (pamiq-core's ``DictRandomReplacementBuffer``).

    :param keys: the keys every item has.
    :param max_size: the capacity, an int >= 1.
    :param replace_probability: as for :class:`RandomReplacementBuffer`.
    :param expected_survival_length: as for :class:`RandomReplacementBuffer`.
    :param rng: as for :class:`RandomReplacementBuffer`.
    :raises TypeError: for arguments of the wrong type.
    :raises ValueError: for values out of range, or both optional arguments given.
    """

    def __init__(
        self,
        keys: Iterable[str],
        max_size: int,
        replace_probability: float | None = None,
        expected_survival_length: int | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(
            keys,
            RandomReplacementBuffer[dict[str, T]](
                max_size, replace_probability, expected_survival_length, rng=rng
            ),
        )
