"""Named collections of models."""

from __future__ import annotations

from collections import UserDict
from pathlib import Path
from typing import Any

from .._validate import check_component_name
from ..errors import UnknownNameError
from ..state.persistence import PersistentStateMixin
from .errors import InferenceOnlyModelError
from .interface import InferenceModel, TrainingModel

__all__ = ["InferenceModelsDict", "TrainingModelsDict"]


class InferenceModelsDict(UserDict[str, InferenceModel]):
    """Inference models by name: what the agent uses."""

    def __missing__(self, key: str) -> InferenceModel:
        raise UnknownNameError("inference model", key, self.data)


class TrainingModelsDict(UserDict[str, TrainingModel[Any]], PersistentStateMixin):
    """Training models by name; their inference sides are in
    :attr:`inference_models_dict`.

    Looking up an ``inference_thread_only`` model raises ``KeyError``: it is not
    trained (pamiq-core's rule).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._inference_models_dict = InferenceModelsDict()
        super().__init__(*args, **kwargs)

    @property
    def inference_models_dict(self) -> InferenceModelsDict:
        """The inference models, by the same names."""
        return self._inference_models_dict

    def __setitem__(self, key: str, item: TrainingModel[Any]) -> None:
        check_component_name("model", key)
        if not isinstance(item, TrainingModel):
            raise TypeError(
                f"model {key!r} must be a TrainingModel, got {type(item).__name__}"
            )
        super().__setitem__(key, item)
        if item.has_inference_model:
            self._inference_models_dict[key] = item.inference_model

    def __getitem__(self, key: str) -> TrainingModel[Any]:
        if key not in self.data:
            raise UnknownNameError("training model", key, self.trainable_names)
        model = self.data[key]
        if model.inference_thread_only:
            raise InferenceOnlyModelError(key, self.trainable_names)
        return model

    @property
    def trainable_names(self) -> list[str]:
        """Names of the models a trainer may retrieve."""
        return sorted(k for k, m in self.data.items() if not m.inference_thread_only)

    def save_state(self, path: Path) -> None:
        """Save each model into ``path/<name>``."""
        path.mkdir()
        for name, model in self.data.items():
            model.save_state(path / name)

    def load_state(self, path: Path) -> None:
        """Load each model from ``path/<name>``, then ``sync()`` it so that its
        inference model has the loaded parameters (as pamiq-core does)."""
        for name, model in self.data.items():
            model.load_state(path / name)
            model.sync()
