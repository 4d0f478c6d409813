"""Errors of the checkpoint store."""

from __future__ import annotations

import errno
from collections.abc import Iterable
from pathlib import Path

from ..errors import AiotrainerError, UnknownNameError

__all__ = [
    "CheckpointMismatchError",
    "CheckpointNotFoundError",
    "CheckpointRefusedError",
    "CheckpointSaveError",
    "CheckpointVersionError",
    "CorruptCheckpointError",
    "StateDirLockedError",
    "StateLoadError",
    "StateRootError",
]

#: How many names a "not found" message lists before it elides the older ones.
_MAX_LISTED = 10


class StateRootError(AiotrainerError, OSError):
    """The store's root directory cannot be used (not a directory, not writable).

    :param root: the root directory.
    :param problem: what is wrong with it, e.g. ``"exists but is not a directory"``.
    :param errno: the matching ``errno`` code, if any.
    """

    def __init__(self, root: Path, problem: str, errno: int | None = None) -> None:
        super().__init__(f"state directory {str(root)!r} {problem}")
        self.errno = errno
        self.filename = str(root)
        self.root = root

    def __str__(self) -> str:
        # OSError.__str__ would format "[Errno n] None: 'filename'" instead.
        return str(self.args[0])


class CheckpointSaveError(AiotrainerError, OSError):
    """Saving a checkpoint failed; nothing of it is left behind.

    ``errno`` is the cause's when the cause is an :class:`OSError` (``ENOSPC`` for a
    full disk), and the cause is also chained as ``__cause__``.

    :param root: the store's root directory.
    :param cause: the exception that made the save fail.
    """

    def __init__(self, root: Path, cause: BaseException) -> None:
        super().__init__(
            f"could not save a checkpoint in {str(root)!r}: "
            f"{type(cause).__name__}: {cause}"
        )
        self.errno = cause.errno if isinstance(cause, OSError) else None
        self.filename = str(root)
        self.root = root
        self.cause = cause

    def __str__(self) -> str:
        return str(self.args[0])


class CorruptCheckpointError(AiotrainerError, ValueError):
    """A checkpoint's manifest or files do not match: incomplete, truncated, altered.

    :param path: the checkpoint directory.
    :param problem: what does not match, naming the file and expected vs found.
    :param file: the offending file, relative to the checkpoint, if one is to blame.
    """

    def __init__(self, path: Path, problem: str, *, file: str | None = None) -> None:
        super().__init__(f"checkpoint {str(path)!r} is corrupt: {problem}")
        self.path = path
        self.file = file


class CheckpointVersionError(AiotrainerError, ValueError):
    """A checkpoint was written in a format newer than this aiotrainer reads.

    :param path: the checkpoint directory.
    :param found: the manifest's ``format_version``.
    :param supported: the newest ``format_version`` this version reads.
    """

    def __init__(self, path: Path, found: int, supported: int) -> None:
        super().__init__(
            f"checkpoint {str(path)!r} has format_version {found}, but this version "
            f"of aiotrainer reads format_version {supported} at most; upgrade "
            "aiotrainer to load it"
        )
        self.path = path
        self.found = found
        self.supported = supported


class CheckpointNotFoundError(UnknownNameError):
    """No checkpoint answers to a name, a path or ``"latest"``.

    A :class:`KeyError` (through :class:`~aiotrainer.UnknownNameError`).

    :param ref: what was asked for.
    :param root: the store's root directory.
    :param known: the names of the complete checkpoints there, oldest first.
    """

    def __init__(self, ref: str, root: Path, known: Iterable[str]) -> None:
        names = list(known)
        super().__init__("checkpoint", ref, names)
        self.known = names  # oldest first, not alphabetically
        self.root = root
        if not names:
            expected = "it holds no complete checkpoint yet"
        else:
            shown = names[-_MAX_LISTED:]
            listed = ", ".join(repr(n) for n in shown)
            if len(names) > len(shown):
                listed = f"{len(names) - len(shown)} older ones, {listed}"
            expected = f"expected 'latest', a path, or one of: {listed}"
        self.args = (f"no checkpoint {ref!r} in {str(root)!r}; {expected}",)


class CheckpointMismatchError(AiotrainerError, ValueError):
    """A checkpoint does not match the service it should be loaded into.

    :param path: the checkpoint.
    :param differences: every difference, one sentence each.
    """

    def __init__(self, path: Path, differences: list[str]) -> None:
        self.path = path
        self.differences = list(differences)
        listing = "\n".join(f"  - {d}" for d in self.differences)
        super().__init__(
            f"checkpoint {str(path)!r} does not match the service:\n{listing}\n"
            "(pass strict=False to load what matches and report the rest)"
        )


class StateLoadError(AiotrainerError, RuntimeError):
    """A component's ``load_state`` raised while restoring a checkpoint."""

    def __init__(self, path: Path, kind: str, name: str, error: BaseException) -> None:
        self.path = path
        self.component = name
        super().__init__(
            f"loading {kind} {name!r} from checkpoint {str(path)!r} failed: "
            f"{type(error).__name__}: {error}"
        )


class StateDirLockedError(AiotrainerError, BlockingIOError):
    """Another process holds the state directory (see ``StateDirLock``).

    :param root: the state directory.
    :param pid: the holder's pid, as it wrote it in the lock file, if readable.
    """

    def __init__(self, root: Path, pid: int | None) -> None:
        holder = f"process {pid}" if pid is not None else "another process"
        super().__init__(
            f"state directory {str(root)!r} is in use by {holder}; two services "
            "must not share one: stop it or choose another state.dir"
        )
        self.errno = errno.EAGAIN
        self.filename = str(root)
        self.root = root
        self.pid = pid

    def __str__(self) -> str:
        return str(self.args[0])


class CheckpointRefusedError(AiotrainerError, ValueError):
    """``resume_from="latest"`` found checkpoints, and none of them loads.

    A fresh start would make its own state the newest checkpoint and shadow
    them; the service refuses to start instead.

    :param root: the store's root directory.
    :param refused: (checkpoint name, why it was refused), oldest first.
    """

    def __init__(self, root: Path, refused: list[tuple[str, str]]) -> None:
        self.root = root
        self.refused = list(refused)
        listing = "\n".join(f"  - {name}: {why}" for name, why in self.refused)
        super().__init__(
            f"no checkpoint in {str(root)!r} can be loaded, though it holds "
            f"{len(self.refused)}:\n{listing}\nrepair or move them away, or pass "
            "resume_from=None to start fresh beside them"
        )
