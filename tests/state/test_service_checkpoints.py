"""TrainerService with a state_dir: saving, resuming, retention, faults."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from aiotrainer import (
    EventKind,
    SequentialBuffer,
    ServiceStateError,
    TrainerService,
)
from aiotrainer.demo import LinearModel, LinearRegressionTrainer, SyntheticStream
from aiotrainer.state.errors import (
    CheckpointMismatchError,
    CheckpointNotFoundError,
    CheckpointSaveError,
    CorruptCheckpointError,
)


class FlakyModel(LinearModel):
    """A real model whose save_state fails with ENOSPC while ``full`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.full = threading.Event()

    def save_state(self, path: Path) -> None:
        if self.full.is_set():
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        super().save_state(path)


def make_service(state_dir: Path, **kwargs: Any) -> TrainerService:
    models = kwargs.pop("models", None) or {"linear": LinearModel()}
    trainers = kwargs.pop("trainers", None) or {
        "sgd": LinearRegressionTrainer(batch_size=16, steps=2)
    }
    return TrainerService(
        models=models,
        buffers=kwargs.pop("buffers", None) or {"samples": SequentialBuffer(500)},
        trainers=trainers,
        state_dir=state_dir,
        **kwargs,
    )


async def feed(service: TrainerService, n: int, *, acquire: bool = True) -> None:
    stream = SyntheticStream(seed=3)
    collector = (
        service.data_collectors.acquire("samples")
        if acquire
        else service.data_collectors["samples"]
    )
    for i in range(n):
        collector.collect(stream.sample())
        if i % 50 == 49:
            await anyio.sleep(0.005)


async def wait_runs(service: TrainerService, n: int, trainer: str = "sgd") -> None:
    """Wait, on the service's events, until ``trainer`` has trained ``n`` times."""
    async with service.events() as events:
        with anyio.fail_after(10):
            if service.status().trainers[trainer].runs >= n:
                return
            async for _ in events:
                if service.status().trainers[trainer].runs >= n:
                    return


async def wait_saves(service: TrainerService, n: int) -> list[str]:
    """Wait for ``n`` SAVED events; return the checkpoint paths."""
    paths: list[str] = []
    async with service.events() as events:
        with anyio.fail_after(10):
            async for event in events:
                if event.kind is EventKind.SAVED:
                    assert event.path is not None
                    paths.append(event.path)
                    if len(paths) == n:
                        return paths
    raise AssertionError("the service stopped first")


def checkpoints(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if not p.name.startswith("."))


class TestRoundTrip:
    async def test_resume_continues_with_identical_state(self, tmp_path: Path) -> None:
        service = make_service(tmp_path, save_on_shutdown=False)
        async with service:
            await feed(service, 400)
            await wait_runs(service, 5)
            await service.pause()
            path = await service.save_state()
            model = service.training_models["linear"]
            assert isinstance(model, LinearModel)
            saved_w, saved_b = list(model.w), model.b
            saved_items = service.data_users["samples"].get_data()
            saved_time = service.trainers["sgd"].previous_training_time
        assert path.parent == tmp_path
        assert checkpoints(tmp_path) == [path.name]

        again = make_service(tmp_path, resume_from="latest", save_on_shutdown=False)
        async with again:
            model2 = again.training_models["linear"]
            assert isinstance(model2, LinearModel)
            assert (model2.w, model2.b) == (saved_w, saved_b)
            assert again.data_users["samples"].get_data() == saved_items
            assert again.trainers["sgd"].previous_training_time == saved_time
            await feed(again, 100)
            await wait_runs(again, 1)
            assert again.restore_report is not None
            assert again.restore_report.differences == []
        assert again.status().last_checkpoint == str(path)

    async def test_restore_syncs_the_agents_models_before_any_run(
        self, tmp_path: Path
    ) -> None:
        service = make_service(tmp_path, save_on_shutdown=False)
        async with service:
            await feed(service, 200)
            await wait_runs(service, 2)
            await service.pause()
            await service.save_state()
            saved_runs = service.status().trainers["sgd"].runs
            agent = service.inference_models["linear"]
            x = (0.5, -1.0, 2.0)
            trained_prediction = agent(x)
        assert trained_prediction != 0.0  # an untrained model predicts 0

        # a trainer that needs 450 items, of which the checkpoint holds 200: it
        # cannot run, so only the restore can have set the agent's weights
        again = make_service(
            tmp_path,
            resume_from="latest",
            save_on_shutdown=False,
            trainers={"sgd": LinearRegressionTrainer(batch_size=450)},
        )
        async with again:
            assert len(again.data_users["samples"]) == 200
            assert again.inference_models["linear"](x) == trained_prediction
        # the run count is restored with the trainer; no run was added to it
        assert again.status().trainers["sgd"].runs == saved_runs

    async def test_latest_with_no_checkpoint_starts_fresh(self, tmp_path: Path) -> None:
        service = make_service(tmp_path, resume_from="latest", save_on_shutdown=False)
        async with service:
            assert service.restore_report is None
        assert checkpoints(tmp_path) == []

    async def test_resume_by_name_and_by_path(self, tmp_path: Path) -> None:
        service = make_service(tmp_path, save_on_shutdown=False)
        async with service:
            first = await service.save_state()
            await feed(service, 100)
            second = await service.save_state()
        for ref in (first.name, str(first)):
            again = make_service(tmp_path, resume_from=ref, save_on_shutdown=False)
            async with again:
                assert again.restore_report is not None
                assert again.restore_report.checkpoint == str(first)
        assert second != first

    async def test_resume_from_a_path_without_state_dir(self, tmp_path: Path) -> None:
        service = make_service(tmp_path, save_on_shutdown=False)
        async with service:
            await feed(service, 100)
            path = await service.save_state()
        plain = TrainerService(
            models={"linear": LinearModel()},
            buffers={"samples": SequentialBuffer(500)},
            trainers={"sgd": LinearRegressionTrainer(batch_size=16, steps=2)},
            resume_from=path,
        )
        async with plain:
            assert len(plain.data_users["samples"]) == 100


class TestSaving:
    async def test_save_on_shutdown(self, tmp_path: Path) -> None:
        service = make_service(tmp_path)
        events: list[EventKind] = []
        async with service:
            stream = service.events()

            async def record() -> None:
                events.extend([event.kind async for event in stream])

            async with anyio.create_task_group() as tg:
                tg.start_soon(record)
                await feed(service, 50)
                await service.stop()
        assert len(checkpoints(tmp_path)) == 1
        assert EventKind.SAVED in events
        assert service.status().last_checkpoint is not None

    async def test_periodic_saving_with_retention(self, tmp_path: Path) -> None:
        service = make_service(
            tmp_path, save_interval=0.05, keep_last=2, save_on_shutdown=False
        )
        async with service:
            paths = await wait_saves(service, 4)
        names = checkpoints(tmp_path)
        assert 1 <= len(names) <= 2
        assert Path(paths[0]).name not in names
        assert Path(paths[1]).name not in names

    async def test_keep_every_keeps_history(self, tmp_path: Path) -> None:
        service = make_service(
            tmp_path, keep_last=1, keep_every=3, save_on_shutdown=False
        )
        async with service:
            paths = [await service.save_state() for _ in range(7)]
        kept = checkpoints(tmp_path)
        assert kept == sorted({paths[2].name, paths[5].name, paths[6].name})

    async def test_producers_keep_going_during_save(self, tmp_path: Path) -> None:
        buffers = {"samples": SequentialBuffer(1_000_000)}
        service = make_service(tmp_path, buffers=buffers, save_on_shutdown=False)
        stop = threading.Event()
        produced = [0]
        async with service:
            collector = service.data_collectors.acquire("samples")

            def produce() -> None:
                stream = SyntheticStream(seed=5)
                sample = stream.sample()
                while not stop.is_set():
                    collector.collect(sample)
                    produced[0] += 1

            async with anyio.create_task_group() as tg:
                tg.start_soon(anyio.to_thread.run_sync, produce)
                paths = []
                for _ in range(5):
                    await anyio.sleep(0.02)
                    paths.append(await service.save_state())
                stop.set()
            first = json.loads((paths[0] / "manifest.json").read_text())
            last = json.loads((paths[-1] / "manifest.json").read_text())
            assert (
                last["metadata"]["collected"]["samples"]
                > first["metadata"]["collected"]["samples"]
            )
            stats = service.data_users["samples"].statistics()
            assert stats.collected == produced[0]
            assert stats.collected == stats.pending + stats.stored + stats.dropped
            assert service.last_save_held is not None
            assert service.last_save_duration is not None
            assert service.last_save_held <= service.last_save_duration

    async def test_save_while_user_paused_stays_paused(self, tmp_path: Path) -> None:
        service = make_service(tmp_path, save_on_shutdown=False)
        async with service:
            await service.pause()
            await service.save_state()
            assert service.status().state.value == "paused"
            await service.resume()
            assert service.status().state.value == "running"


class TestFaults:
    async def test_failed_save_keeps_service_running(self, tmp_path: Path) -> None:
        model = FlakyModel()
        service = make_service(
            tmp_path, models={"linear": model}, save_on_shutdown=False
        )
        async with service:
            good = await service.save_state()
            events = service.events()
            model.full.set()
            with pytest.raises(CheckpointSaveError, match="No space left") as info:
                await service.save_state()
            assert info.value.errno == errno.ENOSPC
            status = service.status()
            assert status.state.value == "running"
            assert status.last_save_error is not None
            assert "No space left" in status.last_save_error
            with anyio.fail_after(5):
                event = await events.__anext__()
            assert event.kind is EventKind.SAVE_FAILED
            # training goes on
            await feed(service, 100)
            await wait_runs(service, 1)
            assert os.listdir(tmp_path) == [good.name]  # no partial, no temp dir
            model.full.clear()
            await service.save_state()
            assert service.status().last_save_error is None
        assert len(checkpoints(tmp_path)) == 2

    @pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
    async def test_real_enospc_on_a_tiny_tmpfs(self, tmp_path: Path) -> None:
        mount = tmp_path / "tiny"
        mount.mkdir()
        proc = await anyio.run_process(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
            check=False,
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr!r}")
        try:
            service = make_service(
                mount / "ckpt",
                buffers={
                    "samples": SequentialBuffer(500),
                    "blobs": SequentialBuffer(100_000),
                },
                save_on_shutdown=False,
            )
            async with service:
                collector = service.data_collectors.acquire("blobs")
                for _ in range(20_000):
                    collector.collect(os.urandom(64))
                with pytest.raises(CheckpointSaveError) as info:
                    await service.save_state()
                assert info.value.errno == errno.ENOSPC
                assert service.status().state.value == "running"
                assert os.listdir(mount / "ckpt") == []
        finally:
            await anyio.run_process(["umount", str(mount)], check=False)

    async def test_corrupt_file_is_refused_and_previous_still_loads(
        self, tmp_path: Path
    ) -> None:
        service = make_service(tmp_path, save_on_shutdown=False)
        async with service:
            await feed(service, 200)
            older = await service.save_state()
            newer = await service.save_state()
        victim = newer / "data" / "samples" / "buffer.pkl"
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0xFF
        victim.write_bytes(bytes(data))
        with pytest.raises(CorruptCheckpointError, match=r"data/samples/buffer\.pkl"):
            async with make_service(tmp_path, resume_from="latest"):
                pass
        again = make_service(tmp_path, resume_from=older.name, save_on_shutdown=False)
        async with again:
            assert len(again.data_users["samples"]) == 200

    async def test_truncated_file_is_refused_and_latest_falls_back(
        self, tmp_path: Path
    ) -> None:
        service = make_service(tmp_path, save_on_shutdown=False)
        async with service:
            await feed(service, 200)
            older = await service.save_state()
            await feed(service, 100, acquire=False)
            newer = await service.save_state()
        victim = newer / "trainers" / "sgd" / "previous_training_time"
        victim.write_text(victim.read_text()[:2])
        with pytest.raises(CorruptCheckpointError, match="previous_training_time"):
            async with make_service(tmp_path, resume_from=newer.name):
                pass
        # "latest" never picks an incomplete checkpoint: it takes the older one
        again = make_service(tmp_path, resume_from="latest", save_on_shutdown=False)
        async with again:
            assert again.restore_report is not None
            assert again.restore_report.checkpoint == str(older)
            assert len(again.data_users["samples"]) == 200


class TestMismatch:
    async def _saved(self, tmp_path: Path) -> Path:
        service = make_service(tmp_path, save_on_shutdown=False)
        async with service:
            await feed(service, 50)
            return await service.save_state()

    async def test_every_difference_is_listed(self, tmp_path: Path) -> None:
        await self._saved(tmp_path)
        before = checkpoints(tmp_path)
        other = TrainerService(
            models={"linear": LinearModel(), "extra": LinearModel()},
            buffers={"samples": SequentialBuffer(500)},
            trainers={"other": LinearRegressionTrainer()},
            state_dir=tmp_path,
            resume_from="latest",
        )
        with pytest.raises(CheckpointMismatchError) as info:
            async with other:
                pass
        message = str(info.value)
        assert "model 'extra' is in the service but not in the checkpoint" in message
        assert "trainer 'other' is in the service but not in the checkpoint" in message
        assert "trainer 'sgd' is in the checkpoint but not in the service" in message
        assert len(info.value.differences) == 3
        assert "strict=False" in message
        # a failed restore writes nothing: no fresh state over the one it refused
        assert checkpoints(tmp_path) == before

    async def test_non_strict_loads_what_matches(self, tmp_path: Path) -> None:
        await self._saved(tmp_path)
        other = TrainerService(
            models={"linear": LinearModel(), "extra": LinearModel()},
            buffers={"samples": SequentialBuffer(500)},
            trainers={"other": LinearRegressionTrainer()},
            state_dir=tmp_path,
            resume_from="latest",
            strict=False,
            save_on_shutdown=False,
        )
        async with other:
            assert len(other.data_users["samples"]) == 50
            report = other.restore_report
            assert report is not None
            assert report.loaded["models"] == ["linear"]
            assert report.loaded["trainers"] == []
            assert len(report.differences) == 3

    async def test_future_state_format_is_refused(self, tmp_path: Path) -> None:
        path = await self._saved(tmp_path)
        manifest = json.loads((path / "manifest.json").read_text())
        manifest["metadata"]["aiotrainer_state"] = 99
        (path / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(CheckpointMismatchError, match="state format is 99"):
            async with make_service(tmp_path, resume_from="latest"):
                pass


class TestBadInput:
    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"save_interval": 5.0}, ValueError, "save_interval need a state_dir"),
            ({"keep_last": 3}, ValueError, "keep_last need a state_dir"),
            ({"resume_from": "latest"}, ValueError, "resume_from='latest' need"),
            ({"state_dir": 42}, TypeError, "state_dir must be a path or None, got 42"),
            ({"save_interval": -1.0, "state_dir": "x"}, ValueError, "save_interval"),
            ({"keep_last": 0, "state_dir": "x"}, ValueError, "keep_last must be >= 1"),
            ({"resume_from": 3}, TypeError, "resume_from must be 'latest'"),
            ({"strict": "yes"}, TypeError, "strict must be a bool"),
        ],
        ids=[
            "interval-no-dir",
            "keep-no-dir",
            "latest-no-dir",
            "dir-int",
            "negative-interval",
            "keep-zero",
            "resume-int",
            "strict-str",
        ],
    )
    def test_constructor_refuses(
        self, kwargs: dict[str, Any], error: type[Exception], match: str
    ) -> None:
        with pytest.raises(error, match=match):
            TrainerService(
                models={"linear": LinearModel()},
                buffers={"samples": SequentialBuffer(10)},
                trainers={},
                **kwargs,
            )

    async def test_save_without_state_dir(self) -> None:
        service = TrainerService(buffers={"samples": SequentialBuffer(10)})
        async with service:
            with pytest.raises(ServiceStateError, match="no state_dir"):
                await service.save_state()

    async def test_unknown_checkpoint_name_lists_what_exists(
        self, tmp_path: Path
    ) -> None:
        path = await TestMismatch()._saved(tmp_path)
        with pytest.raises(CheckpointNotFoundError, match=path.name):
            async with make_service(
                tmp_path, resume_from="2020-01-01T00-00-00.000000Z"
            ):
                pass

    async def test_state_dir_that_is_a_file(self, tmp_path: Path) -> None:
        target = tmp_path / "file"
        target.write_text("not a directory")
        with pytest.raises(OSError, match="file"):
            async with make_service(target):
                pass
        assert target.read_text() == "not a directory"


CHILD = textwrap.dedent(
    """
    import sys, anyio
    from aiotrainer import SequentialBuffer, TrainerService
    from aiotrainer.demo import LinearModel, LinearRegressionTrainer, SyntheticStream

    async def main():
        service = TrainerService(
            models={"linear": LinearModel()},
            buffers={"samples": SequentialBuffer(20000)},
            trainers={"sgd": LinearRegressionTrainer(batch_size=16, steps=1)},
            state_dir=sys.argv[1],
            resume_from="latest",
        )
        async with service:
            collector = service.data_collectors.acquire("samples")
            stream = SyntheticStream()
            while True:
                for _ in range(200):
                    collector.collect(stream.sample())
                path = await service.save_state()
                print(path.name, flush=True)

    anyio.run(main)
    """
)


@pytest.mark.timeout(180)
def test_sigkill_during_saves_never_loses_a_reported_checkpoint(tmp_path: Path) -> None:
    import random

    from aiotrainer.state.store import CheckpointStore

    rng = random.Random(7)
    reported: set[str] = set()
    kills = 12
    for _ in range(kills):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        first = child.stdout.readline().strip()  # at least one save completed
        assert first, child.stderr.read() if child.stderr else ""
        reported.add(first)
        time.sleep(rng.uniform(0.0, 0.25))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate(timeout=30)
        reported.update(line for line in out.splitlines()[:-1] if line)
        store = CheckpointStore(tmp_path)
        latest = store.latest()
        assert latest is not None
        store.verify(latest)
        names = {c.name for c in store.list()}
        assert reported <= names
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    shutil.rmtree(tmp_path, ignore_errors=True)
