"""Trainers and their trainability conditions."""

from .base import Trainer
from .conditions import (
    AllOf,
    AnyOf,
    Condition,
    ConditionContext,
    MinBufferSize,
    MinInterval,
    MinNewData,
    Readiness,
    SampleToInsertRatio,
    all_of,
    any_of,
)
from .dicts import TrainersDict
from .errors import NotAttachedError

__all__ = [
    "AllOf",
    "AnyOf",
    "Condition",
    "ConditionContext",
    "MinBufferSize",
    "MinInterval",
    "MinNewData",
    "NotAttachedError",
    "Readiness",
    "SampleToInsertRatio",
    "Trainer",
    "TrainersDict",
    "all_of",
    "any_of",
]
