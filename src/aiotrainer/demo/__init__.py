"""The demo: an online linear regression learning from a synthetic stream.

``python -m aiotrainer.demo`` (what ``make run`` runs) shows it end to end.
"""

from .components import (
    LinearInference,
    LinearModel,
    LinearRegressionTrainer,
    SyntheticStream,
)

__all__ = [
    "LinearInference",
    "LinearModel",
    "LinearRegressionTrainer",
    "SyntheticStream",
]
