"""One process per state directory: an OS file lock that names its holder.

The lock is ``fcntl.flock`` on ``<state dir>/.aiotrainer.lock``, held for as long
as the file stays open. The kernel releases it when the process ends, however it
ends (SIGKILL included), so there is never a stale lock to clean up; the pid
written in the file only serves to name the holder in the refusal.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import Self

from .errors import StateDirLockedError, StateRootError

if sys.platform != "win32":
    import fcntl

__all__ = ["LOCK_NAME", "StateDirLock"]

LOCK_NAME = ".aiotrainer.lock"
"""The lock file's name inside the state directory (ignored by the store)."""


class StateDirLock:
    """An exclusive, non-waiting lock on a state directory.

    ::

        with StateDirLock(state_dir):
            ...  # no other process holds it meanwhile

    :param state_dir: the directory; created (owner-only) if missing.
    """

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or refuse at once.

        :raises StateDirLockedError: when another process holds it (its pid named).
        :raises StateRootError: when the directory or the lock file cannot be
            created or opened.
        """
        if self._fd is not None:
            return
        try:
            self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileExistsError:
            raise StateRootError(
                self.state_dir, "exists but is not a directory", errno.ENOTDIR
            ) from None
        except OSError as exc:
            raise StateRootError(
                self.state_dir, f"cannot be used: {exc.strerror}", exc.errno
            ) from None
        try:
            if sys.platform != "win32":
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise StateDirLockedError(self.state_dir, holder) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass  # the lock holds all the same; only the name in a refusal is lost
        self._fd = fd

    def release(self) -> None:
        """Let the lock go (idempotent). The file stays: removing it would race."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
