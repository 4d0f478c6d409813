"""The torch extra: pamiq-core's ``pamiq_core.torch`` API on aiotrainer.

``TorchTrainingModel`` and ``TorchInferenceModel`` pair a trained ``nn.Module``
with the agent's copies of it; ``sync()`` publishes new weights without making
the agent wait for a copy. ``TorchTrainer`` keeps optimizer and LR scheduler state
across runs and checkpoints. Needs torch: ``pip install 'aiotrainer[torch]'``
(see the README for the CPU and GPU builds).
"""

try:
    import torch as _torch  # noqa: F401
except ModuleNotFoundError as _exc:  # pragma: no cover - exercised in a subprocess
    raise ModuleNotFoundError(
        "aiotrainer.torch needs torch, which is not installed; for the CPU build "
        "run:\n\n    pip install torch==2.13.0 --index-url "
        "https://download.pytorch.org/whl/cpu\n\nthen pip install "
        "'aiotrainer[torch]' (see the README for a GPU build)",
        name="torch",
    ) from _exc

from .errors import ParameterMismatchError
from .model import (
    InferenceProcedureCallable,
    TorchInferenceModel,
    TorchTrainingModel,
    default_infer_procedure,
    get_device,
)
from .trainer import (
    LRSchedulersDict,
    OptimizersDict,
    OptimizersSetup,
    StateDict,
    TorchTrainer,
)

__all__ = [
    "InferenceProcedureCallable",
    "LRSchedulersDict",
    "OptimizersDict",
    "OptimizersSetup",
    "ParameterMismatchError",
    "StateDict",
    "TorchInferenceModel",
    "TorchTrainer",
    "TorchTrainingModel",
    "default_infer_procedure",
    "get_device",
]
