"""Errors of the model layer."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import AiotrainerError, format_choices

__all__ = ["InferenceOnlyModelError"]


class InferenceOnlyModelError(AiotrainerError, KeyError):
    """A trainer asked for a model that is only used for inference.

    A ``KeyError``, worded as pamiq-core's ("model 'x' is inference thread only.").
    """

    def __init__(self, name: str, trainable: Iterable[str]) -> None:
        super().__init__(
            f"model {name!r} is inference thread only. It is never trained "
            f"(inference_thread_only=True); trainable models: {format_choices(trainable)}"
        )

    def __str__(self) -> str:
        return str(self.args[0])
