"""What happens when a trainer's run raises."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from .._validate import check_int, check_seconds
from ..errors import format_choices

__all__ = ["ErrorAction", "ErrorPolicy"]

ErrorAction = Literal["stop", "retry", "disable"]
_ACTIONS = ("stop", "retry", "disable")


@dataclass(frozen=True)
class ErrorPolicy:
    """How the scheduler handles a trainer whose ``run()`` raised.

    - ``"stop"`` (default): the service stops gracefully and the error surfaces
      from ``async with`` / ``run_until_stopped()`` as a ``TrainerFailedError``.
    - ``"retry"``: run again after an exponential backoff (``backoff`` seconds,
      doubling, at most ``max_backoff``), at most ``max_retries`` times in a row;
      then ``exhausted`` decides (``"stop"`` or ``"disable"``).
    - ``"disable"``: park the trainer; the error stays visible in ``status()``.

    :raises ValueError: for an unknown action, a negative number, or
        ``max_backoff < backoff``.
    """

    action: ErrorAction = "stop"
    """What a failure does: ``"stop"``, ``"retry"`` or ``"disable"``."""
    max_retries: int = 3
    """With ``"retry"``: failures in a row that are retried before ``exhausted``."""
    backoff: float = 0.5
    """With ``"retry"``: seconds before the first retry; doubled for each next."""
    max_backoff: float = 30.0
    """With ``"retry"``: the longest wait between retries, in seconds."""
    exhausted: Literal["stop", "disable"] = "stop"
    """With ``"retry"``: what happens once ``max_retries`` is used up."""

    def __post_init__(self) -> None:
        if self.action not in _ACTIONS:
            raise ValueError(
                f"error policy action must be one of {', '.join(map(repr, _ACTIONS))}, "
                f"got {self.action!r}"
            )
        if self.exhausted not in ("stop", "disable"):
            raise ValueError(
                f"exhausted must be 'stop' or 'disable', got {self.exhausted!r}"
            )
        check_int("max_retries", self.max_retries, minimum=0)
        check_seconds("backoff", self.backoff)
        check_seconds("max_backoff", self.max_backoff)
        if self.max_backoff < self.backoff:
            raise ValueError(
                f"max_backoff must be >= backoff ({self.backoff!r}), "
                f"got {self.max_backoff!r}"
            )

    @classmethod
    def coerce(cls, value: ErrorPolicy | str) -> ErrorPolicy:
        """Accept a policy or an action name.

        :raises TypeError: for anything else.
        """
        if isinstance(value, ErrorPolicy):
            return value
        if isinstance(value, str):
            return cls(action=value)  # type: ignore[arg-type]
        raise TypeError(
            f"an error policy must be 'stop', 'retry', 'disable' or an ErrorPolicy, "
            f"got {value!r}"
        )

    @classmethod
    def for_trainers(
        cls,
        spec: ErrorPolicy | str | Mapping[str, ErrorPolicy | str],
        trainers: Iterable[str],
    ) -> dict[str, ErrorPolicy]:
        """Each trainer's policy: one for all, or a mapping name -> policy in
        which trainers not named get ``"stop"``.

        :raises KeyError: for a mapping that names an unknown trainer.
        :raises TypeError: see :meth:`coerce`.
        """
        names = list(trainers)
        if isinstance(spec, Mapping):
            unknown = set(spec) - set(names)
            if unknown:
                raise KeyError(
                    f"on_error names unknown trainer(s) {sorted(unknown)}; expected "
                    f"one of: {format_choices(names)}"
                )
            return {name: cls.coerce(spec.get(name, "stop")) for name in names}
        return dict.fromkeys(names, cls.coerce(spec))

    def delay(self, attempt: int) -> float:
        """The backoff before retry number ``attempt`` (1-based)."""
        return min(self.backoff * math.pow(2, max(0, attempt - 1)), self.max_backoff)
