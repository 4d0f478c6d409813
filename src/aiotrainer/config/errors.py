"""Errors of the config files: every problem found, one line each."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import AiotrainerError

__all__ = ["ConfigError"]


class ConfigError(AiotrainerError, ValueError):
    """A config that cannot be used, with every problem found in it.

    Each problem is one line, ``path.to.field: what is wrong (got X)``; ``str()``
    joins them with newlines.

    :param problems: the problems, in the order they were found (at least one).
    :param source: the file (or other source) they were found in, if any.
    """

    def __init__(self, problems: Iterable[str], *, source: str | None = None) -> None:
        self.problems = list(problems) or ["invalid config"]
        self.source = source
        super().__init__("\n".join(self.problems))
