"""Restoring a pamiq-core state directory (detected by its layout)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from aiotrainer import (
    CheckpointMismatchError,
    CorruptCheckpointError,
    SequentialBuffer,
    StateLoadError,
    Trainer,
    TrainerService,
)
from aiotrainer.state.restore import find_pamiq_state, pamiq_components


class Idle(Trainer):
    def __init__(self) -> None:
        super().__init__("buf", min_buffer_size=4)

    def train(self) -> None:
        raise AssertionError("never trainable")


def _pamiq_dir(root: Path, *, users: tuple[str, ...] = ("buf",)) -> Path:
    """A state dir as pamiq-core's launcher writes it, by hand."""
    (root / "models").mkdir(parents=True)
    (root / "models" / "policy.pt").write_bytes(b"weights")
    (root / "trainers" / "idle").mkdir(parents=True)
    (root / "trainers" / "idle" / "previous_training_time").write_text("-inf")
    for name in users:
        service_buffer = SequentialBuffer[int](4)
        service_buffer.add(7)
        (root / "data" / name).mkdir(parents=True)
        service_buffer.save_state(root / "data" / name / "buffer")
        with open(root / "data" / name / "timestamps.pkl", "wb") as f:
            pickle.dump([1.0], f)
    return root


class TestDetection:
    def test_a_pamiq_layout_is_found(self, tmp_path: Path) -> None:
        root = _pamiq_dir(tmp_path / "s.state")
        assert find_pamiq_state(root) == root
        assert find_pamiq_state(str(root)) == root

    def test_a_clock_alone_is_enough(self, tmp_path: Path) -> None:
        (tmp_path / "time.pkl").write_bytes(b"")
        assert find_pamiq_state(tmp_path) == tmp_path

    @pytest.mark.parametrize(
        "case",
        ["latest", "missing", "file", "empty", "manifest", "store-name", "tmp"],
    )
    def test_anything_else_is_not(self, tmp_path: Path, case: str) -> None:
        target: object
        if case == "latest":
            target = "latest"
        elif case == "missing":
            target = tmp_path / "nope"
        elif case == "file":
            target = tmp_path / "f"
            (tmp_path / "f").write_text("x")
        elif case == "empty":
            target = tmp_path
        elif case == "manifest":
            target = _pamiq_dir(tmp_path / "c")
            (tmp_path / "c" / "manifest.json").write_text("{}")
        elif case == "store-name":  # a checkpoint that lost its manifest: corrupt
            target = _pamiq_dir(tmp_path / "2026-11-25T10-00-00.123456Z")
        else:  # a save in progress
            target = _pamiq_dir(tmp_path / ".tmp-2026-x")
        assert find_pamiq_state(target) is None

    def test_components_from_the_layout(self, tmp_path: Path) -> None:
        root = _pamiq_dir(tmp_path, users=("a", "b"))
        (root / "models" / ".hidden").write_text("")
        assert pamiq_components(root) == {
            "models": ["policy"],
            "data_users": ["a", "b"],
            "trainers": ["idle"],
        }


class TestServiceRestore:
    def _service(self, state: Path, **kwargs: object) -> TrainerService:
        return TrainerService(
            buffers={"buf": SequentialBuffer(4)},
            trainers={"idle": Idle()},
            resume_from=state,
            **kwargs,  # type: ignore[arg-type]
        )

    async def test_a_mismatch_is_refused_naming_every_difference(
        self, tmp_path: Path
    ) -> None:
        root = _pamiq_dir(tmp_path / "s", users=("other",))
        with pytest.raises(CheckpointMismatchError) as info:
            async with self._service(root):
                pass
        assert info.value.differences == [
            "model 'policy' is in the checkpoint but not in the service",
            "data user 'buf' is in the service but not in the checkpoint",
            "data user 'other' is in the checkpoint but not in the service",
        ]

    async def test_not_strict_loads_what_matches(self, tmp_path: Path) -> None:
        root = _pamiq_dir(tmp_path / "s")
        service = self._service(root, strict=False)
        async with service:
            report = service.restore_report
            assert report is not None
            assert report.source == "pamiq-core" and not report.time_restored
            assert report.loaded == {
                "models": [],
                "data_users": ["buf"],
                "trainers": ["idle"],
            }
            assert report.differences == [
                "model 'policy' is in the checkpoint but not in the service"
            ]
            assert service.data_users["buf"].get_data() == [7]
            assert service.status().last_checkpoint is None

    async def test_a_checkpoint_without_its_manifest_stays_corrupt(
        self, tmp_path: Path
    ) -> None:
        async with TrainerService(
            buffers={"buf": SequentialBuffer(4)},
            trainers={"idle": Idle()},
            state_dir=tmp_path,
        ) as service:
            path = await service.save_state()
        (path / "manifest.json").unlink()
        with pytest.raises(CorruptCheckpointError, match="manifest"):
            async with self._service(path):
                pass

    async def test_a_broken_part_names_the_component(self, tmp_path: Path) -> None:
        root = _pamiq_dir(tmp_path / "s")
        (root / "data" / "buf" / "timestamps.pkl").unlink()
        with pytest.raises(StateLoadError, match="data user 'buf'.*timestamps.pkl"):
            async with self._service(root, strict=False):
                pass
