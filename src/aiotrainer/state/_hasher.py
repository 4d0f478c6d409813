"""Hashing beside the writes: a digest fed in order by a thread of its own (internal).

``hashlib`` releases the GIL while it hashes a chunk of 2 KiB or more, so a
thread that only hashes runs beside the thread that pickles and writes: on two
cores a 100 MB buffer pickles, writes and hashes in about the time it takes to
pickle and write it (70 against 105 ms here, measured in the checkpoint
benchmark's setting).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Protocol

__all__ = ["PENDING_MAX", "BackgroundHasher"]

#: Bytes handed over and not hashed yet, at most: a writer that is faster than
#: the hash waits for it rather than holding the whole file in memory. A single
#: larger chunk is taken once everything before it is hashed.
PENDING_MAX = 64 << 20


class _Digest(Protocol):
    def update(self, data: Any, /) -> None: ...


class BackgroundHasher:
    """Feed ``digest`` with the chunks given to :meth:`feed`, in order, in a
    daemon thread; :meth:`finish` waits until all are in.

    :param digest: a ``hashlib`` object; touch it only after :meth:`finish`.
    """

    __slots__ = ("_chunks", "_closed", "_cond", "_digest", "_pending", "_thread")

    def __init__(self, digest: _Digest) -> None:
        self._digest = digest
        self._chunks: deque[bytes] = deque()
        self._pending = 0
        self._closed = False
        self._cond = threading.Condition(threading.Lock())
        self._thread = threading.Thread(
            target=self._run, name="aiotrainer-hasher", daemon=True
        )
        self._thread.start()

    def feed(self, chunk: bytes) -> None:
        """Queue ``chunk`` (immutable: it is hashed later), waiting while more
        than :data:`PENDING_MAX` bytes are queued."""
        size = len(chunk)
        with self._cond:
            while self._pending and self._pending + size > PENDING_MAX:
                self._cond.wait()
            self._chunks.append(chunk)
            self._pending += size
            self._cond.notify_all()

    def wait_idle(self) -> None:
        """Wait until every chunk fed so far is hashed; the digest is then the
        caller's to update until the next :meth:`feed`."""
        with self._cond:
            while self._pending:
                self._cond.wait()

    def finish(self) -> None:
        """Wait until every chunk fed is hashed, and end the thread. Idempotent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    def abort(self) -> None:
        """Drop the chunks not hashed yet and end the thread (the digest is
        then of no use). Idempotent."""
        with self._cond:
            self._pending -= sum(map(len, self._chunks))
            self._chunks.clear()
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    def _run(self) -> None:
        update = self._digest.update
        cond = self._cond
        while True:
            with cond:
                while not self._chunks and not self._closed:
                    cond.wait()
                if not self._chunks:
                    return
                chunk = self._chunks.popleft()
            update(chunk)  # releases the GIL for chunks of 2 KiB and more
            with cond:
                self._pending -= len(chunk)
                cond.notify_all()
