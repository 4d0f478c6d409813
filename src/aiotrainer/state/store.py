"""The on-disk checkpoint store: atomic saves, listing, verification, retention.

Layout of a store's root::

    root/                                   mode 0o700
      2026-11-25T10-00-00.123456Z/          a complete checkpoint, mode 0o700
        manifest.json                       written last: files, sizes, sha256
        ...                                 whatever ``write`` put there
      .tmp-2026-11-25T10-05-00.000001Z-x/   a save in progress (or a crash's leftover)

A checkpoint is written in a temporary directory, every file and directory in it
is fsynced, the manifest is written last, and the directory is renamed to its
final name: a checkpoint is complete or invisible, whenever the process dies.

Everything here blocks on the disk; the service calls it from worker threads.
"""

from __future__ import annotations

import builtins
import errno
import json
import logging
import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from . import _atomic
from ._manifest import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    dump_manifest,
    parse_manifest,
    peek_sequence,
)
from .checkpoint import Checkpoint, CheckpointFile
from .errors import (
    CheckpointNotFoundError,
    CheckpointSaveError,
    CheckpointVersionError,
    CorruptCheckpointError,
    StateRootError,
)
from .retention import RetentionPolicy

__all__ = ["CheckpointStore", "is_checkpoint_name", "verify_checkpoint"]

_log = logging.getLogger("aiotrainer.state")

_NAME_FORMAT = "%Y-%m-%dT%H-%M-%S.%fZ"
_NAME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{6}Z")
_ONE_MICROSECOND = timedelta(microseconds=1)

#: ``save()``'s ``write`` callback: writes the state files into the directory given.
WriteState = Callable[[Path], None]


class CheckpointStore:
    """A directory of atomic checkpoints, with retention.

    Checkpoints may contain pickled objects (each component's ``save_state`` picks
    its own format, and ``pickle``/``torch.save`` are common), and loading such a
    file runs code from it: point a store only at a directory that you trust. The
    checksums that :meth:`verify` checks catch accidental corruption, not tampering.

    Every method blocks on the disk: call them from a worker thread
    (``anyio.to_thread.run_sync``), never on the event loop. A store is thread-safe;
    its saves run one at a time. One process at a time should save into a root.

    Creating a store creates ``root`` (mode ``0o700``) if it is missing, and removes
    the temporary directories that a crashed save left there (see
    :meth:`clean_stale`). With ``read_only=True`` it creates, cleans and writes
    nothing, and needs only read access: for listing and verifying.

    :param root: the directory that holds the checkpoints.
    :param keep_last: after each save, keep only the newest ``keep_last``
        checkpoints (>= 1); ``None`` keeps all of them.
    :param keep_every: with ``keep_last``, also keep every ``keep_every``-th
        checkpoint (>= 1) forever, as long-term history.
    :param read_only: open an existing root to read it, never to write.
    :raises TypeError: for an argument of the wrong type.
    :raises ValueError: for ``keep_last`` or ``keep_every`` below 1, or an empty root.
    :raises StateRootError: when ``root`` cannot be created, exists but is not a
        directory, or is not writable.
    """

    #: The manifest format this version writes, and the newest one it reads.
    format_version: ClassVar[int] = FORMAT_VERSION

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        keep_last: int | None = None,
        keep_every: int | None = None,
        read_only: bool = False,
    ) -> None:
        if not isinstance(root, str | os.PathLike) or isinstance(
            os.fspath(root), bytes
        ):
            raise TypeError(f"root must be a str or os.PathLike path, got {root!r}")
        if os.fspath(root) == "":
            raise ValueError("root must be a non-empty path, got ''")
        self._retention = RetentionPolicy(keep_last=keep_last, keep_every=keep_every)
        if not isinstance(read_only, bool):
            raise TypeError(f"read_only must be a bool, got {read_only!r}")
        self._root = Path(root).absolute()
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self._read_only = read_only
        if read_only:
            if not self._root.is_dir():
                raise StateRootError(self._root, "is not a directory", errno.ENOTDIR)
            return
        _prepare_root(self._root)
        self.clean_stale()

    def __repr__(self) -> str:
        policy = self._retention
        return (
            f"CheckpointStore({str(self._root)!r}, keep_last={policy.keep_last!r}, "
            f"keep_every={policy.keep_every!r})"
        )

    @property
    def root(self) -> Path:
        """The directory that holds the checkpoints (absolute)."""
        return self._root

    @property
    def retention(self) -> RetentionPolicy:
        """The retention policy applied after each save."""
        return self._retention

    # -- saving --------------------------------------------------------------------

    def save(
        self, write: WriteState, *, metadata: Mapping[str, Any] | None = None
    ) -> Checkpoint:
        """Save a checkpoint atomically, then apply the retention policy.

        ``write(directory)`` writes the state files into ``directory``, a fresh
        private temporary directory under the root (it may create subdirectories;
        it must not create ``manifest.json``, symlinks or special files). Then every
        file and directory is fsynced, the manifest is written, and the directory
        is renamed to its final name, unique and sortable
        (``2026-11-25T10-00-00.123456Z``). If anything fails, the temporary directory
        is removed and no checkpoint appears.

        :param write: writes the state into the directory it is given.
        :param metadata: JSON-serializable data stored in the manifest, returned as
            :attr:`Checkpoint.metadata` (tuples come back as lists).
        :raises TypeError: when ``write`` is not callable or ``metadata`` is not a
            JSON-serializable mapping with str keys (nothing is written).
        :raises CheckpointSaveError: when writing fails, from ``write`` or from the
            disk (its ``errno`` is the cause's, e.g. ``ENOSPC``).
        :return: the new checkpoint.
        """
        if self._read_only:
            raise CheckpointSaveError(
                self._root, PermissionError("this store was opened read_only=True")
            )
        if not callable(write):
            raise TypeError(f"write must be a callable taking a Path, got {write!r}")
        meta = _check_metadata(metadata)
        with self._lock:
            checkpoint = self._save_locked(write, meta)
            self._apply_retention(checkpoint)
        return checkpoint

    def _save_locked(self, write: WriteState, metadata: dict[str, Any]) -> Checkpoint:
        tmp: Path | None = None
        final: Path | None = None
        lock_fd: int | None = None
        try:
            created, sequence = self._next_slot()
            name = created.strftime(_NAME_FORMAT)
            tmp = Path(
                tempfile.mkdtemp(prefix=f"{_atomic.TMP_PREFIX}{name}-", dir=self._root)
            )
            os.chmod(tmp, 0o700)
            mark_temporary(tmp)
            lock_fd = _atomic.lock_dir_nowait(tmp)
            if lock_fd is None:  # another process's clean_stale() got there first
                raise BlockingIOError(
                    errno.EAGAIN, "taken by another process", str(tmp)
                )
            write(tmp)
            files = _atomic.sync_tree(tmp, reserved=MANIFEST_NAME)
            manifest = dump_manifest(
                name=name,
                created=created,
                sequence=sequence,
                files=files,
                metadata=metadata,
            )
            _atomic.write_new_file(tmp / MANIFEST_NAME, manifest)
            _atomic.fsync_dir(tmp)
            target = self._root / name
            if os.path.lexists(target):
                raise FileExistsError(errno.EEXIST, "already exists", str(target))
            os.rename(tmp, target)
            tmp, final = None, target
            _atomic.fsync_dir(self._root)
            return parse_manifest(final, manifest)
        except BaseException as exc:
            if tmp is not None:
                _atomic.remove_stale(tmp)
            if final is not None:
                # renamed, but not known to be durable: undo, so failure means absence
                try:
                    _atomic.remove_tree(final)
                except OSError as undo:
                    _log.warning(
                        "could not remove %s after a failed save: %s", final, undo
                    )
            if isinstance(exc, Exception):
                raise CheckpointSaveError(self._root, exc) from exc
            raise
        finally:
            if lock_fd is not None:
                _atomic.unlock(lock_fd)

    def _next_slot(self) -> tuple[datetime, int]:
        """The time (= name) and the sequence number of the next checkpoint."""
        created = datetime.now(UTC)
        names = self._checkpoint_names()
        if names:
            newest = _name_time(names[-1])
            if newest is not None and created <= newest:
                created = newest + _ONE_MICROSECOND
        last = 0
        for name in reversed(names):
            try:
                raw = (self._root / name / MANIFEST_NAME).read_bytes()
            except OSError:
                continue
            sequence = peek_sequence(raw)
            if sequence is not None:
                last = sequence
                break
        return created, last + 1

    def _apply_retention(self, just_saved: Checkpoint) -> None:
        if self._retention.keep_last is None:
            return
        try:
            expired = self._retention.expired(self.list(), protect=just_saved)
        except OSError as exc:
            _log.warning("retention skipped in %s: %s", self._root, exc)
            return
        for checkpoint in expired:
            try:
                mark_temporary(checkpoint.path)  # so a half-done removal is ours
                _atomic.remove_tree(checkpoint.path)
            except OSError as exc:
                _log.warning(
                    "could not remove expired checkpoint %s: %s", checkpoint.path, exc
                )
            else:
                _log.debug("removed expired checkpoint %s", checkpoint.path)

    # -- reading -------------------------------------------------------------------

    def list(self) -> builtins.list[Checkpoint]:
        """List the complete checkpoints, oldest first.

        A checkpoint is complete when its manifest is there and valid, and every file
        it lists exists with the listed size. Directories that fail this (an
        interrupted copy, a checkpoint with a file deleted, one from a newer
        aiotrainer) are skipped with a logged warning, and never deleted. Checksums are
        not read here: see :meth:`verify`.

        :raises OSError: when the root cannot be read.
        """
        found = []
        for name in self._checkpoint_names():
            checkpoint = self._load_or_skip(name)
            if checkpoint is not None:
                found.append(checkpoint)
        return found

    def unreadable(self) -> builtins.list[tuple[str, str]]:
        """The directories named like checkpoints that :meth:`list` skips, with
        why each is skipped (missing manifest, a file missing or truncated, a
        newer format), oldest first. Nothing is read beyond manifests and sizes.

        :raises OSError: when the root cannot be read.
        """
        refused = []
        for name in self._checkpoint_names():
            try:
                _load(self._root / name)
            except (CorruptCheckpointError, CheckpointVersionError, OSError) as exc:
                if os.path.lexists(self._root / name):
                    refused.append((name, str(exc)))
        return refused

    def latest(self) -> Checkpoint | None:
        """Return the newest complete checkpoint, or ``None`` when there is none.

        Incomplete directories are skipped as in :meth:`list`. It does not read the
        checksums: call :meth:`verify` on the result before loading it.

        :raises OSError: when the root cannot be read.
        """
        for name in reversed(self._checkpoint_names()):
            checkpoint = self._load_or_skip(name)
            if checkpoint is not None:
                return checkpoint
        return None

    def resolve(self, ref: str | os.PathLike[str]) -> Checkpoint:
        """Find a checkpoint by ``"latest"``, by name, or by path.

        A str without a path separator is a name in the root (``"latest"`` is the
        newest complete checkpoint); anything else is a path to a checkpoint
        directory, which may lie outside the root. Checksums are not read: call
        :meth:`verify` before loading.

        :param ref: ``"latest"``, a checkpoint's name, or its path.
        :raises CheckpointNotFoundError: when nothing answers to ``ref``; the message
            lists the checkpoints there are.
        :raises CorruptCheckpointError: when the directory exists but is not a
            complete checkpoint (no manifest, a file missing or of the wrong size).
        :raises CheckpointVersionError: when it was written by a newer aiotrainer.
        """
        if isinstance(ref, str) and ref == "latest":
            latest = self.latest()
            if latest is None:
                raise CheckpointNotFoundError(ref, self._root, [])
            return latest
        if not isinstance(ref, str | os.PathLike) or isinstance(os.fspath(ref), bytes):
            raise TypeError(f"ref must be 'latest', a name or a path, got {ref!r}")
        text = os.fspath(ref)
        is_name = isinstance(ref, str) and not any(
            sep in text for sep in (os.sep, os.altsep) if sep
        )
        if is_name:
            path = self._root / text
            exists = text != "" and not text.startswith(".") and path.is_dir()
        else:
            path = Path(text).absolute()
            exists = path.is_dir()
        if not exists:
            raise CheckpointNotFoundError(
                text, self._root, [c.name for c in self.list()]
            )
        return _load(path)

    def verify(self, checkpoint: Checkpoint | str | os.PathLike[str]) -> Checkpoint:
        """Check every file of a checkpoint against its manifest: size and sha256.

        This reads the whole checkpoint. It changes nothing on disk: a corrupt
        checkpoint stays where it is, and the others stay loadable.

        :param checkpoint: a :class:`Checkpoint`, or what :meth:`resolve` takes.
        :raises CorruptCheckpointError: naming the first file that is missing, of
            the wrong size, or whose checksum differs, with expected and found.
        :raises CheckpointVersionError: when it was written by a newer aiotrainer.
        :raises CheckpointNotFoundError: see :meth:`resolve`.
        :return: the checkpoint, as its manifest on disk describes it now.
        """
        if isinstance(checkpoint, Checkpoint):
            current = _load(checkpoint.path)
            if checkpoint.files != current.files:
                raise CorruptCheckpointError(
                    current.path,
                    f"{MANIFEST_NAME} changed since the checkpoint was read",
                )
        else:
            current = self.resolve(checkpoint)
        _check_files(current)
        return current

    # -- housekeeping --------------------------------------------------------------

    def clean_stale(self) -> builtins.list[Path]:
        """Remove the temporary directories left in the root by crashed saves.

        Only directories that carry the store's marker file are removed: a
        user's own ``.tmp-notes/`` is never touched. A save in progress (in this
        process or another one) holds a lock on its temporary directory and is
        left alone. A read-only store removes nothing.

        :raises OSError: when the root cannot be read.
        :return: the directories removed.
        """
        removed: builtins.list[Path] = []
        if self._read_only:
            return removed
        with os.scandir(self._root) as it:
            stale = [
                Path(e.path)
                for e in it
                if e.name.startswith(_atomic.TMP_PREFIX)
                and e.is_dir(follow_symlinks=False)
                and _is_ours(Path(e.path))
            ]
        for path in sorted(stale):
            try:
                fd = _atomic.lock_dir_nowait(path)
            except FileNotFoundError:
                continue  # removed meanwhile
            except OSError as exc:
                _log.warning("could not inspect %s: %s", path, exc)
                continue
            if fd is None:
                continue  # a save in progress holds it
            try:
                _atomic.remove_stale(path)
            finally:
                _atomic.unlock(fd)
            _log.info("removed stale temporary directory %s", path)
            removed.append(path)
        return removed

    # -- internals -----------------------------------------------------------------

    def _checkpoint_names(self) -> builtins.list[str]:
        """Names in the root that the store gave, sorted oldest first."""
        with os.scandir(self._root) as it:
            return sorted(e.name for e in it if _name_time(e.name) is not None)

    def _load_or_skip(self, name: str) -> Checkpoint | None:
        path = self._root / name
        try:
            return _load(path)
        except (CorruptCheckpointError, CheckpointVersionError, OSError) as exc:
            if not os.path.lexists(path):
                return None  # removed meanwhile (retention)
            if name not in self._warned:
                self._warned.add(name)
                _log.warning("skipping %s: %s", path, exc)
            return None


TEMPORARY_MARKER = _atomic.TMP_MARKER


def mark_temporary(directory: Path) -> None:
    """Mark ``directory`` as the store's own temporary directory."""
    with open(directory / TEMPORARY_MARKER, "w", encoding="utf-8") as f:
        f.write("made by aiotrainer; removed with this directory\n")


def is_marked_temporary(directory: Path) -> bool:
    """Whether ``directory`` carries the store's marker (a regular file)."""
    try:
        return stat.S_ISREG(os.lstat(directory / TEMPORARY_MARKER).st_mode)
    except OSError:
        return False


#: The names ``mkdtemp`` gives the store's temporary directories.
_TMP_NAME_RE = re.compile(
    re.escape(_atomic.TMP_PREFIX)
    + r"(?:capture|\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{6}Z)-[a-z0-9_]{8}"
)


def _is_ours(directory: Path) -> bool:
    """A marked temporary directory, or an empty one with the exact name the
    store gives (a crash between its creation and its marking)."""
    if is_marked_temporary(directory):
        return True
    if not _TMP_NAME_RE.fullmatch(directory.name):
        return False
    try:
        with os.scandir(directory) as it:
            return next(it, None) is None
    except OSError:
        return False


def verify_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and fully verify the checkpoint directory ``path``, read-only.

    Unlike opening a :class:`CheckpointStore` on its parent, this creates, changes and
    cleans nothing: use it for a checkpoint outside any store you own.

    :raises CheckpointNotFoundError: when ``path`` is not a directory.
    :raises CorruptCheckpointError: naming the first bad file.
    :raises CheckpointVersionError: when it was written by a newer aiotrainer.
    """
    directory = Path(path).absolute()
    if not directory.is_dir():
        raise CheckpointNotFoundError(str(path), directory.parent, [])
    checkpoint = _load(directory)
    _check_files(checkpoint)
    return checkpoint


def _check_files(current: Checkpoint) -> None:
    for entry in current.files:
        path = current.path.joinpath(*entry.path.split("/"))
        try:
            size, sha256 = _atomic.hash_file(path)
        except FileNotFoundError:
            raise CorruptCheckpointError(
                current.path, f"file {entry.path!r} is missing", file=entry.path
            ) from None
        if size != entry.size:
            raise _wrong_size(current.path, entry, size)
        if sha256 != entry.sha256:
            raise CorruptCheckpointError(
                current.path,
                f"file {entry.path!r} has sha256 {sha256}, expected {entry.sha256}",
                file=entry.path,
            )


def _load(path: Path) -> Checkpoint:
    """Read the checkpoint in ``path``; check its files exist with their sizes."""
    try:
        raw = (path / MANIFEST_NAME).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        raise CorruptCheckpointError(
            path,
            f"{MANIFEST_NAME} is missing (an incomplete copy, or not a checkpoint)",
        ) from None
    checkpoint = parse_manifest(path, raw)
    for entry in checkpoint.files:
        try:
            st = os.lstat(path.joinpath(*entry.path.split("/")))
        except (FileNotFoundError, NotADirectoryError):
            raise CorruptCheckpointError(
                path, f"file {entry.path!r} is missing", file=entry.path
            ) from None
        if not stat.S_ISREG(st.st_mode):
            raise CorruptCheckpointError(
                path, f"file {entry.path!r} is not a regular file", file=entry.path
            )
        if st.st_size != entry.size:
            raise _wrong_size(path, entry, st.st_size)
    return checkpoint


def _wrong_size(path: Path, entry: CheckpointFile, size: int) -> CorruptCheckpointError:
    truncated = " (truncated)" if size < entry.size else ""
    return CorruptCheckpointError(
        path,
        f"file {entry.path!r} is {size} bytes, expected {entry.size}{truncated}",
        file=entry.path,
    )


def is_checkpoint_name(name: str) -> bool:
    """Whether ``name`` is one the store gives its checkpoints."""
    return _name_time(name) is not None


def _name_time(name: str) -> datetime | None:
    if not _NAME_RE.fullmatch(name):
        return None
    try:
        return datetime.strptime(name, _NAME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def _prepare_root(root: Path) -> None:
    try:
        root.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StateRootError(
            root, f"cannot be created: {exc.strerror or exc}", exc.errno
        ) from exc
    else:
        os.chmod(root, 0o700)  # whatever the umask
        try:
            _atomic.fsync_dir(root.parent)
        except OSError:
            pass  # durability of the empty root is a nicety
        return
    if not root.is_dir():
        raise StateRootError(root, "exists but is not a directory", errno.ENOTDIR)
    if not os.access(root, os.W_OK | os.X_OK):
        raise StateRootError(root, "is not writable by this process", errno.EACCES)


def _check_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping or None, got {metadata!r}")
    bad_keys = [k for k in metadata if not isinstance(k, str)]
    if bad_keys:
        raise TypeError(f"metadata keys must be str, got {bad_keys[0]!r}")
    try:
        # round trip, so the caller gets back exactly what a later list() returns
        result: dict[str, Any] = json.loads(json.dumps(dict(metadata), allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        raise TypeError(
            "metadata must be JSON-serializable (str keys; str, int, finite float, "
            f"bool, None, lists and dicts of them): {exc}"
        ) from exc
    return result
