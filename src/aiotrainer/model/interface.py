"""The two sides of a model: the agent's inference copy and the trained one."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

from ..state.persistence import PersistentStateMixin

__all__ = ["InferenceModel", "TrainingModel"]


class InferenceModel(ABC):
    """The model the agent calls, concurrently with training.

    Subclasses implement :meth:`infer`; calling the model calls it.
    """

    @abstractmethod
    def infer(self, *args: Any, **kwargs: Any) -> Any:
        """Run inference."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.infer(*args, **kwargs)


T = TypeVar("T", bound=InferenceModel)


class TrainingModel(ABC, PersistentStateMixin, Generic[T]):
    """The model a trainer updates, paired with the inference model it feeds.

    Subclasses implement :meth:`_create_inference_model`, :meth:`forward` and
    :meth:`sync_impl` (copy the trained parameters into the inference model).
    After each run the trainer calls :meth:`sync` on the models it retrieved.
    A model can be copied with :func:`copy.deepcopy` and pickled.

    :param has_inference_model: whether there is an inference side at all.
    :param inference_thread_only: the model is only used for inference and never
        trained; a trainer cannot retrieve it and it is never synced.
    :raises ValueError: for ``inference_thread_only`` without an inference model.
    """

    _inference_model: T | None = None

    def __init__(
        self, has_inference_model: bool = True, inference_thread_only: bool = False
    ) -> None:
        super().__init__()
        if not isinstance(has_inference_model, bool):
            raise TypeError(
                f"has_inference_model must be a bool, got {has_inference_model!r}"
            )
        if not isinstance(inference_thread_only, bool):
            raise TypeError(
                f"inference_thread_only must be a bool, got {inference_thread_only!r}"
            )
        if inference_thread_only and not has_inference_model:
            raise ValueError(
                "inference_thread_only=True needs has_inference_model=True: a model "
                "used only for inference must have an inference model"
            )
        self.has_inference_model = has_inference_model
        """Whether this model has an inference side."""
        self.inference_thread_only = inference_thread_only
        """Whether it is only used for inference (never trained or synced)."""
        self._inference_model_lock = threading.Lock()

    @property
    def inference_model(self) -> T:
        """The inference model, created on first access.

        :raises RuntimeError: if this model has no inference model.
        """
        if not self.has_inference_model:
            raise RuntimeError(
                f"{type(self).__name__} was created with has_inference_model=False "
                "and has no inference model"
            )
        model = self._inference_model
        if model is None:
            with self._inference_model_lock:
                model = self._inference_model
                if model is None:
                    model = self._inference_model = self._create_inference_model()
        return model

    @abstractmethod
    def _create_inference_model(self) -> T:
        """Create the inference model (called once)."""

    @abstractmethod
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The forward pass used in training."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def sync(self) -> None:
        """Copy the trained parameters into the inference model, if there is one
        and this model is trained (not ``inference_thread_only``)."""
        if self.has_inference_model and not self.inference_thread_only:
            self.sync_impl(self.inference_model)

    @abstractmethod
    def sync_impl(self, inference_model: T) -> None:
        """Copy the trained parameters into ``inference_model`` (abstract, as in
        pamiq-core)."""

    # copy.deepcopy() and pickle (a target network is made by deepcopy): the lock
    # that guards the inference model's creation is not copied but made anew.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_inference_model_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._inference_model_lock = threading.Lock()
