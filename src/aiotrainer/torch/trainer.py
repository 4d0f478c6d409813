"""pamiq-core's TorchTrainer: optimizers and LR schedulers that survive runs."""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any, TypeAlias, TypeVar, cast

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from ..errors import UnknownNameError
from ..trainer.base import Trainer
from ..trainer.conditions import Condition
from .model import TorchTrainingModel

__all__ = [
    "LRSchedulersDict",
    "OptimizersDict",
    "OptimizersSetup",
    "StateDict",
    "TorchTrainer",
]

StateDict: TypeAlias = dict[str, Any]
OptimizersDict: TypeAlias = dict[str, Optimizer]
LRSchedulersDict: TypeAlias = dict[str, LRScheduler]
OptimizersSetup: TypeAlias = OptimizersDict | tuple[OptimizersDict, LRSchedulersDict]

M = TypeVar("M", bound=nn.Module)

_OPTIMIZER_SUFFIX = ".optim.pt"
_SCHEDULER_SUFFIX = ".lrsch.pt"


def _check_named(what: str, value: object, kind: type) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, kind) for k, v in value.items()
    ):
        raise TypeError(
            f"create_optimizers() must return a dict of name -> {kind.__name__} for "
            f"the {what}, got {value!r}"
        )
    return cast(dict[str, Any], value)


class TorchTrainer(Trainer):
    """A trainer of torch models; override :meth:`create_optimizers` and ``train``.

    pamiq-core's ``TorchTrainer``: each run's :meth:`setup` creates the optimizers
    (and LR schedulers) and loads the state the previous run's :meth:`teardown`
    kept, so their state carries across runs; :meth:`save_state` writes it as
    ``<name>.optim.pt`` and ``<name>.lrsch.pt`` beside the trainer's own state.

    :param training_condition_data_user: as for :class:`~aiotrainer.Trainer`.
    :param min_buffer_size: as for :class:`~aiotrainer.Trainer`.
    :param min_new_data_count: as for :class:`~aiotrainer.Trainer`.
    :param condition: as for :class:`~aiotrainer.Trainer` (keyword-only).
    """

    def __init__(
        self,
        training_condition_data_user: str | None = None,
        min_buffer_size: int = 0,
        min_new_data_count: int = 0,
        *,
        condition: Condition | None = None,
    ) -> None:
        super().__init__(
            training_condition_data_user,
            min_buffer_size,
            min_new_data_count,
            condition=condition,
        )
        self.optimizers: OptimizersDict = {}
        self.lr_schedulers: LRSchedulersDict = {}
        self.optimizer_states: dict[str, StateDict] = {}
        self.lr_scheduler_states: dict[str, StateDict] = {}

    def get_torch_training_model(
        self,
        name: str,
        module_cls: type[M] = nn.Module,  # type: ignore[assignment]
    ) -> TorchTrainingModel[M]:
        """Return the training model ``name``, checked to be a torch one.

        Like :meth:`get_training_model`, the model is synced after every run.

        :param module_cls: the class its module must be an instance of.
        :raises KeyError: for an unknown name, listing the known ones.
        :raises TypeError: if it is not a :class:`TorchTrainingModel` or its
            module is not a ``module_cls``.
        """
        model = self.get_training_model(name)
        if not isinstance(model, TorchTrainingModel):
            raise TypeError(
                f"Model {name!r} is not a TorchTrainingModel but a "
                f"{type(model).__name__}"
            )
        if not isinstance(model.model, module_cls):
            raise TypeError(
                f"The module of model {name!r} is a {type(model.model).__name__}, "
                f"not a {module_cls.__name__}"
            )
        return cast(TorchTrainingModel[M], model)

    @abstractmethod
    def create_optimizers(self) -> OptimizersSetup:
        """Create the optimizers, or ``(optimizers, lr_schedulers)``, by name.

        Called by every :meth:`setup`; the state kept from the previous run is
        loaded into what it returns.
        """

    def setup(self) -> None:
        """Create the optimizers and schedulers and load their kept state.

        :raises TypeError: if :meth:`create_optimizers` returns something else.
        :raises KeyError: if kept state names an optimizer or scheduler that
            :meth:`create_optimizers` no longer creates.
        """
        super().setup()
        created = self.create_optimizers()
        if isinstance(created, tuple) and len(created) == 2:
            optimizers = _check_named("optimizers", created[0], Optimizer)
            schedulers = _check_named("LR schedulers", created[1], LRScheduler)
        else:
            optimizers = _check_named("optimizers", created, Optimizer)
            schedulers = {}
        for kind, kept, made in (
            ("optimizer", self.optimizer_states, optimizers),
            ("LR scheduler", self.lr_scheduler_states, schedulers),
        ):
            for name in kept:
                if name not in made:
                    raise UnknownNameError(
                        f"{kind} (from the kept or loaded state)", name, made
                    )
        self.optimizers.clear()
        self.optimizers.update(optimizers)
        self.lr_schedulers.clear()
        self.lr_schedulers.update(schedulers)
        for name, state in self.optimizer_states.items():
            self.optimizers[name].load_state_dict(state)
        for name, scheduler_state in self.lr_scheduler_states.items():
            self.lr_schedulers[name].load_state_dict(scheduler_state)

    def teardown(self) -> None:
        """Keep the optimizers' and schedulers' state for the next run."""
        super().teardown()
        self.optimizer_states = {n: o.state_dict() for n, o in self.optimizers.items()}
        self.lr_scheduler_states = {
            n: s.state_dict() for n, s in self.lr_schedulers.items()
        }

    def save_state(self, path: Path) -> None:
        """Save the trainer's state and the kept optimizer and scheduler state."""
        super().save_state(path)
        for name, state in self.optimizer_states.items():
            torch.save(state, path / f"{name}{_OPTIMIZER_SUFFIX}")
        for name, state in self.lr_scheduler_states.items():
            torch.save(state, path / f"{name}{_SCHEDULER_SUFFIX}")

    def load_state(self, path: Path) -> None:
        """Load what :meth:`save_state` wrote (``weights_only=True``); the next
        :meth:`setup` puts it into the optimizers and schedulers.

        :raises ValueError: if ``path`` is not a directory.
        """
        if not path.is_dir():
            raise ValueError(f"Path {path} is not a directory or does not exist")
        super().load_state(path)
        loaded: list[dict[str, StateDict]] = [{}, {}]
        for states, suffix in zip(
            loaded, (_OPTIMIZER_SUFFIX, _SCHEDULER_SUFFIX), strict=True
        ):
            for file in sorted(path.glob(f"*{suffix}")):
                # The optimizer moves each tensor to its parameter's device.
                states[file.name.removesuffix(suffix)] = torch.load(
                    file, map_location="cpu", weights_only=True
                )
        self.optimizer_states, self.lr_scheduler_states = loaded
