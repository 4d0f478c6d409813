"""pamiq-core compatibility: one test per point of the promise.

Each test states pamiq-core 0.6's documented behaviour and checks that aiotrainer
has it. The numbers are those of docs/pamiq-compat.md.
"""

from __future__ import annotations

import copy
import logging
import math
import pickle
import random
from pathlib import Path
from typing import Any, ClassVar

import anyio
import pytest

from aiotrainer import (
    DataBuffer,
    DataCollectorsDict,
    DataUser,
    DataUsersDict,
    DictRandomReplacementBuffer,
    DictSequentialBuffer,
    InferenceModel,
    MinInterval,
    RandomReplacementBuffer,
    SequentialBuffer,
    StateStore,
    Trainer,
    TrainersDict,
    TrainerService,
    TrainingModel,
    TrainingModelsDict,
    load_pickle,
    save_pickle,
)
from aiotrainer import time as pamiq_time
from aiotrainer.cli import main as cli_main
from helpers import DEADLINE, InstrumentedTrainer, Journal


class WeightInference(InferenceModel):
    def __init__(self) -> None:
        self.weight = 0.0

    def infer(self, x: float) -> float:
        return self.weight * x


class WeightModel(TrainingModel[WeightInference]):
    """A model with one weight that it saves, as a pamiq-core user writes one."""

    def __init__(self, weight: float = 0.0) -> None:
        super().__init__()
        self.weight = weight

    def _create_inference_model(self) -> WeightInference:
        return WeightInference()

    def forward(self, x: float) -> float:
        return self.weight * x

    def sync_impl(self, inference_model: WeightInference) -> None:
        inference_model.weight = self.weight

    def save_state(self, path: Path) -> None:
        save_pickle(self.weight, path.with_suffix(".pkl"))

    def load_state(self, path: Path) -> None:
        self.weight = load_pickle(path.with_suffix(".pkl"))


class ReadsTwoUsers(Trainer):
    """Gated by "main"; reads "side" too, as pamiq-core trainers may."""

    def __init__(self) -> None:
        super().__init__("main", min_new_data_count=1)
        self.side_seen: list[Any] = []

    def on_data_users_attached(self) -> None:
        self.side = self.get_data_user("side")

    def train(self) -> None:
        self.side_seen = self.side.get_data()


class Idle(Trainer):
    """Never trainable in these tests: its buffer must hold 4 items."""

    def __init__(self) -> None:
        super().__init__("buf", min_buffer_size=4)

    def train(self) -> None:
        raise AssertionError("never trainable")


# 1 ---------------------------------------------------------------------------


def test_1_get_data_updates_first() -> None:
    users = DataUsersDict.from_data_buffers(
        main=SequentialBuffer[int](10), side=SequentialBuffer[int](10)
    )
    trainer = ReadsTwoUsers()
    trainer.attach_training_models(TrainingModelsDict())
    trainer.attach_data_users(users)
    users.data_collectors_dict.acquire("side").collect("s1")
    users.data_collectors_dict.acquire("main").collect("m1")
    assert trainer.run()
    assert trainer.side_seen == ["s1"]


# 2 ---------------------------------------------------------------------------


def test_2_loading_models_syncs_them(tmp_path: Path) -> None:
    saved = TrainingModelsDict(policy=WeightModel(5.0))
    saved.save_state(tmp_path / "models")
    models = TrainingModelsDict(policy=WeightModel())
    models.load_state(tmp_path / "models")
    assert models.inference_models_dict["policy"](1.0) == 5.0


async def test_2_a_restore_syncs_before_the_agent_gets_the_service(
    tmp_path: Path,
) -> None:
    async with TrainerService(
        models={"policy": WeightModel(5.0)},
        buffers={"buf": SequentialBuffer(4)},
        trainers={"idle": Idle()},
        state_dir=tmp_path,
    ):
        pass  # the final checkpoint holds weight 5
    fresh = WeightModel()
    service = TrainerService(
        models={"policy": fresh},
        buffers={"buf": SequentialBuffer(4)},
        trainers={"idle": Idle()},
        state_dir=tmp_path,
        resume_from="latest",
        save_on_shutdown=False,
    )
    async with service:
        assert service.inference_models["policy"](1.0) == 5.0
        assert service.status().trainers["idle"].runs == 0


# 3 ---------------------------------------------------------------------------


def test_3_dict_buffers_and_pickle_helpers(tmp_path: Path) -> None:
    seq = DictSequentialBuffer[int](["a", "b"], max_size=2)
    for i in range(3):
        seq.add({"a": i, "b": -i})
    assert seq.get_data() == {"a": [1, 2], "b": [-1, -2]}
    rnd = DictRandomReplacementBuffer[int](["a"], max_size=2)
    rnd.add({"a": 1})
    assert rnd.get_data() == {"a": [1]}
    with pytest.raises(ValueError, match="Data keys .* do not match expected keys"):
        seq.add({"a": 1})
    save_pickle({"x": [1, 2]}, str(tmp_path / "obj.pkl"))
    assert load_pickle(tmp_path / "obj.pkl") == {"x": [1, 2]}


# 4 ---------------------------------------------------------------------------


def test_4_state_store_is_pamiq_cores(tmp_path: Path) -> None:
    store = StateStore(states_dir=tmp_path / "states")
    models = TrainingModelsDict(policy=WeightModel(3.0))
    store.register("models", models)
    with pytest.raises(KeyError, match="State with name 'models' is already"):
        store.register("models", models)
    path = store.save_state()
    assert path.parent == tmp_path / "states" and path.name.endswith(".state")
    assert [p.name for p in (tmp_path / "states").iterdir()] == [path.name]
    restored = TrainingModelsDict(policy=WeightModel())
    other = StateStore(tmp_path / "states")
    other.register("models", restored)
    other.load_state(path)
    assert restored.inference_models_dict["policy"](1.0) == 3.0


# 5 ---------------------------------------------------------------------------


class ListBuffer(DataBuffer[int, list[int]]):
    """A user's custom buffer: keeps everything, bounds only its queue."""

    def __init__(self, max_queue_size: int | None) -> None:
        super().__init__(max_queue_size)
        self.items: list[int] = []

    def add(self, data: int) -> None:
        self.items.append(data)

    def get_data(self) -> list[int]:
        return list(self.items)

    def __len__(self) -> int:
        return len(self.items)


def test_5_timestamps_are_bounded_by_max_queue_size() -> None:
    user = DataUser(ListBuffer(max_queue_size=3))
    for i in range(10):
        user.collector.collect(i)
        user.update()
    assert len(user) == 10
    assert user.count_data_added_since(-math.inf) == 3


# 6 ---------------------------------------------------------------------------


def test_6_count_is_strictly_after(monkeypatch: pytest.MonkeyPatch) -> None:
    user = DataUser(SequentialBuffer[int](10))
    for t in (1.0, 2.0, 3.0):
        monkeypatch.setattr(pamiq_time, "time", lambda t=t: t)
        user.collector.collect(int(t))
    user.update()
    assert user.count_data_added_since(2.0) == 1
    assert user.count_data_added_since(1.0) == 2


# 7 ---------------------------------------------------------------------------


def test_7_models_deepcopy_and_pickle() -> None:
    model = WeightModel(2.0)
    model.inference_model  # noqa: B018 - created, and with it the lock's use
    target = copy.deepcopy(model)
    target.weight = 9.0
    target.sync()
    assert model.inference_model(1.0) == 0.0  # the original is untouched
    assert target.inference_model(1.0) == 9.0
    clone = pickle.loads(pickle.dumps(model))
    assert clone.weight == 2.0
    assert copy.deepcopy(model.inference_model).weight == 0.0


# 8 ---------------------------------------------------------------------------


def _fill(seed: int) -> list[int]:
    random.seed(seed)
    buffer = RandomReplacementBuffer[int](5, replace_probability=0.5)
    for i in range(100):
        buffer.add(i)
    return buffer.get_data()


def test_8_random_seed_makes_sampling_reproducible() -> None:
    assert _fill(7) == _fill(7)
    assert _fill(7) != _fill(8)
    private = RandomReplacementBuffer[int](5, rng=random.Random(1))
    again = RandomReplacementBuffer[int](5, rng=random.Random(1))
    for i in range(50):
        private.add(i)
        again.add(i)
    assert private.get_data() == again.get_data()


# 9 ---------------------------------------------------------------------------


class GatedOnNew(Trainer):
    def __init__(self, count: int) -> None:
        super().__init__("buf", min_new_data_count=count)

    def train(self) -> None:
        pass


def test_9_min_new_data_count_above_max_size_trains() -> None:
    users = DataUsersDict.from_data_buffers(
        buf=RandomReplacementBuffer[int](4, replace_probability=0.5)
    )
    trainer = GatedOnNew(6)  # > max_size 4, <= max_queue_size 8
    trainer.attach_data_users(users)
    collector = users.data_collectors_dict.acquire("buf")
    for i in range(6):
        collector.collect(i)
    assert trainer.is_trainable()
    # what can never be met is refused, saying why
    with pytest.raises(ValueError, match="can never count more than 8"):
        GatedOnNew(9).attach_data_users(
            DataUsersDict.from_data_buffers(
                buf=RandomReplacementBuffer[int](4, replace_probability=0.5)
            )
        )


# 10 --------------------------------------------------------------------------


def test_10_collectors_read_the_clock_at_call_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = DataUser(SequentialBuffer[int](4))  # built before the patch
    monkeypatch.setattr(pamiq_time, "time", lambda: 100.0)
    user.collector.collect(1)
    user.update()
    assert user.count_data_added_since(99.0) == 1
    assert user.count_data_added_since(100.0) == 0


def test_10_the_clock_scales_and_pauses() -> None:
    clock = pamiq_time.TimeController()
    clock.set_time_scale(1000.0)
    start, real = clock.time(), pamiq_time.fixed_time()
    pamiq_time.fixed_sleep(0.01)
    assert clock.time() - start >= 0.9 * 1000 * (pamiq_time.fixed_time() - real - 0.005)
    clock.pause()
    frozen = clock.time()
    pamiq_time.fixed_sleep(0.01)
    assert clock.time() == frozen


async def test_10_pause_stops_the_clock_and_checkpoints_save_it(
    tmp_path: Path,
) -> None:
    service = TrainerService(
        models={"policy": WeightModel(1.0)},
        buffers={"buf": SequentialBuffer(4)},
        trainers={"idle": Idle()},
        state_dir=tmp_path,
    )
    async with service:
        await service.pause()
        assert pamiq_time.is_paused()
        frozen = pamiq_time.time()
        path = await service.save_state()
        await service.resume()
        assert not pamiq_time.is_paused()
    assert not pamiq_time.is_paused()
    # pamiq-core's StateStore with the clock registered loads the checkpoint
    clock = pamiq_time.TimeController()
    models = TrainingModelsDict(policy=WeightModel())
    users = DataUsersDict.from_data_buffers(buf=SequentialBuffer[int](4))
    trainers = TrainersDict(idle=Idle())
    store = StateStore(tmp_path / "pamiq")
    for name, state in (("models", models), ("data", users), ("trainers", trainers)):
        store.register(name, state)
    store.register("time", clock)
    store.load_state(path)
    assert clock.time() == pytest.approx(frozen, abs=0.5)
    assert models.inference_models_dict["policy"](1.0) == 1.0
    assert trainers["idle"].previous_training_time == -math.inf


class Every(Trainer):
    """Trainable every ``seconds`` of aiotrainer.time."""

    def __init__(self, seconds: float, journal: Journal) -> None:
        super().__init__(condition=MinInterval(seconds))
        self.journal = journal

    def train(self) -> None:
        self.journal.record("every", "trained")


async def test_10_conditions_wait_on_the_scaled_clock() -> None:
    # 2 runs 60 clock-seconds apart: a minute of real time unless scaled
    pamiq_time.set_time_scale(1000.0)  # the conftest fixture puts it back
    journal = Journal()
    async with TrainerService(trainers={"every": Every(60.0, journal)}):
        await journal.wait_until(lambda: journal.count("every", "trained") >= 2)


# 11 --------------------------------------------------------------------------


def test_11_pamiq_cores_exception_types_and_wording() -> None:
    with pytest.raises(AttributeError):
        ReadsTwoUsers().get_data_user("main")
    with pytest.raises(ValueError, match="max_queue_size must be non-negative"):
        ListBuffer(max_queue_size=-1)
    with pytest.warns(RuntimeWarning, match="max_queue_size is None"):
        ListBuffer(max_queue_size=None)
    assert ListBuffer(max_queue_size=0).max_queue_size == 0
    collectors = DataCollectorsDict()
    with pytest.raises(KeyError, match="'unknown' not found"):
        collectors.acquire("unknown")
    with pytest.raises(ValueError, match="Cannot specify both replace_probability"):
        RandomReplacementBuffer(4, 0.5, 10)

    class InferenceOnly(WeightModel):
        def __init__(self) -> None:
            TrainingModel.__init__(self, inference_thread_only=True)
            self.weight = 0.0

    models = TrainingModelsDict(frozen=InferenceOnly())
    with pytest.raises(KeyError, match="model 'frozen' is inference thread only."):
        models["frozen"]
    assert "sync_impl" in TrainingModel.__abstractmethods__
    trainer = ReadsTwoUsers()
    trainer.attach_training_models({"policy": WeightModel()})  # any mapping


# 12 --------------------------------------------------------------------------


async def test_12_a_pamiq_core_state_dir_loads(tmp_path: Path) -> None:
    # What pamiq-core's launcher registers and saves (its StateStore's layout)
    models = TrainingModelsDict(policy=WeightModel(4.0))
    users = DataUsersDict.from_data_buffers(buf=SequentialBuffer[int](4))
    trainers = TrainersDict(idle=Idle())
    trainers.attach_training_models(models)
    trainers.attach_data_users(users)
    users.data_collectors_dict.acquire("buf").collect(42)
    pamiq = StateStore(tmp_path / "pamiq")
    for name, state in (("models", models), ("data", users), ("trainers", trainers)):
        pamiq.register(name, state)
    pamiq.register("time", pamiq_time.TimeController())
    state_dir = pamiq.save_state()

    service = TrainerService(
        models={"policy": WeightModel()},
        buffers={"buf": SequentialBuffer(4)},
        trainers={"idle": Idle()},
        resume_from=state_dir,
    )
    async with service:
        report = service.restore_report
        assert report is not None and report.source == "pamiq-core"
        assert report.loaded["models"] == ["policy"] and report.time_restored
        assert service.inference_models["policy"](1.0) == 4.0
        assert service.data_users["buf"].get_data() == [42]


# 13 --------------------------------------------------------------------------


class RecordingBuffer(ListBuffer):
    """A custom buffer without capture_state(): saved where the service says."""

    saved_at: ClassVar[list[Path]] = []

    def save_state(self, path: Path) -> None:
        RecordingBuffer.saved_at.append(path)
        path.with_suffix(".txt").write_text(repr(self.items))


async def test_13_a_custom_buffer_stages_inside_the_checkpoint_dir(
    tmp_path: Path,
) -> None:
    RecordingBuffer.saved_at.clear()
    service = TrainerService(
        models={"policy": WeightModel()},
        buffers={"buf": RecordingBuffer(8)},
        trainers={"idle": Idle()},
        state_dir=tmp_path / "ckpt",
        save_on_shutdown=False,
    )
    async with service:
        path = await service.save_state()
    (staged,) = RecordingBuffer.saved_at
    assert staged.parts[-3:] == ("data", "buf", "buffer")
    assert staged.is_relative_to(tmp_path / "ckpt")
    assert (path / "data" / "buf" / "buffer.txt").read_text() == "[]"


# Also --------------------------------------------------------------------------


class Forgetful(WeightModel):
    """A model whose save_state writes nothing (the base class's default)."""

    def save_state(self, path: Path) -> None:
        pass


async def test_also_a_model_that_saves_nothing_is_recorded_and_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    service = TrainerService(
        models={"policy": Forgetful(), "kept": WeightModel()},
        buffers={"buf": SequentialBuffer(4)},
        trainers={"idle": Idle()},
        state_dir=tmp_path,
        save_on_shutdown=False,
    )
    with caplog.at_level(logging.WARNING, logger="aiotrainer.service"):
        async with service:
            first = await service.save_state()
            await service.save_state()
    warnings = [r for r in caplog.records if "saved no state" in r.getMessage()]
    assert [r.getMessage() for r in warnings] == [
        "model 'policy' saved no state; override save_state/load_state"
    ]
    assert service.store is not None
    checkpoint = service.store.resolve(first.name)
    assert checkpoint.metadata["wrote_nothing"] == {
        "models": ["policy"],
        "trainers": [],
    }
    capsys.readouterr()
    assert cli_main(["checkpoints", str(tmp_path), "--verify"]) == 0
    assert "ok (saved no state: model 'policy')" in capsys.readouterr().out


def test_also_status_separates_evicted_from_lost() -> None:
    user = DataUser(SequentialBuffer[int](2))
    for i in range(5):  # the queue holds 2: three are lost before update()
        user.collector.collect(i)
    user.update()
    for i in range(2):  # the full buffer evicts two: normal
        user.collector.collect(i)
    user.update()
    stats = user.statistics()
    assert (stats.dropped_in_queue, stats.dropped_in_buffer) == (3, 2)


async def test_also_status_splits_and_run_counts_survive_a_restart(
    tmp_path: Path,
) -> None:
    journal = Journal()
    first = TrainerService(
        models={"policy": WeightModel()},
        buffers={"buf": SequentialBuffer(2)},
        trainers={"t": InstrumentedTrainer("t", journal)},
        state_dir=tmp_path,
    )
    async with first:
        await journal.wait_until(lambda: journal.count("t", "trained") >= 3)
        collector = first.data_collectors.acquire("buf")
        for i in range(5):
            collector.collect(i)
        buf = first.status().buffers["buf"]
        assert (buf.lost, buf.evicted) == (3, 0)
        first.data_users["buf"].update()
        for i in range(2):
            collector.collect(i)
        first.data_users["buf"].update()
        buf = first.status().buffers["buf"]
        assert (buf.lost, buf.evicted, buf.dropped) == (3, 2, 5)
    runs = first.status().trainers["t"].runs
    assert runs >= 3

    second = TrainerService(
        models={"policy": WeightModel()},
        buffers={"buf": SequentialBuffer(4)},  # holds the 2 restored: never 3
        trainers={
            "t": InstrumentedTrainer("t", Journal(), user="buf", min_buffer_size=3)
        },
        state_dir=tmp_path,
        resume_from="latest",
        save_on_shutdown=False,
        strict=False,
    )
    with anyio.fail_after(DEADLINE):
        async with second:
            assert second.status().trainers["t"].runs == runs
