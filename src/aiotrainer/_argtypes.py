"""argparse ``type=`` converters shared by the command lines."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = ["positive_number"]


def positive_number(maximum: float = math.inf) -> Callable[[str], float]:
    """A converter to a finite number in ``(0, maximum]``, for ``type=``.

    :param maximum: the largest value accepted.
    :return: the converter; it raises :class:`argparse.ArgumentTypeError`
        naming the text it got and the range expected.
    """
    expected = (
        "a number > 0" if maximum == math.inf else f"a number in (0, {maximum:g}]"
    )

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {expected}, got {text!r}"
            ) from None
        if not (math.isfinite(value) and 0 < value <= maximum):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return convert
