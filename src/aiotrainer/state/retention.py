"""Which checkpoints to keep: the newest few, plus a sparse long-term history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .._validate import check_int
from .checkpoint import Checkpoint

__all__ = ["RetentionPolicy"]


@dataclass(frozen=True)
class RetentionPolicy:
    """Keep the newest ``keep_last`` checkpoints, and every ``keep_every``-th one.

    ``keep_every=M`` keeps the checkpoints whose sequence number (1 for a store's
    first save, then 2, 3, ...) is a multiple of ``M``, forever. It needs
    ``keep_last``: when ``keep_last`` is ``None`` every checkpoint is kept.

    :param keep_last: how many of the newest checkpoints to keep (>= 1), or ``None``
        to keep all of them.
    :param keep_every: also keep every ``keep_every``-th checkpoint (>= 1), or
        ``None`` for no long-term history.
    :raises TypeError: for a value that is not an int or ``None``.
    :raises ValueError: for a value below 1, or ``keep_every`` without
        ``keep_last``.
    """

    keep_last: int | None = None
    keep_every: int | None = None

    def __post_init__(self) -> None:
        check_int("keep_last", self.keep_last, minimum=1, optional=True)
        check_int("keep_every", self.keep_every, minimum=1, optional=True)
        if self.keep_every is not None and self.keep_last is None:
            raise ValueError(
                f"keep_every={self.keep_every!r} needs keep_last: without it every "
                "checkpoint is kept anyway; expected keep_last=N as well"
            )

    def expired(
        self, checkpoints: Sequence[Checkpoint], *, protect: Checkpoint | None = None
    ) -> list[Checkpoint]:
        """Return the checkpoints this policy lets go, oldest first.

        :param checkpoints: the complete checkpoints, oldest first.
        :param protect: one that is kept whatever the policy says (the one just
            written).
        """
        if self.keep_last is None:
            return []
        newest = {c.path for c in checkpoints[-self.keep_last :]}
        every = self.keep_every
        return [
            c
            for c in checkpoints
            if c.path not in newest
            and not (every is not None and c.sequence % every == 0)
            and not (protect is not None and c.path == protect.path)
        ]
