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
import threading
from collections import OrderedDict
from pathlib import Path
from types import TracebackType
from typing import Self

from ._hasher import BackgroundHasher

if sys.platform != "win32":
    import fcntl

__all__ = [
    "TMP_MARKER",
    "TMP_PREFIX",
    "FileDigest",
    "HashingWriter",
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


#: Digests of files written through a HashingWriter, by (device, inode): the
#: size and mtime they had when closed, and their sha256. Bounded: files written
#: outside any checkpoint only pass through it.
_written: OrderedDict[tuple[int, int], tuple[int, int, str]] = OrderedDict()
_written_lock = threading.Lock()
_WRITTEN_MAX = 4096


#: A file hashed inline up to this size; past it, a thread hashes beside the
#: writes (starting one costs more than hashing a small file).
_HASH_BESIDE_FROM = 1 << 20
#: A mutable buffer at least this big is hashed inline rather than copied.
_COPY_AT_MOST = 4 << 20


class HashingWriter:
    """A binary file opened for writing that computes its sha256 as it writes.

    Use it as a context manager, like ``open(path, "wb")``: ``pickle.dump(obj,
    writer)`` or ``writer.write(data)``. When it closes, the digest is kept with
    the file's identity, size and mtime; a checkpoint save then takes the
    checksum from there instead of reading the file back. A file changed after
    it was closed no longer matches, and is read back as any other. Past its
    first MiB, a file is hashed by a thread beside the writes.

    :param path: the file to create (or truncate).
    """

    __slots__ = ("_digest", "_file", "_hasher", "_size")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._digest = hashlib.sha256()
        self._hasher: BackgroundHasher | None = None
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write ``data`` and hash it; return the number of bytes written."""
        n = self._file.write(data)
        self._size += n
        hasher = self._hasher
        if hasher is None:
            if self._size < _HASH_BESIDE_FROM:
                self._digest.update(data)
                return n
            hasher = self._hasher = BackgroundHasher(self._digest)
        if type(data) is bytes:
            hasher.feed(data)  # immutable: hashed later, as it is
        elif n < _COPY_AT_MOST:
            hasher.feed(bytes(data))  # a buffer the caller may reuse: a copy
        else:
            # A big mutable buffer (a numpy array pickled out of band) is not
            # copied: it is hashed here, in order, once the queue is empty.
            hasher.wait_idle()
            self._digest.update(data)
        return n

    def _end_hashing(self, *, failed: bool) -> None:
        hasher = self._hasher
        if hasher is not None:
            if failed:
                hasher.abort()
            else:
                hasher.finish()

    def close(self) -> None:
        """Flush, close, and remember the digest. Idempotent."""
        f = self._file
        if f.closed:
            return
        failed = True
        try:
            try:
                f.flush()
                st = os.fstat(f.fileno())
            finally:
                f.close()  # flushes again: may raise again (a full disk)
            failed = False
        finally:
            self._end_hashing(failed=failed)
        if st.st_size != self._size:  # written behind our back: not ours to vouch
            return
        key = (st.st_dev, st.st_ino)
        with _written_lock:
            _written[key] = (st.st_size, st.st_mtime_ns, self._digest.hexdigest())
            _written.move_to_end(key)
            while len(_written) > _WRITTEN_MAX:
                _written.popitem(last=False)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            try:
                self._file.close()
            finally:
                self._end_hashing(failed=True)


def _known_digest(st: os.stat_result) -> str | None:
    """The sha256 a HashingWriter computed for this file, if it is unchanged."""
    with _written_lock:
        known = _written.pop((st.st_dev, st.st_ino), None)
    if known is None or known[:2] != (st.st_size, st.st_mtime_ns):
        return None
    return known[2]


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_tree(top: Path, *, reserved: str) -> list[FileDigest]:
    """Fsync every file and directory under ``top`` (``top`` included); list files.

    :param reserved: a name that must not exist at the top level (the manifest).
    :raises ValueError: for a symlink, a special file, or the reserved name.
    :raises OSError: from the file system.
    :return: every regular file with its size and sha256, sorted by path. A
        file written through a :class:`HashingWriter` and unchanged since is not
        read back: its checksum was computed while it was written.
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
            st = entry.stat(follow_symlinks=False)
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                visit(Path(entry.path), rel + "/")
            elif stat.S_ISREG(mode):
                known = _known_digest(st)
                if known is None:
                    size, sha256 = hash_file(Path(entry.path), fsync=True)
                else:
                    _fsync_file(entry.path)
                    size, sha256 = st.st_size, known
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
