"""The Trainer contract (pamiq-core's), used synchronously with no event loop."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from aiotrainer import (
    AiotrainerError,
    AllOf,
    DataUsersDict,
    InferenceModel,
    MinBufferSize,
    MinInterval,
    MinNewData,
    NotAttachedError,
    PersistentStateMixin,
    SampleToInsertRatio,
    SequentialBuffer,
    ThreadEventMixin,
    Trainer,
    TrainingModel,
    TrainingModelsDict,
    UnknownNameError,
)
from aiotrainer import time as clock


class Weights(InferenceModel):
    def __init__(self) -> None:
        self.version = 0

    def infer(self) -> int:
        return self.version


class Model(TrainingModel[Weights]):
    """Logs its syncs into a shared list, to check the order of a run."""

    def __init__(self, log: list[str], name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log = log
        self.name = name
        self.version = 0

    def _create_inference_model(self) -> Weights:
        return Weights()

    def forward(self) -> int:
        return self.version

    def sync_impl(self, inference_model: Weights) -> None:
        self.log.append(f"sync:{self.name}")
        inference_model.version = self.version


class Recorder(Trainer):
    """Logs every hook; retrieves the models and users it is told to."""

    def __init__(
        self,
        *args: Any,
        models: Iterable[str] = (),
        users: Iterable[str] = (),
        log: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.log: list[str] = [] if log is None else log
        self.model_names = list(models)
        self.user_names = list(users)
        self.models: dict[str, TrainingModel[Any]] = {}
        self.users: dict[str, Any] = {}
        self.fail_train = False

    def on_training_models_attached(self) -> None:
        self.log.append("on_training_models_attached")
        self.models = {n: self.get_training_model(n) for n in self.model_names}

    def on_data_users_attached(self) -> None:
        self.log.append("on_data_users_attached")
        self.users = {n: self.get_data_user(n) for n in self.user_names}

    def setup(self) -> None:
        self.log.append("setup")

    def train(self) -> None:
        self.log.append("train")
        if self.fail_train:
            raise RuntimeError("training blew up")
        for model in self.models.values():
            model.version += 1  # type: ignore[attr-defined]

    def teardown(self) -> None:
        self.log.append("teardown")

    def on_paused(self) -> None:
        self.log.append("on_paused")

    def on_resumed(self) -> None:
        self.log.append("on_resumed")


class Minimal(Trainer):
    def train(self) -> None:
        pass


@pytest.fixture
def log() -> list[str]:
    return []


@pytest.fixture
def models(log: list[str]) -> TrainingModelsDict:
    return TrainingModelsDict(
        policy=Model(log, "policy"),
        critic=Model(log, "critic"),
        frozen=Model(log, "frozen", inference_thread_only=True),
    )


@pytest.fixture
def users() -> DataUsersDict:
    return DataUsersDict.from_data_buffers(
        obs=SequentialBuffer[int](10), act=SequentialBuffer[int](10)
    )


def collect(users: DataUsersDict, name: str, n: int) -> None:
    c = users[name].collector
    for i in range(n):
        c.collect(i)


def attached(
    trainer: Trainer, models: TrainingModelsDict, users: DataUsersDict
) -> Trainer:
    trainer.attach_training_models(models)
    trainer.attach_data_users(users)
    return trainer


class TestConstruction:
    def test_defaults(self) -> None:
        trainer = Minimal()
        assert trainer.trainability_condition is None
        assert trainer.previous_training_time == -math.inf
        assert trainer.retrieved_model_names == frozenset()
        assert isinstance(trainer, PersistentStateMixin)
        assert isinstance(trainer, ThreadEventMixin)

    def test_a_data_user_maps_to_the_built_in_conditions(self) -> None:
        cond = Minimal("obs", 4, 2).trainability_condition
        assert isinstance(cond, AllOf)
        assert repr(cond) == "all_of(MinBufferSize('obs', 4), MinNewData('obs', 2))"

    def test_an_extra_condition_must_hold_too(self) -> None:
        only = Minimal(condition=MinInterval(5))
        assert repr(only.trainability_condition) == "MinInterval(5.0)"
        both = Minimal("obs", condition=MinInterval(5))
        assert repr(both.trainability_condition) == (
            "all_of(all_of(MinBufferSize('obs', 0), MinNewData('obs', 0)), "
            "MinInterval(5.0))"
        )

    def test_is_abstract(self) -> None:
        with pytest.raises(TypeError, match="abstract"):
            Trainer()  # type: ignore[abstract]

    @pytest.mark.parametrize(
        ("args", "kwargs", "error", "message"),
        [
            (
                ("",),
                {},
                TypeError,
                (
                    r"Minimal: training_condition_data_user must be a non-empty str or "
                    r"None, got ''"
                ),
            ),
            (
                (3,),
                {},
                TypeError,
                (
                    r"training_condition_data_user must be a non-empty str or None, "
                    r"got 3"
                ),
            ),
            (("obs", -1), {}, ValueError, r"min_buffer_size must be >= 0, got -1"),
            (("obs", True), {}, TypeError, r"min_buffer_size must be an int, got True"),
            (("obs", 2.0), {}, TypeError, r"min_buffer_size must be an int, got 2\.0"),
            (
                ("obs", 0, -5),
                {},
                ValueError,
                r"min_new_data_count must be >= 0, got -5",
            ),
            (
                ("obs", 0, False),
                {},
                TypeError,
                r"min_new_data_count must be an int, got False",
            ),
            ((None, -1), {}, ValueError, r"min_buffer_size must be >= 0, got -1"),
            (
                (),
                {"condition": 5},
                TypeError,
                r"Minimal: condition must be a Condition, got 5",
            ),
        ],
        ids=[
            "empty-user",
            "int-user",
            "negative-size",
            "bool-size",
            "float-size",
            "negative-count",
            "bool-count",
            "negative-size-without-user",
            "condition-not-a-condition",
        ],
    )
    def test_rejects_bad_arguments(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        error: type[Exception],
        message: str,
    ) -> None:
        with pytest.raises(error, match=message):
            Minimal(*args, **kwargs)


class TestPamiqLeniency:
    def test_sizes_without_a_condition_user_are_ignored_as_in_pamiq(self) -> None:
        trainer = Minimal(None, 3, 2)
        assert trainer.trainability_condition is None
        assert trainer.is_trainable() is True
        # pamiq-core records nothing when there is no condition
        assert trainer.previous_training_time == float("-inf")


class TestAttach:
    def test_models_are_stored_before_the_hook_runs(
        self, models: TrainingModelsDict
    ) -> None:
        trainer = Recorder(models=["policy"])
        trainer.attach_training_models(models)
        assert trainer.log == ["on_training_models_attached"]
        assert trainer.models == {"policy": models["policy"]}

    def test_users_are_stored_before_the_hook_runs(self, users: DataUsersDict) -> None:
        trainer = Recorder(users=["obs", "act"])
        trainer.attach_data_users(users)
        assert trainer.log == ["on_data_users_attached"]
        assert trainer.users == {"obs": users["obs"], "act": users["act"]}
        assert trainer.get_data_user("obs") is users["obs"]

    def test_reattaching_replaces_and_calls_the_hook_again(
        self, models: TrainingModelsDict, log: list[str]
    ) -> None:
        trainer = Recorder(models=["policy"])
        trainer.attach_training_models(models)
        other = TrainingModelsDict(policy=Model(log, "policy"))
        trainer.attach_training_models(other)
        assert trainer.log == ["on_training_models_attached"] * 2
        assert trainer.get_training_model("policy") is other["policy"]

    @pytest.mark.parametrize(
        ("method", "value", "message"),
        [
            (
                "attach_training_models",
                [],
                (
                    r"Minimal\.attach_training_models\(\) needs a TrainingModelsDict "
                    r"\(a mapping of name -> TrainingModel\), got list"
                ),
            ),
            (
                "attach_data_users",
                {"obs": SequentialBuffer[int](3)},
                (
                    r"Minimal\.attach_data_users\(\) needs a DataUsersDict "
                    r"\(a mapping of name -> DataUser\), got dict"
                ),
            ),
        ],
        ids=["models", "users"],
    )
    def test_rejects_the_wrong_dict(
        self, method: str, value: Any, message: str
    ) -> None:
        with pytest.raises(TypeError, match=message):
            getattr(Minimal(), method)(value)

    def test_min_buffer_size_above_capacity_fails_at_attach(
        self, users: DataUsersDict
    ) -> None:
        trainer = Recorder("obs", 11, users=["obs"])
        with pytest.raises(
            ValueError,
            match=r"trainer 'Recorder' needs min_buffer_size=11 items in data user "
            r"'obs', which can never count more than 10 \(its buffer's max_size\); expected min_buffer_size <= 10",
        ):
            trainer.attach_data_users(users)
        assert trainer.log == []  # the hook did not run
        with pytest.raises(NotAttachedError):
            trainer.get_data_user("obs")  # and nothing was attached

    def test_min_buffer_size_equal_to_capacity_is_fine(
        self, users: DataUsersDict
    ) -> None:
        trainer = Minimal("obs", 10)
        trainer.attach_data_users(users)
        collect(users, "obs", 10)
        assert trainer.is_trainable()

    def test_min_new_data_count_above_capacity_fails_at_attach(
        self, users: DataUsersDict
    ) -> None:
        # the data user counts at most max_size new items: it would never train
        with pytest.raises(ValueError, match=r"min_new_data_count=11 new items"):
            Minimal("obs", 0, 11).attach_data_users(users)

    def test_an_unknown_condition_user_fails_at_attach(
        self, users: DataUsersDict
    ) -> None:
        with pytest.raises(
            KeyError, match=r"named 'reward'; expected one of: 'act', 'obs'"
        ):
            Minimal("reward").attach_data_users(users)
        with pytest.raises(KeyError, match=r"named 'reward'"):
            Minimal(condition=MinNewData("reward", 1)).attach_data_users(users)


class TestLookup:
    @pytest.mark.parametrize(
        ("method", "message"),
        [
            (
                "get_training_model",
                (
                    r"trainer 'Minimal' has no training models attached yet; call "
                    r"attach_training_models\(\) first"
                ),
            ),
            (
                "get_data_user",
                (
                    r"trainer 'Minimal' has no data users attached yet; call "
                    r"attach_data_users\(\) first"
                ),
            ),
        ],
        ids=["model", "user"],
    )
    def test_before_attaching_raises_not_attached(
        self, method: str, message: str
    ) -> None:
        with pytest.raises(NotAttachedError, match=message) as info:
            getattr(Minimal(), method)("x")
        assert isinstance(info.value, RuntimeError)
        assert isinstance(info.value, AiotrainerError)

    def test_sync_models_before_attaching_raises_not_attached(self) -> None:
        with pytest.raises(NotAttachedError, match=r"no training models attached"):
            Minimal().sync_models()

    def test_is_trainable_before_attaching_raises_not_attached(self) -> None:
        with pytest.raises(NotAttachedError, match=r"no data users attached"):
            Minimal("obs").is_trainable()

    def test_unknown_model_lists_the_known_ones(
        self, models: TrainingModelsDict
    ) -> None:
        trainer = Minimal()
        trainer.attach_training_models(models)
        with pytest.raises(
            KeyError,
            match=r"no training model named 'actor'; expected one of: 'critic', "
            r"'policy'",
        ) as info:
            trainer.get_training_model("actor")
        assert isinstance(info.value, UnknownNameError)
        assert trainer.retrieved_model_names == frozenset()

    def test_inference_thread_only_model_cannot_be_retrieved(
        self, models: TrainingModelsDict
    ) -> None:
        trainer = Minimal()
        trainer.attach_training_models(models)
        with pytest.raises(KeyError, match=r"'frozen' is inference thread only"):
            trainer.get_training_model("frozen")
        assert trainer.retrieved_model_names == frozenset()

    def test_unknown_data_user_lists_the_known_ones(self, users: DataUsersDict) -> None:
        trainer = Minimal()
        trainer.attach_data_users(users)
        with pytest.raises(
            KeyError,
            match=r"no data user named 'reward'; expected one of: 'act', 'obs'",
        ) as info:
            trainer.get_data_user("reward")
        assert isinstance(info.value, UnknownNameError)


class TestSyncModels:
    def test_syncs_exactly_the_retrieved_models(
        self, models: TrainingModelsDict, log: list[str]
    ) -> None:
        trainer = Minimal()
        trainer.attach_training_models(models)
        assert trainer.get_training_model("policy") is models["policy"]
        trainer.sync_models()
        assert log == ["sync:policy"]
        assert trainer.retrieved_model_names == frozenset({"policy"})

    def test_retrieving_twice_syncs_once(
        self, models: TrainingModelsDict, log: list[str]
    ) -> None:
        trainer = Minimal()
        trainer.attach_training_models(models)
        trainer.get_training_model("critic")
        trainer.get_training_model("critic")
        trainer.sync_models()
        assert log == ["sync:critic"]

    def test_nothing_retrieved_syncs_nothing(
        self, models: TrainingModelsDict, log: list[str]
    ) -> None:
        trainer = Minimal()
        trainer.attach_training_models(models)
        trainer.sync_models()
        assert log == []

    def test_models_retrieved_later_are_synced_too(
        self, models: TrainingModelsDict, log: list[str]
    ) -> None:
        trainer = Minimal()
        trainer.attach_training_models(models)
        trainer.get_training_model("policy")
        trainer.get_training_model("critic")
        trainer.sync_models()
        assert sorted(log) == ["sync:critic", "sync:policy"]

    def test_sync_copies_into_the_inference_model(
        self, models: TrainingModelsDict, log: list[str]
    ) -> None:
        trainer = Recorder(models=["policy"])
        trainer.attach_training_models(models)
        inference = models.inference_models_dict["policy"]
        assert trainer.run()
        assert inference() == 1
        assert models.inference_models_dict["critic"]() == 0


class TestIsTrainable:
    def test_always_trainable_without_a_data_user(self) -> None:
        trainer = Minimal()
        assert [trainer.is_trainable() for _ in range(3)] == [True] * 3

    def test_calls_update_on_the_data_user(self, users: DataUsersDict) -> None:
        trainer = Minimal("obs", 5)
        trainer.attach_data_users(users)
        collect(users, "obs", 3)
        assert not trainer.is_trainable()
        assert users["obs"].statistics().pending == 0
        assert users["obs"].get_data() == [0, 1, 2]

    @pytest.mark.parametrize(
        ("collected", "trainable"),
        [(0, False), (4, False), (5, True), (8, True)],
        ids=["empty", "one-short", "exact", "more"],
    )
    def test_needs_min_buffer_size_items(
        self, users: DataUsersDict, collected: int, trainable: bool
    ) -> None:
        trainer = Minimal("obs", 5)
        trainer.attach_data_users(users)
        collect(users, "obs", collected)
        assert trainer.is_trainable() is trainable

    def test_min_buffer_size_zero_is_trainable_when_empty(
        self, users: DataUsersDict
    ) -> None:
        trainer = Minimal("obs")
        trainer.attach_data_users(users)
        assert trainer.is_trainable()

    def test_needs_min_new_data_count_items_since_the_last_time(
        self, users: DataUsersDict
    ) -> None:
        trainer = Minimal("obs", 0, 3)
        trainer.attach_data_users(users)
        collect(users, "obs", 2)
        assert not trainer.is_trainable()
        collect(users, "obs", 1)
        assert trainer.is_trainable()
        # the same items do not count twice
        assert not trainer.is_trainable()
        collect(users, "obs", 2)
        assert not trainer.is_trainable()
        collect(users, "obs", 1)
        assert trainer.is_trainable()

    def test_needs_both_sizes(self, users: DataUsersDict) -> None:
        trainer = Minimal("obs", 5, 2)
        trainer.attach_data_users(users)
        collect(users, "obs", 4)
        assert not trainer.is_trainable()  # 4 new but only 4 stored
        collect(users, "obs", 1)
        assert trainer.is_trainable()
        collect(users, "obs", 1)
        assert not trainer.is_trainable()  # 6 stored but only 1 new
        collect(users, "obs", 1)
        assert trainer.is_trainable()

    def test_only_reads_its_own_data_user(self, users: DataUsersDict) -> None:
        trainer = Minimal("obs", 1)
        trainer.attach_data_users(users)
        collect(users, "act", 5)
        assert not trainer.is_trainable()
        assert users["act"].statistics().pending == 5  # not updated

    def test_sets_previous_training_time_only_when_true(
        self, users: DataUsersDict
    ) -> None:
        trainer = Minimal("obs", 2)
        trainer.attach_data_users(users)
        collect(users, "obs", 1)
        assert not trainer.is_trainable()
        assert trainer.previous_training_time == -math.inf

        collect(users, "obs", 1)
        before = clock.time()
        assert trainer.is_trainable()
        after = clock.time()
        first = trainer.previous_training_time
        assert before <= first <= after

        trainer_strict = Minimal("obs", 0, 1)
        trainer_strict.attach_data_users(users)
        assert trainer_strict.is_trainable()
        stamp = trainer_strict.previous_training_time
        assert not trainer_strict.is_trainable()
        assert trainer_strict.previous_training_time == stamp

    def test_extra_condition_must_hold_too(self, users: DataUsersDict) -> None:
        trainer = Minimal("obs", 1, condition=MinInterval(3600))
        trainer.attach_data_users(users)
        collect(users, "obs", 1)
        assert trainer.is_trainable()
        collect(users, "obs", 1)
        assert not trainer.is_trainable()  # less than an hour since

    def test_extra_condition_updates_its_own_data_users(
        self, users: DataUsersDict
    ) -> None:
        trainer = Minimal(condition=MinBufferSize("act", 3) & MinNewData("obs", 1))
        trainer.attach_data_users(users)
        collect(users, "act", 3)
        collect(users, "obs", 1)
        assert trainer.is_trainable()
        assert users["act"].statistics().pending == 0
        assert users["obs"].statistics().pending == 0
        assert not trainer.is_trainable()  # no new obs since

    def test_sample_to_insert_ratio_counts_completed_runs(
        self, users: DataUsersDict
    ) -> None:
        trainer = Minimal(
            condition=SampleToInsertRatio("obs", 1.0, min_size_to_sample=0)
        )
        trainer.attach_training_models(TrainingModelsDict())
        trainer.attach_data_users(users)
        collect(users, "obs", 2)
        assert [trainer.run() for _ in range(3)] == [True, True, False]
        collect(users, "obs", 1)
        assert trainer.run()

    def test_runs_without_an_event_loop(
        self, models: TrainingModelsDict, users: DataUsersDict, log: list[str]
    ) -> None:
        with pytest.raises(RuntimeError, match="no running event loop"):
            asyncio.get_running_loop()
        trainer = attached(
            Recorder("obs", 2, 1, models=["policy"], log=log), models, users
        )
        collect(users, "obs", 2)
        assert trainer.run()
        assert models.inference_models_dict["policy"]() == 1


class TestRun:
    def test_not_trainable_returns_false_and_runs_nothing(
        self, models: TrainingModelsDict, users: DataUsersDict, log: list[str]
    ) -> None:
        trainer = attached(
            Recorder("obs", 3, models=["policy"], log=log), models, users
        )
        log.clear()
        collect(users, "obs", 2)
        assert trainer.run() is False
        assert log == []

    def test_runs_setup_train_sync_teardown_in_order(
        self, models: TrainingModelsDict, users: DataUsersDict, log: list[str]
    ) -> None:
        trainer = attached(Recorder(models=["policy"], log=log), models, users)
        assert log == ["on_training_models_attached", "on_data_users_attached"]
        log.clear()
        assert trainer.run() is True
        assert log == ["setup", "train", "sync:policy", "teardown"]

    def test_each_run_trains_and_syncs_again(
        self, models: TrainingModelsDict, users: DataUsersDict, log: list[str]
    ) -> None:
        trainer = attached(
            Recorder(models=["policy", "critic"], log=log), models, users
        )
        for _ in range(3):
            assert trainer.run()
        assert models.inference_models_dict["policy"]() == 3
        assert log.count("train") == 3
        assert log.count("sync:policy") == log.count("sync:critic") == 3

    def test_a_failing_train_propagates_and_does_not_sync(
        self, models: TrainingModelsDict, users: DataUsersDict, log: list[str]
    ) -> None:
        trainer = attached(Recorder(models=["policy"], log=log), models, users)
        trainer.fail_train = True
        log.clear()
        with pytest.raises(RuntimeError, match="training blew up"):
            trainer.run()
        assert "sync:policy" not in log
        assert models.inference_models_dict["policy"]() == 0

    def test_pause_hooks_are_plain_methods(self) -> None:
        trainer = Recorder()
        trainer.on_paused()
        trainer.on_resumed()
        assert trainer.log == ["on_paused", "on_resumed"]
        Minimal().on_paused()  # the defaults do nothing and do not raise
        Minimal().on_resumed()


class TestState:
    def test_save_writes_previous_training_time_as_text(
        self, users: DataUsersDict, tmp_path: Path
    ) -> None:
        trainer = Minimal("obs")
        trainer.attach_data_users(users)
        assert trainer.is_trainable()
        trainer.save_state(tmp_path / "trainer")
        assert (tmp_path / "trainer").is_dir()
        text = (tmp_path / "trainer" / "previous_training_time").read_text("utf-8")
        assert float(text) == trainer.previous_training_time

    def test_load_reads_it_back(self, users: DataUsersDict, tmp_path: Path) -> None:
        trainer = Minimal("obs")
        trainer.attach_data_users(users)
        trainer.is_trainable()
        trainer.save_state(tmp_path / "trainer")

        restored = Minimal("obs")
        restored.load_state(tmp_path / "trainer")
        assert restored.previous_training_time == trainer.previous_training_time

    def test_round_trip_before_any_training(self, tmp_path: Path) -> None:
        Minimal().save_state(tmp_path / "trainer")
        assert (tmp_path / "trainer" / "previous_training_time").read_text() == "-inf"
        restored = Minimal()
        restored.load_state(tmp_path / "trainer")
        assert restored.previous_training_time == -math.inf

    def test_loaded_time_gates_new_data(
        self, users: DataUsersDict, tmp_path: Path
    ) -> None:
        collect(users, "obs", 3)
        trainer = Minimal("obs", 0, 1)
        trainer.attach_data_users(users)
        assert trainer.is_trainable()
        trainer.save_state(tmp_path / "trainer")

        restored = Minimal("obs", 0, 1)
        restored.attach_data_users(users)
        restored.load_state(tmp_path / "trainer")
        assert not restored.is_trainable()  # the 3 items are older
        collect(users, "obs", 1)
        assert restored.is_trainable()

    def test_save_into_an_existing_path_refuses(self, tmp_path: Path) -> None:
        with pytest.raises(FileExistsError):
            Minimal().save_state(tmp_path)

    def test_load_of_a_missing_directory_raises(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError):
            Minimal().load_state(tmp_path / "nothing")
