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
from .metrics import MetricPoint, MetricsRecorder, RunRecord

__all__ = [
    "AllOf",
    "AnyOf",
    "Condition",
    "ConditionContext",
    "MetricPoint",
    "MetricsRecorder",
    "MinBufferSize",
    "MinInterval",
    "MinNewData",
    "NotAttachedError",
    "Readiness",
    "RunRecord",
    "SampleToInsertRatio",
    "Trainer",
    "TrainersDict",
    "all_of",
    "any_of",
]
