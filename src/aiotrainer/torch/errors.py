"""Errors of the torch extra."""

from __future__ import annotations

from ..errors import AiotrainerError

__all__ = ["ParameterMismatchError"]


class ParameterMismatchError(AiotrainerError, RuntimeError):
    """Saved or synced tensors that do not fit a module: a parameter or buffer
    missing, unexpected or of another shape.

    ``RuntimeError`` as torch's own ``load_state_dict`` raises, so code written
    against pamiq-core keeps catching it.

    :param where: what was being loaded, e.g. a file or ``"sync of 'encoder'"``.
    :param details: which tensors and shapes did not fit.
    """

    def __init__(self, where: str, details: str) -> None:
        self.where = where
        self.details = details
        super().__init__(f"{where}: {details}")
