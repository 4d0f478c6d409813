"""TrainersDict: attaching, pausing and saving apply to every trainer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiotrainer import (
    DataUsersDict,
    InferenceModel,
    PersistentStateMixin,
    SequentialBuffer,
    ThreadEventMixin,
    Trainer,
    TrainersDict,
    TrainingModel,
    TrainingModelsDict,
    UnknownNameError,
)


class Echo(InferenceModel):
    def infer(self, x: Any) -> Any:
        return x


class EchoModel(TrainingModel[Echo]):
    def _create_inference_model(self) -> Echo:
        return Echo()

    def forward(self, x: Any) -> Any:
        return x

    def sync_impl(self, inference_model: Echo) -> None:
        pass


class Hooked(Trainer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events: list[str] = []
        self.model: TrainingModel[Any] | None = None
        self.user: Any = None

    def on_training_models_attached(self) -> None:
        self.events.append("models")
        self.model = self.get_training_model("m")

    def on_data_users_attached(self) -> None:
        self.events.append("users")
        self.user = self.get_data_user("u")

    def train(self) -> None:
        self.events.append("train")

    def on_paused(self) -> None:
        self.events.append("paused")

    def on_resumed(self) -> None:
        self.events.append("resumed")


@pytest.fixture
def trainers() -> TrainersDict:
    return TrainersDict(first=Hooked("u", 1), second=Hooked())


class TestTrainersDict:
    def test_is_a_persistent_thread_event_component(
        self, trainers: TrainersDict
    ) -> None:
        assert isinstance(trainers, PersistentStateMixin)
        assert isinstance(trainers, ThreadEventMixin)
        assert sorted(trainers) == ["first", "second"]

    def test_attaches_models_and_users_to_every_trainer(
        self, trainers: TrainersDict
    ) -> None:
        models = TrainingModelsDict(m=EchoModel())
        users = DataUsersDict.from_data_buffers(u=SequentialBuffer[int](4))
        trainers.attach_training_models(models)
        trainers.attach_data_users(users)
        for trainer in trainers.values():
            assert isinstance(trainer, Hooked)
            assert trainer.events == ["models", "users"]
            assert trainer.model is models["m"]
            assert trainer.user is users["u"]

    def test_attach_stops_at_a_trainer_that_rejects_the_users(self) -> None:
        trainers = TrainersDict(ok=Hooked("u"), bad=Hooked("u", 5))
        users = DataUsersDict.from_data_buffers(u=SequentialBuffer[int](4))
        with pytest.raises(
            ValueError, match=r"trainer 'Hooked' needs min_buffer_size=5"
        ):
            trainers.attach_data_users(users)

    def test_broadcasts_pause_and_resume(self, trainers: TrainersDict) -> None:
        trainers.on_paused()
        trainers.on_resumed()
        trainers.on_paused()
        for trainer in trainers.values():
            assert isinstance(trainer, Hooked)
            assert trainer.events == ["paused", "resumed", "paused"]

    def test_saves_and_loads_each_trainer_by_name(
        self, trainers: TrainersDict, tmp_path: Path
    ) -> None:
        users = DataUsersDict.from_data_buffers(u=SequentialBuffer[int](4))
        users.data_collectors_dict.acquire("u").collect(0)
        trainers.attach_data_users(users)
        assert trainers["first"].is_trainable()
        stamp = trainers["first"].previous_training_time

        trainers.save_state(tmp_path / "trainers")

        saved = tmp_path / "trainers"
        assert sorted(p.name for p in saved.iterdir()) == ["first", "second"]
        assert float((saved / "first" / "previous_training_time").read_text()) == stamp
        assert (saved / "second" / "previous_training_time").read_text() == "-inf"

        restored = TrainersDict(first=Hooked("u", 1), second=Hooked())
        restored.load_state(saved)
        assert restored["first"].previous_training_time == stamp
        assert restored["second"].previous_training_time == float("-inf")

    def test_save_into_an_existing_path_refuses(
        self, trainers: TrainersDict, tmp_path: Path
    ) -> None:
        with pytest.raises(FileExistsError):
            trainers.save_state(tmp_path)

    def test_unknown_name_lists_the_known_ones(self, trainers: TrainersDict) -> None:
        with pytest.raises(
            KeyError, match=r"no trainer named 'third'; expected one of: 'first', "
        ) as info:
            trainers["third"]
        assert isinstance(info.value, UnknownNameError)

    def test_the_same_name_may_be_set_again(self, trainers: TrainersDict) -> None:
        first = trainers["first"]
        trainers["first"] = first
        assert trainers["first"] is first
        replacement = Hooked()
        trainers["first"] = replacement
        assert trainers["first"] is replacement

    def test_one_trainer_under_two_names_is_refused(
        self, trainers: TrainersDict
    ) -> None:
        with pytest.raises(
            ValueError,
            match=r"the same trainer object is registered as 'first' and 'again'",
        ):
            trainers["again"] = trainers["first"]
        assert "again" not in trainers

    @pytest.mark.parametrize(
        ("key", "value", "error_message"),
        [
            ("", "trainer", r"a trainer's name must be a non-empty str, got ''"),
            (1, "trainer", r"a trainer's name must be a non-empty str, got 1"),
            ("x", object(), r"trainer 'x' must be a Trainer, got object"),
            ("x", Hooked, r"trainer 'x' must be a Trainer, got ABCMeta"),
        ],
        ids=["empty-name", "int-name", "object", "trainer-class"],
    )
    def test_rejects_bad_entries(
        self, key: Any, value: Any, error_message: str
    ) -> None:
        if value == "trainer":
            value = Hooked()
        trainers = TrainersDict()
        with pytest.raises(TypeError, match=error_message):
            trainers[key] = value
        assert len(trainers) == 0
