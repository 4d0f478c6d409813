"""Retention: the newest keep_last checkpoints, plus every keep_every-th one."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import pytest

from aiotrainer.state import Checkpoint, CheckpointStore, RetentionPolicy


def write(directory: Path) -> None:
    (directory / "weights.bin").write_bytes(b"w" * 100)


def sequences(store: CheckpointStore) -> list[int]:
    return [c.sequence for c in store.list()]


def visible(root: Path) -> list[str]:
    return sorted(os.listdir(root))


class TestStoreRetention:
    def test_keep_all_by_default(self, tmp_path: Path) -> None:
        store = CheckpointStore(tmp_path)
        for _ in range(6):
            store.save(write)
        assert sequences(store) == [1, 2, 3, 4, 5, 6]

    def test_keep_last(self, tmp_path: Path) -> None:
        store = CheckpointStore(tmp_path, keep_last=3)
        saved = [store.save(write) for _ in range(10)]
        assert store.list() == saved[-3:]
        # removed for good: no leftover, visible or hidden
        assert visible(tmp_path) == sorted(c.name for c in saved[-3:])

    def test_keep_last_one(self, tmp_path: Path) -> None:
        store = CheckpointStore(tmp_path, keep_last=1)
        for _ in range(4):
            last = store.save(write)
            assert store.list() == [last]

    def test_keep_every_keeps_long_term_history(self, tmp_path: Path) -> None:
        store = CheckpointStore(tmp_path, keep_last=2, keep_every=4)
        for _ in range(10):
            store.save(write)
        assert sequences(store) == [4, 8, 9, 10]
        for _ in range(3):
            store.save(write)
        assert sequences(store) == [4, 8, 12, 13]

    def test_keep_every_without_keep_last_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="keep_every=3 needs keep_last"):
            CheckpointStore(tmp_path, keep_every=3)
        assert list(tmp_path.iterdir()) == []

    def test_sequence_survives_a_new_store_on_the_same_root(
        self, tmp_path: Path
    ) -> None:
        store = CheckpointStore(tmp_path, keep_last=1, keep_every=3)
        for _ in range(4):
            store.save(write)
        store = CheckpointStore(tmp_path, keep_last=1, keep_every=3)
        for _ in range(2):
            store.save(write)
        assert sequences(store) == [3, 6]

    def test_foreign_and_incomplete_directories_are_never_deleted(
        self, tmp_path: Path
    ) -> None:
        store = CheckpointStore(tmp_path, keep_last=1)
        first = store.save(write)
        shutil.copytree(first.path, tmp_path / "best")
        broken = store.save(write)
        (broken.path / "weights.bin").unlink()
        for _ in range(3):
            last = store.save(write)
        assert store.list() == [last]
        assert (tmp_path / "best" / "manifest.json").exists()
        assert broken.path.exists()


def checkpoint(sequence: int) -> Checkpoint:
    return Checkpoint(
        path=Path(f"/ckpt/{sequence:04d}"),
        name=f"{sequence:04d}",
        created=datetime(2026, 1, 1, tzinfo=UTC),
        format_version=1,
        metadata=MappingProxyType({}),
        files=(),
        sequence=sequence,
    )


class TestRetentionPolicy:
    @pytest.mark.parametrize(
        ("keep_last", "keep_every", "kept"),
        [
            (None, None, [1, 2, 3, 4, 5, 6, 7]),
            (3, None, [5, 6, 7]),
            (2, 3, [3, 6, 7]),
            (1, 1, [1, 2, 3, 4, 5, 6, 7]),
            (10, None, [1, 2, 3, 4, 5, 6, 7]),
        ],
        ids=["all", "last3", "last2-every3", "every1", "more-than-all"],
    )
    def test_expired(
        self, keep_last: int | None, keep_every: int | None, kept: list[int]
    ) -> None:
        checkpoints = [checkpoint(i) for i in range(1, 8)]
        policy = RetentionPolicy(keep_last=keep_last, keep_every=keep_every)
        expired = policy.expired(checkpoints)
        assert [c.sequence for c in checkpoints if c not in expired] == kept
        assert expired == [c for c in checkpoints if c.sequence not in kept]

    def test_the_protected_one_is_kept_whatever_its_position(self) -> None:
        checkpoints = [checkpoint(i) for i in range(1, 6)]
        expired = RetentionPolicy(keep_last=1).expired(
            checkpoints, protect=checkpoints[1]
        )
        assert [c.sequence for c in expired] == [1, 3, 4]

    def test_checkpoints_are_hashable(self) -> None:
        assert len({checkpoint(1), checkpoint(1), checkpoint(2)}) == 2

    @pytest.mark.parametrize(
        ("kwargs", "exc", "match"),
        [
            ({"keep_last": 0}, ValueError, "keep_last must be >= 1, got 0"),
            ({"keep_every": -1}, ValueError, "keep_every must be >= 1, got -1"),
            ({"keep_every": "2"}, TypeError, "keep_every must be an int or None"),
        ],
        ids=["last-zero", "every-negative", "every-str"],
    )
    def test_validation(
        self, kwargs: dict[str, object], exc: type[Exception], match: str
    ) -> None:
        with pytest.raises(exc, match=match):
            RetentionPolicy(**kwargs)  # type: ignore[arg-type]
