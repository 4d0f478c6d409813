"""CheckpointStore on real files: atomic saves, listing, resolving, verifying, failures."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import stat
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aiotrainer import AiotrainerError, UnknownNameError
from aiotrainer.state import (
    Checkpoint,
    CheckpointNotFoundError,
    CheckpointSaveError,
    CheckpointStore,
    CheckpointVersionError,
    CorruptCheckpointError,
    StateRootError,
)
from aiotrainer.state.store import mark_temporary

FILES = {"model.bin": bytes(range(256)) * 8, "trainer/state.txt": b"42\n"}


def writer(files: Mapping[str, bytes] = FILES) -> Callable[[Path], None]:
    """A ``write`` callback that writes ``files`` (relative paths) into the directory."""

    def write(directory: Path) -> None:
        for rel, data in files.items():
            path = directory / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    return write


def entries(root: Path) -> list[str]:
    return sorted(os.listdir(root))


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "checkpoints"


@pytest.fixture
def store(root: Path) -> CheckpointStore:
    return CheckpointStore(root)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


class TestSave:
    def test_round_trip(self, store: CheckpointStore) -> None:
        checkpoint = store.save(writer(), metadata={"step": 3, "tags": ["a", "b"]})

        assert checkpoint.path.parent == store.root
        assert checkpoint.name == checkpoint.path.name
        assert checkpoint.format_version == CheckpointStore.format_version == 1
        assert checkpoint.sequence == 1
        assert dict(checkpoint.metadata) == {"step": 3, "tags": ["a", "b"]}
        assert checkpoint.created.tzinfo is not None
        assert abs((datetime.now(UTC) - checkpoint.created).total_seconds()) < 60
        assert [(f.path, f.size) for f in checkpoint.files] == [
            ("model.bin", 2048),
            ("trainer/state.txt", 3),
        ]
        for rel, data in FILES.items():
            assert (checkpoint.path / rel).read_bytes() == data
        assert store.list() == [checkpoint]
        assert store.latest() == checkpoint
        assert store.resolve("latest") == checkpoint
        assert store.resolve(checkpoint.name) == checkpoint
        assert store.resolve(checkpoint.path) == checkpoint
        assert store.verify(checkpoint) == checkpoint
        assert entries(store.root) == [checkpoint.name]

    def test_manifest_is_written_last_and_describes_everything(
        self, store: CheckpointStore
    ) -> None:
        checkpoint = store.save(writer(), metadata={"note": "hi"})
        manifest = json.loads((checkpoint.path / "manifest.json").read_text())

        assert manifest["format_version"] == 1
        assert manifest["name"] == checkpoint.name
        assert datetime.fromisoformat(manifest["created"]) == checkpoint.created
        assert manifest["sequence"] == 1
        assert manifest["metadata"] == {"note": "hi"}
        assert [f["path"] for f in manifest["files"]] == sorted(FILES)
        for listed in manifest["files"]:
            assert listed["size"] == len(FILES[listed["path"]])
            assert len(listed["sha256"]) == 64

    def test_write_gets_a_private_temporary_directory_under_root(
        self, store: CheckpointStore
    ) -> None:
        seen: list[tuple[Path, int, list[str]]] = []

        def write(directory: Path) -> None:
            seen.append((directory, mode(directory), entries(store.root)))
            (directory / "x").write_bytes(b"x")

        checkpoint = store.save(write)

        [(directory, dir_mode, visible)] = seen
        assert directory.parent == store.root
        assert directory.name.startswith(".tmp-")
        assert dir_mode == 0o700
        assert visible == [directory.name]  # nothing under a final name yet
        assert not directory.exists()
        assert entries(store.root) == [checkpoint.name]

    def test_empty_state_is_a_valid_checkpoint(self, store: CheckpointStore) -> None:
        checkpoint = store.save(lambda directory: None)
        assert checkpoint.files == ()
        assert store.verify("latest") == checkpoint

    def test_back_to_back_saves_get_unique_increasing_names(
        self, store: CheckpointStore
    ) -> None:
        saved = [store.save(writer({"f": b"%d" % i})) for i in range(30)]
        names = [c.name for c in saved]
        assert len(set(names)) == 30
        assert names == sorted(names)
        assert [c.sequence for c in saved] == list(range(1, 31))
        assert store.list() == saved

    def test_name_after_a_newer_one_on_disk_sorts_after_it(
        self, store: CheckpointStore
    ) -> None:
        # A clock that went backwards, or two saves in one microsecond: the next
        # name is one microsecond after the newest there is.
        first = store.save(writer())
        future = store.root / "2999-12-31T23-59-59.999998Z"
        first.path.rename(future)

        second = store.save(writer())
        third = store.save(writer())

        assert second.name == "2999-12-31T23-59-59.999999Z"
        assert third.name == "3000-01-01T00-00-00.000000Z"
        assert [c.name for c in store.list()] == [future.name, second.name, third.name]
        assert [c.sequence for c in store.list()] == [1, 2, 3]

    def test_concurrent_saves_from_threads_get_distinct_checkpoints(
        self, store: CheckpointStore
    ) -> None:
        results: list[Checkpoint] = []
        lock = threading.Lock()

        def work(k: int) -> None:
            for i in range(5):
                checkpoint = store.save(writer({"f": b"%d-%d" % (k, i)}))
                with lock:
                    results.append(checkpoint)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert len({c.name for c in results}) == 20
        assert sorted(c.sequence for c in results) == list(range(1, 21))
        assert store.list() == sorted(results, key=lambda c: c.name)

    def test_metadata_comes_back_as_json(self, store: CheckpointStore) -> None:
        checkpoint = store.save(writer(), metadata={"pair": (1, 2)})
        assert checkpoint.metadata == {"pair": [1, 2]}
        assert store.latest() == checkpoint

    @pytest.mark.parametrize(
        ("metadata", "match"),
        [
            ({"f": object()}, "JSON-serializable"),
            ({1: "x"}, "keys must be str"),
            ({"nan": float("nan")}, "JSON-serializable"),
            (["not", "a", "mapping"], "must be a mapping"),
        ],
        ids=["object", "int-key", "nan", "list"],
    )
    def test_bad_metadata_is_refused_before_writing(
        self, store: CheckpointStore, metadata: object, match: str
    ) -> None:
        with pytest.raises(TypeError, match=match):
            store.save(writer(), metadata=metadata)  # type: ignore[arg-type]
        assert entries(store.root) == []

    def test_write_must_be_callable(self, store: CheckpointStore) -> None:
        with pytest.raises(TypeError, match="write must be a callable"):
            store.save("not callable")  # type: ignore[arg-type]


class TestSaveFailures:
    def test_write_raising_enospc_leaves_nothing(self, store: CheckpointStore) -> None:
        before = store.save(writer())

        def write(directory: Path) -> None:
            (directory / "half.bin").write_bytes(b"x" * 1000)
            raise OSError(errno.ENOSPC, "No space left on device")

        with pytest.raises(CheckpointSaveError) as info:
            store.save(write)

        err = info.value
        assert isinstance(err, OSError)
        assert isinstance(err, AiotrainerError)
        assert err.errno == errno.ENOSPC
        assert isinstance(err.__cause__, OSError)
        assert str(store.root) in str(err)
        assert "No space left on device" in str(err)
        assert entries(store.root) == [before.name]
        assert store.list() == [before]

    @pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
    def test_a_real_enospc_leaves_nothing(self, store: CheckpointStore) -> None:
        # /dev/full fails every write with ENOSPC, from the kernel itself.
        def write(directory: Path) -> None:
            (directory / "small.txt").write_text("fits")
            (directory / "weights.bin").symlink_to("/dev/full")
            with open(directory / "weights.bin", "wb") as f:
                f.write(b"\0" * 65536)

        with pytest.raises(CheckpointSaveError) as info:
            store.save(write)

        assert info.value.errno == errno.ENOSPC
        assert entries(store.root) == []
        assert store.latest() is None

    @pytest.mark.parametrize(
        ("exc", "match"),
        [
            (ValueError("bad tensor"), "ValueError: bad tensor"),
            (KeyError("w"), "KeyError"),
        ],
        ids=["ValueError", "KeyError"],
    )
    def test_any_error_from_write_is_wrapped(
        self, store: CheckpointStore, exc: Exception, match: str
    ) -> None:
        def write(directory: Path) -> None:
            raise exc

        with pytest.raises(CheckpointSaveError, match=match) as info:
            store.save(write)
        assert info.value.__cause__ is exc
        assert info.value.errno is None
        assert entries(store.root) == []

    def test_keyboard_interrupt_cleans_up_and_is_not_wrapped(
        self, store: CheckpointStore
    ) -> None:
        def write(directory: Path) -> None:
            (directory / "f").write_bytes(b"x")
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            store.save(write)
        assert entries(store.root) == []

    def test_reserved_manifest_name_is_refused(self, store: CheckpointStore) -> None:
        with pytest.raises(CheckpointSaveError, match="'manifest.json'.*reserves"):
            store.save(writer({"manifest.json": b"{}"}))
        assert entries(store.root) == []

    def test_symlinks_are_refused(self, store: CheckpointStore, tmp_path: Path) -> None:
        outside = tmp_path / "outside.bin"
        outside.write_bytes(b"data")

        def write(directory: Path) -> None:
            (directory / "link.bin").symlink_to(outside)

        with pytest.raises(CheckpointSaveError, match="'link.bin'.*symlink"):
            store.save(write)
        assert entries(store.root) == []
        assert outside.read_bytes() == b"data"

    def test_root_removed_after_construction(self, store: CheckpointStore) -> None:
        shutil.rmtree(store.root)
        with pytest.raises(CheckpointSaveError, match="could not save") as info:
            store.save(writer())
        assert info.value.errno == errno.ENOENT
        assert str(store.root) in str(info.value)

    @pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permissions")
    def test_read_only_root_fails_with_eacces(self, store: CheckpointStore) -> None:
        os.chmod(store.root, 0o500)
        try:
            with pytest.raises(CheckpointSaveError) as info:
                store.save(writer())
        finally:
            os.chmod(store.root, 0o700)
        assert info.value.errno == errno.EACCES
        assert entries(store.root) == []


class TestList:
    def test_oldest_first(self, store: CheckpointStore) -> None:
        saved = [store.save(writer(), metadata={"i": i}) for i in range(5)]
        assert store.list() == saved
        assert [c.metadata["i"] for c in store.list()] == [0, 1, 2, 3, 4]
        assert store.latest() == saved[-1]

    def test_empty_store(self, store: CheckpointStore) -> None:
        assert store.list() == []
        assert store.latest() is None

    def _older_and_newer(self, store: CheckpointStore) -> tuple[Checkpoint, Checkpoint]:
        return store.save(writer()), store.save(writer())

    def test_latest_skips_a_directory_without_manifest(
        self, store: CheckpointStore
    ) -> None:
        older, newer = self._older_and_newer(store)
        (newer.path / "manifest.json").unlink()
        assert store.latest() == older
        assert store.list() == [older]
        assert newer.path.exists()  # skipped, not deleted

    def test_latest_skips_a_truncated_manifest(self, store: CheckpointStore) -> None:
        older, newer = self._older_and_newer(store)
        manifest = newer.path / "manifest.json"
        manifest.write_bytes(manifest.read_bytes()[:100])
        assert store.latest() == older
        assert store.list() == [older]

    def test_latest_skips_a_checkpoint_with_a_missing_file(
        self, store: CheckpointStore
    ) -> None:
        older, newer = self._older_and_newer(store)
        (newer.path / "trainer" / "state.txt").unlink()
        assert store.latest() == older
        assert store.list() == [older]

    def test_latest_skips_a_checkpoint_with_a_file_of_the_wrong_size(
        self, store: CheckpointStore
    ) -> None:
        older, newer = self._older_and_newer(store)
        with open(newer.path / "model.bin", "ab") as f:
            f.write(b"extra")
        assert store.latest() == older

    def test_latest_skips_an_empty_directory_with_a_checkpoint_name(
        self, store: CheckpointStore
    ) -> None:
        older = store.save(writer())
        (store.root / "2999-01-01T00-00-00.000000Z").mkdir()
        assert store.latest() == older

    def test_other_entries_are_not_checkpoints(self, store: CheckpointStore) -> None:
        saved = store.save(writer())
        shutil.copytree(saved.path, store.root / "best")  # a user's own copy
        (store.root / "notes.txt").write_text("hello")
        (store.root / "2999-01-01T00-00-00.000000Z").write_text("a file")
        shutil.copytree(saved.path, store.root / "2026-13-45T00-00-00.000000Z")
        assert store.list() == [saved]

    def test_a_future_format_version_is_skipped_and_refused(
        self, store: CheckpointStore
    ) -> None:
        older, newer = self._older_and_newer(store)
        manifest = newer.path / "manifest.json"
        document = json.loads(manifest.read_text())
        document["format_version"] = 2
        document["new_field"] = "something a later version writes"
        manifest.write_text(json.dumps(document))

        assert store.list() == [older]
        assert store.latest() == older
        with pytest.raises(CheckpointVersionError, match="format_version 2.*1 at most"):
            store.resolve(newer.name)
        with pytest.raises(CheckpointVersionError) as info:
            store.verify(newer.path)
        assert (info.value.found, info.value.supported) == (2, 1)
        assert store.verify(older) == older
        # and its sequence number is not reused
        assert store.save(writer()).sequence == 3


class TestResolve:
    def test_unknown_name_lists_what_exists(self, store: CheckpointStore) -> None:
        saved = [store.save(writer()) for _ in range(2)]
        with pytest.raises(CheckpointNotFoundError) as info:
            store.resolve("2020-01-01T00-00-00.000000Z")
        message = str(info.value)
        assert "'2020-01-01T00-00-00.000000Z'" in message
        assert str(store.root) in message
        for checkpoint in saved:
            assert repr(checkpoint.name) in message
        assert isinstance(info.value, UnknownNameError)
        assert isinstance(info.value, KeyError)
        assert info.value.known == [c.name for c in saved]

    def test_latest_of_an_empty_store(self, store: CheckpointStore) -> None:
        with pytest.raises(CheckpointNotFoundError, match="no complete checkpoint"):
            store.resolve("latest")

    def test_long_listings_are_elided(self, store: CheckpointStore) -> None:
        for _ in range(12):
            store.save(writer())
        with pytest.raises(CheckpointNotFoundError, match="2 older ones, "):
            store.resolve("nope")

    @pytest.mark.parametrize("name", [".", "..", ".tmp-x", ""], ids=repr)
    def test_hidden_and_dot_names_are_not_checkpoints(
        self, store: CheckpointStore, name: str
    ) -> None:
        (store.root / ".tmp-x").mkdir()
        with pytest.raises(CheckpointNotFoundError):
            store.resolve(name)

    def test_a_path_outside_the_root(
        self, store: CheckpointStore, tmp_path: Path
    ) -> None:
        saved = store.save(writer(), metadata={"k": "v"})
        copy = tmp_path / "elsewhere" / "copy"
        shutil.copytree(saved.path, copy)

        found = store.resolve(copy)
        assert found.path == copy
        assert found.name == "copy"
        assert found.files == saved.files
        assert store.resolve(str(copy)) == found
        assert store.verify(found) == found

    def test_a_missing_path(self, store: CheckpointStore, tmp_path: Path) -> None:
        with pytest.raises(CheckpointNotFoundError, match="nowhere"):
            store.resolve(tmp_path / "nowhere")

    def test_an_incomplete_directory_is_named_corrupt(
        self, store: CheckpointStore
    ) -> None:
        (store.root / "half").mkdir()
        with pytest.raises(CorruptCheckpointError, match="manifest.json is missing"):
            store.resolve("half")

    def test_a_checkpoint_missing_a_file_is_named_corrupt(
        self, store: CheckpointStore
    ) -> None:
        saved = store.save(writer())
        (saved.path / "model.bin").unlink()
        with pytest.raises(CorruptCheckpointError, match="'model.bin' is missing"):
            store.resolve(saved.name)

    def test_bad_ref_type(self, store: CheckpointStore) -> None:
        with pytest.raises(TypeError, match="ref must be"):
            store.resolve(42)  # type: ignore[arg-type]


class TestVerify:
    def test_a_flipped_byte_is_named_and_older_checkpoints_stay_loadable(
        self, store: CheckpointStore
    ) -> None:
        older = store.save(writer())
        newer = store.save(writer())
        path = newer.path / "model.bin"
        data = bytearray(path.read_bytes())
        data[1000] ^= 0x01
        path.write_bytes(bytes(data))
        expected = next(f.sha256 for f in newer.files if f.path == "model.bin")

        with pytest.raises(CorruptCheckpointError) as info:
            store.verify("latest")

        err = info.value
        assert err.file == "model.bin"
        assert err.path == newer.path
        assert "'model.bin'" in str(err)
        assert f"expected {expected}" in str(err)
        assert isinstance(err, ValueError)
        # nothing was touched: the older one verifies, both are still there
        assert store.verify(older) == older
        assert store.list() == [older, newer]
        assert sorted(entries(store.root)) == [older.name, newer.name]

    def test_a_truncated_file_is_named_with_sizes(self, store: CheckpointStore) -> None:
        older = store.save(writer())
        newer = store.save(writer())
        with open(newer.path / "trainer" / "state.txt", "r+b") as f:
            f.truncate(1)

        with pytest.raises(
            CorruptCheckpointError,
            match=r"'trainer/state\.txt' is 1 bytes, expected 3 \(truncated\)",
        ) as info:
            store.verify(newer)

        assert info.value.file == "trainer/state.txt"
        assert store.latest() == older  # no longer complete
        assert store.verify(older) == older

    def test_a_missing_file(self, store: CheckpointStore) -> None:
        saved = store.save(writer())
        (saved.path / "model.bin").unlink()
        with pytest.raises(CorruptCheckpointError, match="'model.bin' is missing"):
            store.verify(saved)

    def test_a_rewritten_manifest(self, store: CheckpointStore) -> None:
        saved = store.save(writer())
        store.save(writer({"other": b"x"}))
        latest = store.latest()
        assert latest is not None
        shutil.copy(latest.path / "manifest.json", saved.path / "manifest.json")
        (saved.path / "other").write_bytes(b"x")
        with pytest.raises(CorruptCheckpointError, match="manifest.json changed"):
            store.verify(saved)

    @pytest.mark.parametrize(
        ("edit", "match"),
        [
            (lambda d: d["files"][0].update(path="../escape"), "plain relative path"),
            (lambda d: d["files"][0].update(size=-1), "size"),
            (lambda d: d["files"][0].update(sha256="xyz"), "sha256"),
            (lambda d: d.update(extra=1), "extra"),
            (lambda d: d.pop("sequence"), "sequence"),
            (lambda d: d.update(format_version="1"), "format_version"),
        ],
        ids=["escape", "size", "sha", "extra", "no-sequence", "str-version"],
    )
    def test_an_invalid_manifest_is_corrupt(
        self,
        store: CheckpointStore,
        edit: Callable[[dict[str, object]], object],
        match: str,
    ) -> None:
        saved = store.save(writer())
        manifest = saved.path / "manifest.json"
        document = json.loads(manifest.read_text())
        edit(document)
        manifest.write_text(json.dumps(document))
        with pytest.raises(CorruptCheckpointError, match=match):
            store.resolve(saved.name)
        assert store.latest() is None


class TestStaleTemporaryDirectories:
    def test_construction_removes_them(self, root: Path) -> None:
        CheckpointStore(root)
        stale = root / ".tmp-2026-01-01T00-00-00.000000Z-abcd"
        (stale / "trainer").mkdir(parents=True)
        mark_temporary(stale)
        (stale / "trainer" / "weights.bin").write_bytes(b"partial")
        (root / ".tmp-other").mkdir()  # not marked: not ours

        store = CheckpointStore(root)

        assert entries(store.root) == [".tmp-other"]

    def test_clean_stale_reports_what_it_removed(self, store: CheckpointStore) -> None:
        saved = store.save(writer())
        stale = store.root / ".tmp-crashed"
        stale.mkdir()
        mark_temporary(stale)
        (store.root / ".tmp-not-a-dir").write_text("left alone")

        assert store.clean_stale() == [stale]
        assert entries(store.root) == [".tmp-not-a-dir", saved.name]
        assert store.clean_stale() == []

    def test_a_save_in_progress_is_left_alone(self, store: CheckpointStore) -> None:
        # A live save holds a lock on its temporary directory; a crashed one does not.
        live = store.root / ".tmp-live"
        live.mkdir()
        mark_temporary(live)
        fd = os.open(live, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            assert store.clean_stale() == []
            assert CheckpointStore(store.root).clean_stale() == []
            assert live.exists()
        finally:
            os.close(fd)
        assert store.clean_stale() == [live]

    def test_clean_stale_during_a_save_spares_it(self, store: CheckpointStore) -> None:
        removed: list[list[Path]] = []

        def write(directory: Path) -> None:
            (directory / "f").write_bytes(b"x")
            removed.append(store.clean_stale())
            assert directory.exists()

        saved = store.save(write)
        assert removed == [[]]
        assert store.verify(saved) == saved


class TestPermissions:
    def test_root_and_checkpoints_are_owner_only(
        self, tmp_path: Path, umask_022: None
    ) -> None:
        store = CheckpointStore(tmp_path / "a" / "b" / "root")
        saved = store.save(writer())
        assert mode(store.root) == 0o700
        assert mode(saved.path) == 0o700
        assert mode(saved.path / "manifest.json") == 0o600

    def test_a_permissive_umask_does_not_widen_the_root(self, tmp_path: Path) -> None:
        old = os.umask(0)
        try:
            store = CheckpointStore(tmp_path / "root")
            saved = store.save(writer())
        finally:
            os.umask(old)
        assert mode(store.root) == 0o700
        assert mode(saved.path) == 0o700

    def test_an_existing_root_keeps_its_mode(self, tmp_path: Path) -> None:
        root = tmp_path / "root"
        root.mkdir(mode=0o750)
        os.chmod(root, 0o750)
        CheckpointStore(root)
        assert mode(root) == 0o750


class TestBadInput:
    def test_root_that_is_a_file(self, tmp_path: Path) -> None:
        path = tmp_path / "file"
        path.write_text("not a directory")
        with pytest.raises(StateRootError, match="not a directory") as info:
            CheckpointStore(path)
        assert str(path) in str(info.value)
        assert info.value.errno == errno.ENOTDIR
        assert isinstance(info.value, OSError)
        assert path.read_text() == "not a directory"

    def test_root_under_a_file(self, tmp_path: Path) -> None:
        path = tmp_path / "file"
        path.write_text("x")
        with pytest.raises(StateRootError, match="cannot be created") as info:
            CheckpointStore(path / "root")
        assert str(path / "root") in str(info.value)

    @pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permissions")
    def test_root_that_is_not_writable(self, tmp_path: Path) -> None:
        path = tmp_path / "ro"
        path.mkdir(mode=0o500)
        try:
            with pytest.raises(StateRootError, match="not writable") as info:
                CheckpointStore(path)
        finally:
            os.chmod(path, 0o700)
        assert info.value.errno == errno.EACCES

    @pytest.mark.parametrize(
        ("root", "exc", "match"),
        [
            (42, TypeError, "root must be a str or os.PathLike path, got 42"),
            (b"/tmp/x", TypeError, "root must be a str or os.PathLike"),
            ("", ValueError, "non-empty"),
        ],
        ids=["int", "bytes", "empty"],
    )
    def test_bad_root(self, root: object, exc: type[Exception], match: str) -> None:
        with pytest.raises(exc, match=match):
            CheckpointStore(root)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("kwargs", "exc", "match"),
        [
            ({"keep_last": 0}, ValueError, "keep_last must be >= 1, got 0"),
            ({"keep_last": -3}, ValueError, "keep_last must be >= 1, got -3"),
            (
                {"keep_last": 2.0},
                TypeError,
                "keep_last must be an int or None, got 2.0",
            ),
            (
                {"keep_last": "3"},
                TypeError,
                "keep_last must be an int or None, got '3'",
            ),
            ({"keep_last": True}, TypeError, "keep_last must be an int or None"),
            ({"keep_every": 0}, ValueError, "keep_every must be >= 1, got 0"),
            ({"keep_every": 1.5}, TypeError, "keep_every must be an int or None"),
        ],
        ids=["zero", "negative", "float", "str", "bool", "every-zero", "every-float"],
    )
    def test_bad_retention(
        self,
        root: Path,
        kwargs: dict[str, object],
        exc: type[Exception],
        match: str,
    ) -> None:
        with pytest.raises(exc, match=match):
            CheckpointStore(root, **kwargs)  # type: ignore[arg-type]
        assert not root.exists()  # validated before touching the disk
