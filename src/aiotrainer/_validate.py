"""Argument checks shared by the constructors (internal)."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from numbers import Real
from typing import Any

__all__ = [
    "MAX_ITEMS",
    "check_component_name",
    "check_distinct",
    "check_int",
    "check_named",
    "check_probability",
    "check_seconds",
]

MAX_ITEMS = sys.maxsize
"""The largest item count a buffer or queue bound may have (a deque's limit)."""


def check_int(
    name: str,
    value: object,
    *,
    minimum: int = 0,
    maximum: int | None = None,
    optional: bool = False,
) -> int | None:
    """Return ``value`` if it is an ``int`` in [``minimum``, ``maximum``] (or
    ``None`` when allowed).

    :raises TypeError: for a non-int (``bool`` included).
    :raises ValueError: for an int below ``minimum`` or above ``maximum``.
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        expected = "an int or None" if optional else "an int"
        raise TypeError(f"{name} must be {expected}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value!r}")
    return value


def check_probability(name: str, value: object, *, pamiq_wording: str = "") -> float:
    """Return ``value`` as a float if it is a real number in [0, 1].

    :param pamiq_wording: pamiq-core's message for this check, put first in the
        ``ValueError`` so that code matching pamiq-core's message still matches.

    :raises TypeError: for a non-number.
    :raises ValueError: outside [0, 1] or NaN.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r}")
    p = float(value)
    if not 0.0 <= p <= 1.0:
        prefix = f"{pamiq_wording}: " if pamiq_wording else ""
        raise ValueError(f"{prefix}{name} must be in [0, 1], got {value!r}")
    return p


def check_seconds(name: str, value: object, *, allow_zero: bool = True) -> float:
    """Return ``value`` as float seconds: finite and >= 0 (> 0 if not allowed).

    :raises TypeError: for a non-number.
    :raises ValueError: for a negative, zero (when disallowed), NaN or infinite value.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    s = float(value)
    if not math.isfinite(s) or s < 0 or (s == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(
            f"{name} must be a finite number of seconds {bound}, got {value!r}"
        )
    return s


def check_component_name(kind: str, name: object) -> str:
    """Return ``name`` if it can name a component (and its checkpoint directory).

    :raises TypeError: for a non-str or empty name.
    :raises ValueError: for a name with a path separator or NUL, or starting with
        ``.`` (``..`` would write outside the checkpoint).
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"a {kind}'s name must be a non-empty str, got {name!r}")
    if name.startswith(".") or any(c in name for c in "/\\\0"):
        raise ValueError(
            f"a {kind}'s name names its directory in checkpoints: expected no '/', "
            f"'\\' or NUL and no leading '.', got {name!r}"
        )
    return name


def check_distinct(kind: str, named: Mapping[str, object]) -> None:
    """Refuse one object registered under two names.

    Two names for one model let two trainers run ``train()`` on it at once (each
    name has its own lock); one buffer under two names is fed and counted twice.

    :raises ValueError: naming both names.
    """
    seen: dict[int, str] = {}
    for name, item in named.items():
        first = seen.setdefault(id(item), name)
        if first != name:
            raise ValueError(
                f"the same {kind} object is registered as {first!r} and {name!r}; "
                f"expected one object per name"
            )


def check_named(kind: str, value: object, item_type: type) -> dict[str, Any]:
    """Return ``value`` as a dict if it maps non-empty str names to ``item_type``.

    :raises TypeError: for a non-mapping, a bad name, or an item of another type.
    """
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{kind} must be a mapping of name -> {item_type.__name__}, "
            f"got {type(value).__name__}"
        )
    out: dict[str, Any] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"{kind}: names must be non-empty strings, got {name!r}")
        if not isinstance(item, item_type):
            raise TypeError(
                f"{kind}[{name!r}] must be a {item_type.__name__}, "
                f"got {type(item).__name__}: {item!r}"
            )
        out[name] = item
    return out
