"""pamiq-core's torch models: an agent-side inference model and a trained one.

The training model keeps its ``nn.Module`` for life; the inference model holds two
copies of it (on the inference device) and :meth:`TorchTrainingModel.sync` copies
the trained weights into the copy the agent is not using, then swaps the two under
a lock held only for the swap. The agent never waits for a copy and never sees a
half-updated model; optimizers keep pointing at the live training parameters.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, cast

import torch
from torch import nn

from ..model.interface import InferenceModel, TrainingModel
from ._double_buffer import ModulePair
from .errors import ParameterMismatchError

__all__ = [
    "InferenceProcedureCallable",
    "TorchInferenceModel",
    "TorchTrainingModel",
    "default_infer_procedure",
    "get_device",
    "load_state_dict_file",
]

M = TypeVar("M", bound=nn.Module)
M_contra = TypeVar("M_contra", bound=nn.Module, contravariant=True)


class InferenceProcedureCallable(Protocol[M_contra]):
    """How the inference model runs its module: ``procedure(model, *args, **kwds)``."""

    def __call__(self, model: M_contra, /, *args: Any, **kwds: Any) -> Any: ...


def get_device(
    module: nn.Module, default_device: torch.device | None = None
) -> torch.device:
    """The device of ``module``'s first parameter, else of its first buffer.

    :param module: the module to look at.
    :param default_device: returned for a module without tensors; ``None``
        means torch's default device.
    :return: the device.
    """
    for param in module.parameters():
        return param.device
    for buffer in module.buffers():
        return buffer.device
    return torch.get_default_device() if default_device is None else default_device


def default_infer_procedure(model: nn.Module, *args: Any, **kwds: Any) -> Any:
    """Move tensor arguments to ``model``'s device, then call ``model``.

    Other arguments pass unchanged.

    :param model: the module to run.
    :return: what ``model(*args, **kwds)`` returns.
    """
    device = get_device(model)
    args = tuple(a.to(device) if isinstance(a, torch.Tensor) else a for a in args)
    kwds = {
        k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in kwds.items()
    }
    return model(*args, **kwds)


def load_state_dict_file(
    module: nn.Module, file: str | os.PathLike[str], device: torch.device
) -> None:
    """Load a ``state_dict`` file into ``module`` (``weights_only=True``).

    :param file: written by ``torch.save(module.state_dict(), file)``.
    :param device: where the loaded tensors go.
    :raises FileNotFoundError: if ``file`` does not exist.
    :raises ParameterMismatchError: naming each missing, unexpected or
        mis-shaped tensor, or if the file holds no ``state_dict``.
    """
    state = torch.load(file, map_location=device, weights_only=True)
    where = f"{os.fspath(file)} into {type(module).__name__}"
    if not isinstance(state, Mapping):
        raise ParameterMismatchError(
            where,
            f"expected a state_dict (names to tensors), got {type(state).__name__}",
        )
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
        raise ParameterMismatchError(where, " ".join(lines) or str(exc)) from exc


class TorchInferenceModel(InferenceModel, Generic[M]):
    """The agent's side of a torch model: call it from any thread at any time.

    :param model: the module to run.
    :param inference_procedure: how to run it: ``procedure(model, *args, **kwds)``.
    """

    def __init__(
        self, model: M, inference_procedure: InferenceProcedureCallable[M]
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {model!r}")
        if not callable(inference_procedure):
            raise TypeError(
                f"inference_procedure must be callable, got {inference_procedure!r}"
            )
        self._pair: ModulePair[M] = ModulePair(model, None)
        self._inference_procedure = inference_procedure

    def _set_standby(self, standby: M) -> None:
        """Give the module a twin that syncs write into (before any use)."""
        self._pair = ModulePair(self._pair.active, standby)

    @property
    def _raw_model(self) -> M:
        """The module a call starting now would use (for type checks only)."""
        return self._pair.active

    def infer(self, *args: Any, **kwds: Any) -> Any:
        """Run the inference procedure under ``torch.inference_mode()``.

        A sync that happens meanwhile does not touch the module this call uses.

        :return: what the procedure returns.
        """
        index, module = self._pair.acquire()
        try:
            with torch.inference_mode():
                return self._inference_procedure(module, *args, **kwds)
        finally:
            self._pair.release(index)

    @contextmanager
    def unwrap(self, inference_mode: bool = True) -> Iterator[M]:
        """Use the raw module directly, e.g. for a method the procedure does not call.

        For the whole ``with`` block the module is the same object and no sync
        writes into it (a sync meanwhile fills the other copy, seen by the next
        call or block). Keep blocks short: a second sync waits for them.

        :param inference_mode: enter ``torch.inference_mode()`` for the block.
        :return: a context manager yielding the module.
        """
        index, module = self._pair.acquire()
        try:
            with torch.inference_mode(inference_mode):
                yield module
        finally:
            self._pair.release(index)


def _resolve_procedure(
    model: nn.Module, procedure: InferenceProcedureCallable[M] | str
) -> InferenceProcedureCallable[M]:
    if isinstance(procedure, str):
        cls = type(model)
        if not hasattr(cls, procedure):
            raise AttributeError(
                f"The model class {cls.__name__} does not have a method named "
                f"{procedure!r}"
            )
        method = getattr(cls, procedure)
        if not callable(method):  # pamiq-core's ValueError, kept
            raise ValueError(  # noqa: TRY004
                f"The specified inference_procedure {procedure!r} is not a callable "
                f"method on {cls.__name__}"
            )
        return cast(InferenceProcedureCallable[M], method)
    if not callable(procedure):
        raise TypeError(
            "inference_procedure must be a callable or the name of a method of the "
            f"model class, got {procedure!r}"
        )
    return procedure


def _as_device(name: str, device: torch.device | str | None) -> torch.device | None:
    if device is None or isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"{name} must be a torch.device, a str or None, got {device!r}")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"{name} {device!r} is not a torch device: {exc}") from exc


class TorchTrainingModel(TrainingModel[TorchInferenceModel[M]], Generic[M]):
    """A torch module trained in the background, and the agent's copies of it.

    pamiq-core's ``TorchTrainingModel``, same arguments and meaning; ``sync()``
    never blocks the agent for a copy (see the module docstring).

    :param model: the module to train.
    :param has_inference_model: whether the agent gets an inference model.
    :param inference_thread_only: the module is only used for inference: the
        inference model wraps this very module, which is never trained or synced.
    :param device: where the module trains; ``None`` keeps it where it is.
    :param dtype: convert the module to this dtype first.
    :param inference_procedure: how the inference model runs the module: a
        callable ``procedure(model, *args, **kwds)`` or the name of a method of
        the model's class.
    :param pretrained_parameter_file: a ``state_dict`` file to load first.
    :param compile: ``torch.compile`` the module and its inference copies.
    :param inference_device: where the agent's copies live (aiotrainer's
        addition); ``None``: on ``device``. Sync copies across devices.
    :raises TypeError: for arguments of the wrong type.
    :raises AttributeError: for an ``inference_procedure`` name the model's class
        does not have.
    :raises ValueError: if that attribute is not callable, or for a bad device.
    :raises ParameterMismatchError: if the pretrained file does not fit.
    """

    def __init__(
        self,
        model: M,
        has_inference_model: bool = True,
        inference_thread_only: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        inference_procedure: InferenceProcedureCallable[M]
        | str = default_infer_procedure,
        pretrained_parameter_file: str | Path | None = None,
        compile: bool = False,
        *,
        inference_device: torch.device | str | None = None,
    ) -> None:
        super().__init__(has_inference_model, inference_thread_only)
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {model!r}")
        if dtype is not None and not isinstance(dtype, torch.dtype):
            raise TypeError(f"dtype must be a torch.dtype or None, got {dtype!r}")
        if not isinstance(compile, bool):
            raise TypeError(f"compile must be a bool, got {compile!r}")
        train_device = _as_device("device", device)
        infer_device = _as_device("inference_device", inference_device)
        if inference_thread_only and infer_device is not None:
            raise ValueError(
                "inference_device needs inference_thread_only=False: an "
                "inference-only model is the training module itself"
            )
        self._inference_procedure = _resolve_procedure(model, inference_procedure)
        if dtype is not None:
            model = model.type(dtype)
        self.model: M = model
        # None keeps the module where it is (never moved to the CPU by accident).
        self._device = get_device(model) if train_device is None else train_device
        self._inference_device = infer_device or self._device
        self.model.to(self._device)
        if pretrained_parameter_file is not None:
            load_state_dict_file(self.model, pretrained_parameter_file, self._device)
        # Made now, from the loaded weights and before compiling (pamiq-core
        # copies before compiling too), not lazily from whatever thread asks.
        copies = self.inference_model._pair.modules if has_inference_model else []
        if compile:
            for module in copies:
                if module is not self.model:
                    module.compile()
            self.model.compile()

    @property
    def device(self) -> torch.device:
        """Where the module trains."""
        return self._device

    @property
    def inference_device(self) -> torch.device:
        """Where the agent's copies live."""
        return self._inference_device

    def _inference_copy(self) -> M:
        module = copy.deepcopy(self.model).to(self._inference_device)
        module.eval()
        return module

    def _create_inference_model(self) -> TorchInferenceModel[M]:
        if self.inference_thread_only:
            return TorchInferenceModel(self.model, self._inference_procedure)
        inference = TorchInferenceModel(
            self._inference_copy(), self._inference_procedure
        )
        inference._set_standby(self._inference_copy())
        return inference

    def sync_impl(self, inference_model: TorchInferenceModel[M]) -> None:
        """Publish the trained weights to the agent.

        Copies every parameter and buffer into the inference copy the agent is not
        using (waiting, in this thread, for calls still on it from before the
        previous sync), then swaps it in. The training module is left in train
        mode, as in pamiq-core.

        :raises ParameterMismatchError: if the module's tensors no longer fit the
            inference copies (e.g. a layer was replaced).
        """
        inference_model._pair.publish(
            self.model, f"sync of {type(self.model).__name__} to the inference model"
        )
        self.model.train()

    def forward(self, *args: Any, **kwds: Any) -> Any:
        """Call the training module."""
        return self.model(*args, **kwds)

    def save_state(self, path: Path) -> None:
        """Write the module's ``state_dict`` to ``<path>.pt``."""
        torch.save(self.model.state_dict(), f"{path}.pt")

    def load_state(self, path: Path) -> None:
        """Load ``<path>.pt`` (``weights_only=True``) into the training module.

        As in pamiq-core, the agent's copies get it at the next :meth:`sync`,
        which loading a :class:`~aiotrainer.TrainingModelsDict` (so any restore)
        does at once.

        :raises ParameterMismatchError: naming each tensor that does not fit.
        """
        load_state_dict_file(self.model, f"{path}.pt", self._device)
