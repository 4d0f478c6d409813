"""Two copies of the agent's module: the one it reads and a standby one sync writes."""

from __future__ import annotations

import threading
from typing import Any, Generic, TypeVar

import torch
from torch import nn

from .errors import ParameterMismatchError

__all__ = ["ModulePair", "copy_tensors"]

M = TypeVar("M", bound=nn.Module)


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = dict(module.named_parameters())
    tensors.update(module.named_buffers())
    return tensors


def copy_tensors(source: nn.Module, target: nn.Module, where: str) -> None:
    """Copy every parameter and buffer of ``source`` into ``target``'s, in place.

    Everything is checked before anything is written, so a mismatch leaves
    ``target`` untouched. Returns once the copies are complete on every device.

    :param where: names the copy in an error message.
    :raises ParameterMismatchError: if names or shapes differ.
    """
    src, dst = _tensors(source), _tensors(target)
    problems = [f"missing {name!r}" for name in dst.keys() - src.keys()]
    problems += [f"unexpected {name!r}" for name in src.keys() - dst.keys()]
    problems += [
        f"{name!r} has shape {tuple(src[name].shape)} but the target's is "
        f"{tuple(t.shape)}"
        for name, t in dst.items()
        if name in src and src[name].shape != t.shape
    ]
    if problems:
        raise ParameterMismatchError(where, "; ".join(sorted(problems)))
    targets = list(dst.values())
    sources = [src[name] for name in dst]
    devices = {t.device for t in targets + sources}
    with torch.no_grad():
        if len(devices) == 1:
            # One call, one release of the GIL for every copy: the agent's
            # threads get the interpreter back at once, not after each tensor.
            torch._foreach_copy_(targets, sources)
        else:
            for into, value in zip(targets, sources, strict=True):
                into.copy_(value)
    accelerator = torch.accelerator.current_accelerator(check_available=True)
    for device in devices:
        if accelerator is not None and device.type == accelerator.type:
            # Copies to or between accelerators are asynchronous: the standby
            # must hold the new weights before anyone can be handed it.
            torch.accelerator.synchronize(device)


class ModulePair(Generic[M]):
    """The agent's module and, optionally, a standby copy that publishing fills.

    A call borrows the active module (:meth:`acquire` / :meth:`release`); the lock
    is held only to read the active index and count the borrower. :meth:`publish`
    waits until no call still holds the standby, copies the new weights into it
    holding no lock a caller needs, then flips the active index under the lock.
    A caller therefore waits at most for that flip, never for a copy, and every
    call sees one module whose tensors all come from the same publish.

    :param active: the module handed out first.
    :param standby: its twin (same structure); ``None`` for a module that is
        never published into.
    """

    def __init__(self, active: M, standby: M | None) -> None:
        self._modules: tuple[M, M | None] = (active, standby)
        self._active = 0
        self._borrowers = [0, 0]
        self._lock = threading.Lock()  # the agent's side takes it bare: cheaper
        self._cond = threading.Condition(self._lock)
        self._waiting = False  # a publisher waits for a copy's borrowers
        self._publishing = threading.Lock()

    # copy.deepcopy() and pickle (a TrainingModel can be copied): the locks are
    # made anew and nobody borrows the copy yet.
    def __getstate__(self) -> dict[str, Any]:
        return {"modules": self._modules, "active": self._active}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(*state["modules"])  # type: ignore[misc]
        self._active = state["active"]

    @property
    def active(self) -> M:
        """The module a call starting now would borrow."""
        module = self._modules[self._active]
        assert module is not None
        return module

    @property
    def modules(self) -> list[M]:
        """Every module of the pair (one or two)."""
        return [m for m in self._modules if m is not None]

    def acquire(self) -> tuple[int, M]:
        """Borrow the active module; hand the index back to :meth:`release`."""
        with self._lock:
            index = self._active
            self._borrowers[index] += 1
        module = self._modules[index]
        assert module is not None
        return index, module

    def release(self, index: int) -> None:
        """Return a module borrowed with :meth:`acquire`."""
        with self._lock:
            self._borrowers[index] -= 1
            if self._waiting and not self._borrowers[index]:
                self._cond.notify_all()

    def publish(self, source: nn.Module, where: str) -> None:
        """Copy ``source``'s tensors into the standby, then make it the active one.

        Blocks the calling (training) thread while calls that borrowed the standby
        before the previous flip finish; never blocks a caller of :meth:`acquire`
        for longer than the flip.

        :param where: names the copy in an error message.
        :raises RuntimeError: if the pair has no standby module.
        :raises ParameterMismatchError: if ``source`` does not fit the modules.
        """
        with self._publishing:
            spare = 1 - self._active
            target = self._modules[spare]
            if target is None:
                raise RuntimeError(f"{where}: there is no standby module to sync into")
            with self._cond:
                self._waiting = True
                self._cond.wait_for(lambda: not self._borrowers[spare])
                self._waiting = False
            copy_tensors(source, target, where)
            with self._cond:
                self._active = spare
