"""Training and inference models."""

from .dicts import InferenceModelsDict, TrainingModelsDict
from .interface import InferenceModel, TrainingModel

__all__ = [
    "InferenceModel",
    "InferenceModelsDict",
    "TrainingModel",
    "TrainingModelsDict",
]
