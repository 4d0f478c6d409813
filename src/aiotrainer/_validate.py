"""Argument checks shared by the constructors (internal)."""

from __future__ import annotations

import math
from numbers import Real

__all__ = ["check_component_name", "check_int", "check_probability", "check_seconds"]


def check_int(
    name: str, value: object, *, minimum: int = 0, optional: bool = False
) -> int | None:
    """Return ``value`` if it is an ``int`` >= ``minimum`` (or ``None`` when allowed).

    :raises TypeError: for a non-int (``bool`` included).
    :raises ValueError: for an int below ``minimum``.
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        expected = "an int or None" if optional else "an int"
        raise TypeError(f"{name} must be {expected}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
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
