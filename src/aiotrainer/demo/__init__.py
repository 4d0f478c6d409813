"""The demo: an online linear regression learning from a synthetic stream.

``aiotrainer run configs/demo.yaml`` (what ``make run`` runs) runs it as a
daemon; ``python -m aiotrainer.demo`` shows the same embedded in a program.
"""

from .components import (
    LinearInference,
    LinearModel,
    LinearRegressionTrainer,
    SyntheticStream,
)
from .sources import SyntheticSource

__all__ = [
    "LinearInference",
    "LinearModel",
    "LinearRegressionTrainer",
    "SyntheticSource",
    "SyntheticStream",
]
