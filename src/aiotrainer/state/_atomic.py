"""Crash-safe file-system primitives of the checkpoint store (internal).

Everything here is synchronous and blocking: the store runs in worker threads.
POSIX semantics are assumed (``rename`` of a directory is atomic, ``fsync`` on a
directory makes its entries durable); on Windows directory fsync and locking are
skipped.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
import stat
import sys
from pathlib import Path

if sys.platform != "win32":
    import fcntl

__all__ = [
    "TMP_MARKER",
    "TMP_PREFIX",
    "FileDigest",
    "fsync_dir",
    "hash_file",
    "lock_dir_nowait",
    "remove_stale",
    "remove_tree",
    "sync_tree",
    "unlock",
    "write_new_file",
]

_log = logging.getLogger("aiotrainer.state")

#: Directories in the root whose name starts with this are work in progress (or
#: being deleted); they are never listed, and are removed once no one holds them.
TMP_PREFIX = ".tmp-"

#: The file inside every temporary directory the store makes: the proof that
#: removing the directory removes nothing of anyone else's. Never listed.
TMP_MARKER = ".aiotrainer-temporary"

_CHUNK = 1 << 20

#: (path relative to the top, POSIX separators; size in bytes; sha256 hex digest)
FileDigest = tuple[str, int, str]


def fsync_dir(path: Path) -> None:
    """Make the entries of directory ``path`` durable (creations, renames)."""
    if sys.platform == "win32":
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def hash_file(path: Path, *, fsync: bool = False) -> tuple[int, str]:
    """Read ``path`` whole; return its size and sha256 hex digest.

    :param fsync: also flush the file's data to disk (it was just written).
    """
    digest = hashlib.sha256()
    size = 0
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            digest.update(view[:n])
            size += n
        if fsync:
            os.fsync(f.fileno())
    return size, digest.hexdigest()


def sync_tree(top: Path, *, reserved: str) -> list[FileDigest]:
    """Fsync every file and directory under ``top`` (``top`` included); list files.

    :param reserved: a name that must not exist at the top level (the manifest).
    :raises ValueError: for a symlink, a special file, or the reserved name.
    :raises OSError: from the file system.
    :return: every regular file with its size and sha256, sorted by path.
    """
    files: list[FileDigest] = []

    def visit(directory: Path, prefix: str) -> None:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            rel = prefix + entry.name
            if rel == TMP_MARKER:
                continue  # the store's own marker, not part of the state
            if rel == reserved:
                raise ValueError(
                    f"the state written contains {reserved!r}, a name the store "
                    "reserves for its manifest; write it under another name"
                )
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                visit(Path(entry.path), rel + "/")
            elif stat.S_ISREG(mode):
                size, sha256 = hash_file(Path(entry.path), fsync=True)
                files.append((rel, size, sha256))
            else:
                kind = "a symlink" if stat.S_ISLNK(mode) else "not a regular file"
                raise ValueError(
                    f"the state written contains {rel!r}, which is {kind}; a "
                    "checkpoint holds only regular files and directories"
                )
        fsync_dir(directory)

    visit(top, "")
    return files


def write_new_file(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Create ``path`` (it must not exist), write ``data`` and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def lock_dir_nowait(path: Path) -> int | None:
    """Take an exclusive advisory lock on directory ``path`` without waiting.

    The lock lives as long as the returned descriptor (and dies with the process,
    SIGKILL included), which is what tells a live save from a crashed one.

    :return: the descriptor holding the lock (close it with :func:`unlock`), or
        ``None`` when someone else holds the lock.
    :raises OSError: when ``path`` cannot be opened.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    if sys.platform != "win32":
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
    return fd


def unlock(fd: int) -> None:
    """Release a lock taken by :func:`lock_dir_nowait`."""
    os.close(fd)


def remove_tree(path: Path) -> None:
    """Delete directory ``path`` so that it vanishes at once, never half-deleted.

    It is first renamed to a hidden temporary name next to it (atomic), then removed
    recursively; if the removal is interrupted, the leftover is a stale temporary
    directory that :meth:`CheckpointStore.clean_stale` removes later.

    :raises OSError: when the rename fails (``path`` is then untouched).
    """
    doomed = path.with_name(f"{TMP_PREFIX}{path.name}-removed-{secrets.token_hex(4)}")
    os.rename(path, doomed)
    remove_stale(doomed)


def remove_stale(path: Path) -> None:
    """Remove a temporary directory, logging (not raising) what cannot be removed."""

    def log_error(func: object, failed: str, exc: BaseException) -> None:
        if not isinstance(exc, FileNotFoundError):
            _log.warning("could not remove %s: %s", failed, exc)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=log_error)
    else:
        shutil.rmtree(path, onerror=lambda func, p, info: log_error(func, p, info[1]))
