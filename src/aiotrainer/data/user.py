"""The trainer's side of a data stream: a buffer fed by a collector."""

from __future__ import annotations

import pickle
import shutil
import tempfile
import threading
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, Generic, TypeVar

from ..state.persistence import PersistentStateMixin
from .buffer import DataBuffer
from .collector import DataCollector

__all__ = ["DataUser", "DataUserStatistics"]

B = TypeVar("B", bound=DataBuffer[Any, Any])


@dataclass(frozen=True)
class DataUserStatistics:
    """Counters of one data stream.

    ``collected + restored == pending + stored + dropped`` holds whenever producers
    are quiet: every item collected (or loaded from a checkpoint) is waiting, in the
    buffer, or counted as dropped.
    """

    collected: int
    """Items collected since start."""
    pending: int
    """Items collected and not yet moved into the buffer."""
    stored: int
    """Items in the buffer now."""
    dropped: int
    """Items lost to a full collector queue or evicted/rejected by the buffer."""
    dropped_in_queue: int
    """The part of ``dropped`` lost to a full collector queue."""
    dropped_in_buffer: int
    """The part of ``dropped`` evicted or rejected by the buffer."""
    restored: int = 0
    """Items the buffer held after the last ``load_state()``."""


def _dump_stamps(stamps: list[float], directory: Path) -> None:
    with open(directory / "timestamps.pkl", "wb") as f:
        pickle.dump(stamps, f, protocol=pickle.HIGHEST_PROTOCOL)


def _move(source: Path, destination: Path) -> None:
    if source != destination:
        source.rename(destination)


class _Staged:
    """A buffer's save_state() output, written to a private temporary directory."""

    def __init__(self, save: Callable[[Path], None]) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="aiotrainer-stage-"))
        # removed when this object goes away, even if the writer is never called
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, True)
        try:
            save(self._dir / "buffer")
        except BaseException:
            self._cleanup()
            raise

    def move_into(self, path: Path) -> None:
        try:
            for entry in self._dir.iterdir():
                shutil.move(str(entry), str(path / entry.name))
        finally:
            self._cleanup()


class DataUser(PersistentStateMixin, Generic[B]):
    """A buffer, the collector that feeds it, and the timestamps of its items.

    Producers call ``collector.collect(x)``; a trainer calls :meth:`update` (the
    built-in trainability check does it for you) to move the collected items into
    the buffer, then :meth:`get_data`. All methods are thread-safe.

    :param buffer: the :class:`DataBuffer` to fill.
    :raises TypeError: if ``buffer`` is not a DataBuffer.
    """

    def __init__(self, buffer: B) -> None:
        if not isinstance(buffer, DataBuffer):
            raise TypeError(
                f"DataUser needs a DataBuffer, got {type(buffer).__name__}: {buffer!r}"
            )
        self._buffer = buffer
        self._collector: DataCollector[Any] = DataCollector(buffer.max_queue_size)
        # pamiq-core's bound: at most max_queue_size timestamps (None: unbounded)
        self._timestamps: deque[float] = deque(maxlen=buffer.max_queue_size)
        self._lock = threading.RLock()
        self._dropped_in_buffer = 0
        self._restored = 0
        # len(buffer) as of the last update(), readable without the lock: the
        # scheduler's pre-check reads it on the event loop.
        self.stored_hint = 0

    @property
    def buffer(self) -> B:
        """The buffer (touch it only under :meth:`update`'s rules: via this user)."""
        return self._buffer

    @property
    def collector(self) -> DataCollector[Any]:
        """The collector that feeds this user."""
        return self._collector

    def update(self) -> int:
        """Move every collected item into the buffer, with its timestamp.

        :return: the number of items moved.
        """
        if not self._collector.pending:
            return 0
        with self._lock:
            items = self._collector.drain()
            if not items:
                return 0
            buffer = self._buffer
            before = len(buffer)
            add = buffer.add
            added = 0
            try:
                for item, _ in items:
                    add(item)
                    added += 1
            finally:
                # An add() that raised loses its item and those after it (they
                # were drained): count them as dropped, keep the rest consistent.
                done = items if added == len(items) else items[:added]
                self._timestamps.extend(map(itemgetter(1), done))
                after = len(buffer)
                self._dropped_in_buffer += before + len(items) - after
                self.stored_hint = after
            return len(items)

    def get_data(self) -> Any:
        """Move the collected items in (:meth:`update`), then return the buffer's
        data (what its ``get_data()`` returns), as pamiq-core does."""
        with self._lock:
            self.update()
            return self._buffer.get_data()

    def count_data_added_since(self, timestamp: float) -> int:
        """Count the items moved into the buffer that were collected strictly
        after ``timestamp``.

        At most ``max_queue_size`` timestamps are kept (pamiq-core's bound), so
        the count never exceeds it.

        :param timestamp: an :func:`aiotrainer.time.time` value.
        """
        with self._lock:
            count = 0
            for t in reversed(self._timestamps):
                if t <= timestamp:
                    break
                count += 1
            return count

    def __len__(self) -> int:
        with self._lock:
            return len(self._buffer)

    def statistics(self) -> DataUserStatistics:
        """Return the counters of this stream."""
        with self._lock:
            c = self._collector
            collected, pending, in_queue = c.collected, c.pending, c.dropped
            stored = len(self._buffer)
            return DataUserStatistics(
                collected=collected,
                pending=pending,
                stored=stored,
                dropped=in_queue + self._dropped_in_buffer,
                dropped_in_queue=in_queue,
                dropped_in_buffer=self._dropped_in_buffer,
                restored=self._restored,
            )

    def save_state(self, path: Path) -> None:
        """Update, then save the buffer (``path/buffer``) and the timestamps
        (``path/timestamps.pkl``) into the new directory ``path``."""
        with self._lock:
            self.update()
            path.mkdir()
            self._buffer.save_state(path / "buffer")
            _dump_stamps(list(self._timestamps), path)

    def capture_state(self, staging: Path | None = None) -> Callable[[Path], None]:
        """Update and snapshot now; the returned function writes what
        :meth:`save_state` would have written at this moment.

        Cheap when the buffer offers ``capture_state()`` (the built-in ones do).
        Otherwise :meth:`save_state` runs right away into ``staging`` (a path
        that does not exist yet, on the same filesystem as the destination: the
        service passes one inside the checkpoint's own staging directory) and the
        writer renames it into place. Without ``staging`` it goes to a private
        temporary directory.

        :param staging: where to stage a buffer that has no ``capture_state()``.
        """
        with self._lock:
            self.update()
            stamps = list(self._timestamps)
            buffer_writer = self._buffer.capture_state()
            if buffer_writer is None:
                if staging is not None:
                    self.save_state(staging)
                    return lambda path: _move(staging, path)
                staged = _Staged(self._buffer.save_state)
            else:
                staged = None

        def write(path: Path) -> None:
            path.mkdir()
            if staged is not None:
                staged.move_into(path)
            else:
                assert buffer_writer is not None
                buffer_writer(path / "buffer")
            _dump_stamps(stamps, path)

        return write

    def load_state(self, path: Path) -> None:
        """Load what :meth:`save_state` wrote (trusted input: pickle)."""
        with self._lock:
            before = len(self._buffer)
            self._buffer.load_state(path / "buffer")
            with open(path / "timestamps.pkl", "rb") as f:
                stamps: list[float] = pickle.load(f)
            self._timestamps = deque(stamps, maxlen=self._buffer.max_queue_size)
            self.stored_hint = len(self._buffer)
            # what the buffer held before is replaced: count it as dropped
            self._dropped_in_buffer += before
            self._restored += len(self._buffer)

    def __repr__(self) -> str:
        return f"<DataUser buffer={type(self._buffer).__name__} len={len(self)}>"
