"""Training and inference models."""

from .dicts import InferenceModelsDict, TrainingModelsDict
from .errors import InferenceOnlyModelError
from .interface import InferenceModel, TrainingModel

__all__ = [
    "InferenceModel",
    "InferenceModelsDict",
    "InferenceOnlyModelError",
    "TrainingModel",
    "TrainingModelsDict",
]
