"""The record of one checkpoint, as its manifest describes it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["Checkpoint", "CheckpointFile"]


@dataclass(frozen=True)
class CheckpointFile:
    """One file of a checkpoint, as listed in its manifest."""

    path: str
    """Where the file is, relative to the checkpoint directory, with ``/`` separators."""
    size: int
    """Its size in bytes."""
    sha256: str
    """Its SHA-256 digest, in lowercase hex."""


@dataclass(frozen=True)
class Checkpoint:
    """A complete checkpoint in a :class:`~aiotrainer.state.CheckpointStore`.

    Checkpoints may contain pickled objects (each component's ``save_state`` picks its
    own format, and ``pickle``/``torch.save`` are common), and loading such a file
    runs code from it: load only checkpoints that you trust. The checksums catch
    accidental corruption, not tampering.
    """

    path: Path
    """The checkpoint directory; pass it (or a file in it) to ``load_state``."""
    name: str
    """The directory's name, e.g. ``"2026-11-25T10-00-00.123456Z"``."""
    created: datetime
    """When it was saved (timezone-aware, UTC)."""
    format_version: int
    """The manifest's format version."""
    metadata: Mapping[str, Any] = field(hash=False)
    """The caller's metadata given to ``save()`` (a read-only JSON-like mapping)."""
    files: tuple[CheckpointFile, ...]
    """Every file of the checkpoint, sorted by path."""
    sequence: int
    """Its position in the store's history: 1 for the first save, then 2, 3, ..."""
