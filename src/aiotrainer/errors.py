"""The root of aiotrainer's exceptions.

Each concern keeps its own exception classes in its folder's ``errors.py``; all of
them derive from :class:`AiotrainerError` and, where one fits, from a builtin, so
``except KeyError`` keeps working for code written against pamiq-core.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["AiotrainerError", "UnknownNameError", "format_choices"]


class AiotrainerError(Exception):
    """Base class of every error raised by aiotrainer itself."""


def format_choices(known: Iterable[str]) -> str:
    """Render a set of known names for an error message, sorted and quoted."""
    names = sorted(known)
    return ", ".join(repr(n) for n in names) if names else "none registered"


class UnknownNameError(AiotrainerError, KeyError):
    """A name that no registered component has.

    :param kind: what was looked up, e.g. ``"data user"`` or ``"training model"``.
    :param name: the name that was asked for.
    :param known: the names that exist.
    :param lead: the message's first part, instead of "no <kind> named <name>"
        (pamiq-core's wording, where code may match it).
    """

    def __init__(
        self, kind: str, name: object, known: Iterable[str], *, lead: str | None = None
    ) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        first = lead if lead is not None else f"no {kind} named {name!r}"
        super().__init__(f"{first}; expected one of: {format_choices(self.known)}")

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message and add quotes around it.
        return str(self.args[0])
