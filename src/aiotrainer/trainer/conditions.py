"""Composable trainability conditions.

A condition answers two questions. On the event loop, cheaply and without user
code: *could* the trainer be trainable now, and if not, what would have to happen
first (a data user's collected count reaching a total, or a deadline)? That is how
the scheduler waits without polling. In the worker, authoritatively: *is* it
trainable, after ``update()`` has moved the collected items into the buffers?

pamiq-core's ``Trainer(training_condition_data_user, min_buffer_size,
min_new_data_count)`` maps onto ``all_of(MinBufferSize(u, n), MinNewData(u, m))``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from numbers import Real
from typing import TYPE_CHECKING, Any

from .._validate import check_int, check_seconds
from ..errors import UnknownNameError

if TYPE_CHECKING:
    from ..data.user import DataUser

__all__ = [
    "AllOf",
    "AnyOf",
    "Condition",
    "ConditionContext",
    "MinBufferSize",
    "MinInterval",
    "MinNewData",
    "Readiness",
    "SampleToInsertRatio",
    "all_of",
    "any_of",
]


@dataclass(frozen=True)
class ConditionContext:
    """What a condition may look at. Built by the trainer.

    :param data_users: the attached data users by name.
    :param now: ``time.time()`` at evaluation.
    :param previous_training_time: ``time.time()`` when the trainer was last found
        trainable (``-inf`` before the first time).
    :param collected_at_previous_training: each user's collected count then.
    :param runs: how many runs the trainer has completed.
    """

    data_users: Mapping[str, DataUser[Any]]
    now: float
    previous_training_time: float
    collected_at_previous_training: Mapping[str, int]
    runs: int


@dataclass(frozen=True)
class Readiness:
    """A pre-check's answer: ready, or what to wait for.

    :param ready: the trainer could be trainable now.
    :param wake_totals: data user -> collected total that may make it ready.
    :param deadline: a ``time.time()`` after which it may be ready.
    """

    ready: bool
    wake_totals: Mapping[str, int] = field(default_factory=dict)
    deadline: float | None = None

    @staticmethod
    def combine_waits(
        parts: Iterable[Readiness], *, need_all: bool = False
    ) -> Readiness:
        """Not ready; wake on whatever would wake any of ``parts``.

        With ``need_all`` (every part must hold), a data user's wake total is the
        largest the parts ask for: counts only grow, so none can hold before it.
        """
        totals: dict[str, int] = {}
        deadline: float | None = None
        pick = max if need_all else min
        for p in parts:
            for name, total in p.wake_totals.items():
                totals[name] = pick(totals.get(name, total), total)
            if p.deadline is not None:
                deadline = p.deadline if deadline is None else min(deadline, p.deadline)
        return Readiness(False, totals, deadline)


READY = Readiness(True)


class Condition(ABC):
    """A trainability condition; combine them with :func:`all_of` / :func:`any_of`."""

    @property
    def data_user_names(self) -> frozenset[str]:
        """The data users this condition reads."""
        return frozenset()

    def validate(self, trainer: str, data_users: Mapping[str, DataUser[Any]]) -> None:
        """Check the condition against the attached data users.

        :raises KeyError: for an unknown data user, listing the known ones.
        :raises ValueError: for a condition that can never hold.
        """
        for name in self.data_user_names:
            if name not in data_users:
                raise UnknownNameError(
                    f"data user (in the condition of trainer {trainer!r})",
                    name,
                    data_users,
                )

    @abstractmethod
    def precheck(self, ctx: ConditionContext) -> Readiness:
        """Could it hold now (from counters only, on the event loop)?"""

    @abstractmethod
    def is_satisfied(self, ctx: ConditionContext) -> bool:
        """Does it hold now (authoritative, in the worker, after ``update()``)?"""

    def __and__(self, other: Condition) -> Condition:
        return all_of(self, other)

    def __or__(self, other: Condition) -> Condition:
        return any_of(self, other)


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"data_user must be a non-empty str, got {name!r}")
    return name


def _count(name: str, value: object, minimum: int) -> int:
    n = check_int(name, value, minimum=minimum)
    assert n is not None
    return n


def _number(name: str, value: object, *, allow_zero: bool) -> float:
    # check_seconds() would word its errors in seconds; these are sample counts.
    bound = ">= 0" if allow_zero else "> 0"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number {bound}, got {value!r}")
    x = float(value)
    if not math.isfinite(x) or x < 0 or (x == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return x


class _CountOnDataUser(Condition):
    """A count of items in one data user, bounded by its buffer's capacity."""

    _argument: str  # the Trainer argument it maps, for messages
    _what: str  # what is counted, for messages

    def _bound(self, user: DataUser[Any]) -> tuple[int | None, str]:
        """The most the count can ever reach with ``user``, and why."""
        raise NotImplementedError

    def __init__(self, data_user: str, count: int) -> None:
        self.data_user = _check_name(data_user)
        self.count = _count(self._argument, count, 0)

    @property
    def data_user_names(self) -> frozenset[str]:
        return frozenset({self.data_user})

    def validate(self, trainer: str, data_users: Mapping[str, DataUser[Any]]) -> None:
        super().validate(trainer, data_users)
        # Refuse only what can never be met; anything else pamiq-core accepts.
        bound, why = self._bound(data_users[self.data_user])
        if (
            isinstance(bound, int)
            and not isinstance(bound, bool)
            and self.count > bound
        ):
            raise ValueError(
                f"trainer {trainer!r} needs {self._argument}={self.count} "
                f"{self._what} in data user {self.data_user!r}, which can never "
                f"count more than {bound} ({why}); expected {self._argument} <= {bound}"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.data_user!r}, {self.count})"


class MinBufferSize(_CountOnDataUser):
    """The data user holds at least ``size`` items.

    :param data_user: the data user's name.
    :param size: an int >= 0, at most the buffer's capacity.
    """

    _argument = "min_buffer_size"
    _what = "items"

    def _bound(self, user: DataUser[Any]) -> tuple[int | None, str]:
        return user.buffer.max_size, "its buffer's max_size"

    def __init__(self, data_user: str, size: int) -> None:
        super().__init__(data_user, size)

    @property
    def size(self) -> int:
        """The number of items needed."""
        return self.count

    def precheck(self, ctx: ConditionContext) -> Readiness:
        user = ctx.data_users[self.data_user]
        could_hold = user.stored_hint + user.collector.pending
        if could_hold >= self.count:
            return READY
        missing = self.count - could_hold
        return Readiness(False, {self.data_user: user.collector.collected + missing})

    def is_satisfied(self, ctx: ConditionContext) -> bool:
        return len(ctx.data_users[self.data_user]) >= self.count


class MinNewData(_CountOnDataUser):
    """At least ``count`` items arrived since the trainer was last trainable.

    A data user keeps at most ``max_queue_size`` timestamps (pamiq-core's bound),
    so it can never count more new items than that: a larger ``count`` is
    refused. A count above the buffer's capacity is fine (new items keep
    arriving past it, e.g. into a full :class:`~aiotrainer.RandomReplacementBuffer`).

    :param data_user: the data user's name.
    :param count: an int >= 0, at most the buffer's ``max_queue_size``.
    """

    _argument = "min_new_data_count"
    _what = "new items"

    def _bound(self, user: DataUser[Any]) -> tuple[int | None, str]:
        return user.buffer.max_queue_size, "it keeps max_queue_size timestamps"

    def precheck(self, ctx: ConditionContext) -> Readiness:
        collected = ctx.data_users[self.data_user].collector.collected
        target = ctx.collected_at_previous_training.get(self.data_user, 0) + self.count
        if collected >= target:
            return READY
        return Readiness(False, {self.data_user: target})

    def is_satisfied(self, ctx: ConditionContext) -> bool:
        user = ctx.data_users[self.data_user]
        return user.count_data_added_since(ctx.previous_training_time) >= self.count


class MinInterval(Condition):
    """At least ``seconds`` passed since the trainer was last trainable.

    Waits on a deadline, never by polling.

    :param seconds: finite, >= 0.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = check_seconds("seconds", seconds)

    def precheck(self, ctx: ConditionContext) -> Readiness:
        due = ctx.previous_training_time + self.seconds
        return READY if ctx.now >= due else Readiness(False, deadline=due)

    def is_satisfied(self, ctx: ConditionContext) -> bool:
        return ctx.now >= ctx.previous_training_time + self.seconds

    def __repr__(self) -> str:
        return f"MinInterval({self.seconds})"


class SampleToInsertRatio(Condition):
    """Keep training in step with data: ``samples_per_insert`` within a band.

    Each run samples ``samples_per_run`` items; a run is allowed while
    ``(runs + 1) * samples_per_run <= samples_per_insert * inserted + error_buffer``,
    where ``inserted`` counts the items collected past ``min_size_to_sample``
    (Reverb's rate limiter, upper side: producers are never blocked here).

    :param data_user: the data user's name.
    :param samples_per_insert: > 0.
    :param samples_per_run: items one run consumes, int >= 1.
    :param min_size_to_sample: items needed before the first run, int >= 0.
    :param error_buffer: the tolerance in samples, >= 0.
    """

    def __init__(
        self,
        data_user: str,
        samples_per_insert: float,
        *,
        samples_per_run: int = 1,
        min_size_to_sample: int = 1,
        error_buffer: float = 0.0,
    ) -> None:
        self.data_user = _check_name(data_user)
        self.samples_per_insert = _number(
            "samples_per_insert", samples_per_insert, allow_zero=False
        )
        self.samples_per_run = _count("samples_per_run", samples_per_run, 1)
        self.min_size_to_sample = _count("min_size_to_sample", min_size_to_sample, 0)
        self.error_buffer = _number("error_buffer", error_buffer, allow_zero=True)

    @property
    def data_user_names(self) -> frozenset[str]:
        return frozenset({self.data_user})

    def _allowed(self, collected: int, runs: int) -> bool:
        if collected < self.min_size_to_sample or collected == 0:
            return False
        inserted = collected - self.min_size_to_sample
        samples = (runs + 1) * self.samples_per_run
        return samples <= self.samples_per_insert * inserted + self.error_buffer + 1e-9

    def precheck(self, ctx: ConditionContext) -> Readiness:
        collected = ctx.data_users[self.data_user].collector.collected
        if self._allowed(collected, ctx.runs):
            return READY
        samples = (ctx.runs + 1) * self.samples_per_run - self.error_buffer
        inserted = max(0, math.ceil(samples / self.samples_per_insert - 1e-9))
        target = max(self.min_size_to_sample + inserted, 1, collected + 1)
        return Readiness(False, {self.data_user: target})

    def is_satisfied(self, ctx: ConditionContext) -> bool:
        return self._allowed(
            ctx.data_users[self.data_user].collector.collected, ctx.runs
        )

    def __repr__(self) -> str:
        return (
            f"SampleToInsertRatio({self.data_user!r}, {self.samples_per_insert}, "
            f"samples_per_run={self.samples_per_run}, "
            f"min_size_to_sample={self.min_size_to_sample}, "
            f"error_buffer={self.error_buffer})"
        )


class _Compound(Condition):
    def __init__(self, *conditions: Condition) -> None:
        for c in conditions:
            if not isinstance(c, Condition):
                raise TypeError(f"expected Condition objects, got {c!r}")
        self.conditions: tuple[Condition, ...] = conditions

    @property
    def data_user_names(self) -> frozenset[str]:
        return frozenset().union(*(c.data_user_names for c in self.conditions))

    def validate(self, trainer: str, data_users: Mapping[str, DataUser[Any]]) -> None:
        for c in self.conditions:
            c.validate(trainer, data_users)

    def __repr__(self) -> str:
        inner = ", ".join(map(repr, self.conditions))
        return f"{type(self).__name__.lower().replace('of', '_of')}({inner})"


class AllOf(_Compound):
    """Every condition holds (an empty one always holds)."""

    def precheck(self, ctx: ConditionContext) -> Readiness:
        waits = [r for r in (c.precheck(ctx) for c in self.conditions) if not r.ready]
        return READY if not waits else Readiness.combine_waits(waits, need_all=True)

    def is_satisfied(self, ctx: ConditionContext) -> bool:
        return all(c.is_satisfied(ctx) for c in self.conditions)


class AnyOf(_Compound):
    """At least one condition holds (an empty one never does)."""

    def precheck(self, ctx: ConditionContext) -> Readiness:
        results = [c.precheck(ctx) for c in self.conditions]
        if any(r.ready for r in results):
            return READY
        return Readiness.combine_waits(results)

    def is_satisfied(self, ctx: ConditionContext) -> bool:
        return any(c.is_satisfied(ctx) for c in self.conditions)


def all_of(*conditions: Condition) -> AllOf:
    """A condition that holds when every one of ``conditions`` holds."""
    return AllOf(*conditions)


def any_of(*conditions: Condition) -> AnyOf:
    """A condition that holds when any one of ``conditions`` holds."""
    return AnyOf(*conditions)
