"""Checksums computed while a checkpoint's files are written, not read back."""

from __future__ import annotations

import array
import hashlib
import os
import pickle
import threading
from pathlib import Path

import pytest

from aiotrainer import SequentialBuffer
from aiotrainer.state import CheckpointStore, CorruptCheckpointError, _hasher
from aiotrainer.state._atomic import HashingWriter, sync_tree

DATA = os.urandom(300_000)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_hashed(path: Path, data: bytes = DATA) -> None:
    with HashingWriter(path) as f:
        f.write(data[:1000])
        f.write(memoryview(data)[1000:])


def tamper_keeping_size_and_mtime(path: Path) -> bytes:
    """Flip a byte in place and put the mtime back: invisible but to a re-read."""
    before = os.stat(path)
    data = bytearray(path.read_bytes())
    data[12345] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    return bytes(data)


class TestHashingWriter:
    def test_writes_the_bytes_and_their_digest(self, tmp_path: Path) -> None:
        write_hashed(tmp_path / "f")
        assert (tmp_path / "f").read_bytes() == DATA
        assert sync_tree(tmp_path, reserved="manifest.json") == [
            ("f", len(DATA), sha(DATA))
        ]

    def test_the_digest_comes_from_the_write_not_a_read_back(
        self, tmp_path: Path
    ) -> None:
        write_hashed(tmp_path / "f")
        tamper_keeping_size_and_mtime(tmp_path / "f")
        # the recorded digest (of what was written) is used, unread
        assert sync_tree(tmp_path, reserved="manifest.json") == [
            ("f", len(DATA), sha(DATA))
        ]

    def test_a_file_changed_after_closing_is_read_back(self, tmp_path: Path) -> None:
        write_hashed(tmp_path / "f")
        with open(tmp_path / "f", "ab") as f:
            f.write(b"more")
        assert sync_tree(tmp_path, reserved="manifest.json") == [
            ("f", len(DATA) + 4, sha(DATA + b"more"))
        ]

    def test_a_digest_is_used_once(self, tmp_path: Path) -> None:
        write_hashed(tmp_path / "f")
        sync_tree(tmp_path, reserved="manifest.json")
        changed = tamper_keeping_size_and_mtime(tmp_path / "f")
        assert sync_tree(tmp_path, reserved="manifest.json") == [
            ("f", len(DATA), sha(changed))
        ]

    def test_a_failed_write_records_nothing(self, tmp_path: Path) -> None:
        with (
            pytest.raises(RuntimeError, match="boom"),
            HashingWriter(tmp_path / "f") as f,
        ):
            f.write(b"partial")
            raise RuntimeError("boom")
        assert sync_tree(tmp_path, reserved="manifest.json") == [
            ("f", 7, sha(b"partial"))
        ]

    def test_a_reused_buffer_is_hashed_as_it_was_written(self, tmp_path: Path) -> None:
        """A mutable buffer changed after write() does not change what was
        hashed: the digest is of the bytes that reached the file."""
        big = os.urandom(9 << 20)
        scratch = bytearray(65536)
        with HashingWriter(tmp_path / "big") as f:
            for start in range(0, len(big), 65536):
                scratch[:] = big[start : start + 65536]
                f.write(scratch)
            f.write(b"tail")
        assert sync_tree(tmp_path, reserved="manifest.json") == [
            ("big", len(big) + 4, sha(big + b"tail"))
        ]

    def test_a_large_file_is_hashed_beside_the_writes(self, tmp_path: Path) -> None:
        """Past its first MiB a thread hashes: the digest is still the one of
        what was written, taken without a read-back, and the thread is gone."""
        big = os.urandom(5 << 20)
        write_hashed(tmp_path / "big", big)
        assert not [t for t in threading.enumerate() if t.name == "aiotrainer-hasher"]
        tamper_keeping_size_and_mtime(tmp_path / "big")
        assert sync_tree(tmp_path, reserved="manifest.json") == [
            ("big", len(big), sha(big))
        ]

    def test_a_typed_buffer_is_hashed_as_bytes(self, tmp_path: Path) -> None:
        values = array.array("d", range(300_000))  # 2.4 MB of doubles
        with HashingWriter(tmp_path / "a") as f:
            f.write(memoryview(values)[:100_000])
            f.write(memoryview(values)[100_000:])
        raw = values.tobytes()
        assert (tmp_path / "a").read_bytes() == raw
        assert sync_tree(tmp_path, reserved="manifest.json") == [
            ("a", len(raw), sha(raw))
        ]

    def test_a_failed_large_write_ends_the_hashing_thread(self, tmp_path: Path) -> None:
        with (
            pytest.raises(RuntimeError, match="boom"),
            HashingWriter(tmp_path / "f") as f,
        ):
            f.write(os.urandom(3 << 20))
            raise RuntimeError("boom")
        assert not [t for t in threading.enumerate() if t.name == "aiotrainer-hasher"]

    def test_a_close_that_fails_ends_the_hashing_thread(self, tmp_path: Path) -> None:
        """A flush that fails inside close() (a full disk, here a closed file
        descriptor) must not leave the hashing thread waiting for ever."""
        writer = HashingWriter(tmp_path / "f")
        for _ in range(2100):  # past the first MiB: a thread hashes
            writer.write(os.urandom(1000))  # small: the last ones stay buffered
        os.close(writer._file.fileno())
        with pytest.raises(OSError):
            writer.close()
        assert not [t for t in threading.enumerate() if t.name == "aiotrainer-hasher"]

    def test_a_big_mutable_buffer_is_hashed_as_written_without_a_copy(
        self, tmp_path: Path
    ) -> None:
        head = os.urandom(2 << 20)
        big = bytearray(os.urandom(6 << 20))
        original = bytes(big)
        with HashingWriter(tmp_path / "f") as f:
            f.write(head)
            f.write(big)
            big[:] = bytes(len(big))  # reused at once: what was written counts
            f.write(b"tail")
        assert sync_tree(tmp_path, reserved="manifest.json") == [
            ("f", len(head) + len(original) + 4, sha(head + original + b"tail"))
        ]

    def test_pickle_dumps_through_it(self, tmp_path: Path) -> None:
        items = [os.urandom(4096) for _ in range(100)]
        with HashingWriter(tmp_path / "p.pkl") as f:
            pickle.dump(items, f, protocol=pickle.HIGHEST_PROTOCOL)
        raw = (tmp_path / "p.pkl").read_bytes()
        assert pickle.loads(raw) == items
        assert sync_tree(tmp_path, reserved="manifest.json") == [
            ("p.pkl", len(raw), sha(raw))
        ]


class TestCheckpoints:
    def test_a_buffer_checkpoint_verifies_and_catches_a_flipped_byte(
        self, tmp_path: Path
    ) -> None:
        buffer = SequentialBuffer[bytes](100)
        buffer.add_many([os.urandom(4096) for _ in range(50)])
        store = CheckpointStore(tmp_path / "store")
        checkpoint = store.save(lambda d: buffer.save_state(d / "buffer"))
        assert store.verify(checkpoint) == checkpoint
        raw = (checkpoint.path / "buffer.pkl").read_bytes()
        entry = next(f for f in checkpoint.files if f.path == "buffer.pkl")
        assert entry.sha256 == sha(raw)

        tamper_keeping_size_and_mtime(checkpoint.path / "buffer.pkl")
        with pytest.raises(CorruptCheckpointError, match="'buffer.pkl' has sha256"):
            store.verify(checkpoint)


class TestBackgroundHasher:
    def test_chunks_are_hashed_in_order_under_backpressure(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With little room, feed() waits for the hash; a chunk larger than the
        room goes in once everything before it is hashed."""
        monkeypatch.setattr(_hasher, "PENDING_MAX", 1000)
        chunks = [os.urandom(n) for n in (600, 600, 5000, 10, 999, 3000)] * 20
        digest = hashlib.sha256()
        hasher = _hasher.BackgroundHasher(digest)
        for chunk in chunks:
            hasher.feed(chunk)
        hasher.finish()
        hasher.finish()  # idempotent
        assert digest.hexdigest() == sha(b"".join(chunks))

    def test_abort_drops_what_is_queued_and_ends_the_thread(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(_hasher, "PENDING_MAX", 1 << 30)
        hasher = _hasher.BackgroundHasher(hashlib.sha256())
        for _ in range(50):
            hasher.feed(os.urandom(1 << 20))
        hasher.abort()
        hasher.abort()  # idempotent
        assert not [t for t in threading.enumerate() if t.name == "aiotrainer-hasher"]
