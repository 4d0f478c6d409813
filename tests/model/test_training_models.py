"""TrainingModel, InferenceModel and their dicts."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from aiotrainer import (
    AiotrainerError,
    InferenceModel,
    InferenceModelsDict,
    TrainingModel,
    TrainingModelsDict,
    UnknownNameError,
)


class Scale(InferenceModel):
    def __init__(self) -> None:
        self.factor = 0.0

    def infer(self, x: float) -> float:
        return self.factor * x


class ScaleModel(TrainingModel[Scale]):
    def __init__(self, factor: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factor = factor
        self.created = 0
        self.synced = 0

    def _create_inference_model(self) -> Scale:
        self.created += 1
        return Scale()

    def forward(self, x: float) -> float:
        return self.factor * x

    def sync_impl(self, inference_model: Scale) -> None:
        self.synced += 1
        inference_model.factor = self.factor

    def save_state(self, path: Path) -> None:
        path.with_suffix(".json").write_text(json.dumps({"factor": self.factor}))

    def load_state(self, path: Path) -> None:
        self.factor = json.loads(path.with_suffix(".json").read_text())["factor"]


class NoSyncModel(TrainingModel[Scale]):
    def _create_inference_model(self) -> Scale:
        return Scale()

    def forward(self, x: float) -> float:
        return x


class TestInferenceModel:
    def test_calling_it_infers(self) -> None:
        model = Scale()
        model.factor = 3.0
        assert model(2.0) == 6.0

    def test_is_abstract(self) -> None:
        with pytest.raises(TypeError, match="abstract"):
            InferenceModel()  # type: ignore[abstract]


class TestTrainingModel:
    def test_calling_it_runs_forward(self) -> None:
        assert ScaleModel(2.0)(5.0) == 10.0

    def test_inference_model_is_created_once_on_first_access(self) -> None:
        model = ScaleModel()
        assert model.created == 0
        first = model.inference_model
        assert model.inference_model is first
        assert model.created == 1

    def test_inference_model_is_created_once_from_many_threads(self) -> None:
        model = ScaleModel()
        seen: list[Scale] = []
        start = threading.Barrier(8, timeout=10)

        def touch() -> None:
            start.wait()
            seen.append(model.inference_model)

        threads = [threading.Thread(target=touch) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert not any(t.is_alive() for t in threads)
        assert model.created == 1
        assert len(seen) == 8
        assert all(s is seen[0] for s in seen)

    def test_sync_copies_into_the_inference_model(self) -> None:
        model = ScaleModel(4.0)
        assert model.inference_model(1.0) == 0.0
        model.sync()
        assert model.synced == 1
        assert model.inference_model(1.0) == 4.0

    def test_sync_without_an_inference_model_does_nothing(self) -> None:
        model = ScaleModel(has_inference_model=False)
        model.sync()
        assert model.synced == 0
        assert model.created == 0

    def test_inference_thread_only_model_is_never_synced(self) -> None:
        model = ScaleModel(inference_thread_only=True)
        model.sync()
        assert model.synced == 0

    def test_no_inference_model_raises_on_access(self) -> None:
        model = ScaleModel(has_inference_model=False)
        with pytest.raises(
            RuntimeError, match=r"ScaleModel was created with has_inference_model=False"
        ):
            model.inference_model  # noqa: B018

    def test_sync_impl_is_abstract(self) -> None:
        # abstract, as in pamiq-core: a model that cannot sync is refused at once
        assert "sync_impl" in TrainingModel.__abstractmethods__
        with pytest.raises(TypeError, match="abstract method sync_impl"):
            NoSyncModel()  # type: ignore[abstract]

    def test_thread_only_needs_an_inference_model(self) -> None:
        with pytest.raises(
            ValueError, match=r"inference_thread_only=True needs has_inference_model"
        ):
            ScaleModel(has_inference_model=False, inference_thread_only=True)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"has_inference_model": 1}, r"has_inference_model must be a bool, got 1"),
            (
                {"inference_thread_only": "yes"},
                r"inference_thread_only must be a bool, got 'yes'",
            ),
        ],
        ids=["has-inference-int", "thread-only-str"],
    )
    def test_rejects_non_bool_flags(self, kwargs: dict[str, Any], message: str) -> None:
        with pytest.raises(TypeError, match=message):
            ScaleModel(**kwargs)


@pytest.fixture
def models() -> TrainingModelsDict:
    return TrainingModelsDict(
        policy=ScaleModel(2.0),
        critic=ScaleModel(3.0, has_inference_model=False),
        frozen=ScaleModel(5.0, inference_thread_only=True),
    )


class TestTrainingModelsDict:
    def test_inference_models_dict_has_the_inference_sides(
        self, models: TrainingModelsDict
    ) -> None:
        inference = models.inference_models_dict
        assert isinstance(inference, InferenceModelsDict)
        assert sorted(inference) == ["frozen", "policy"]
        assert inference["policy"] is models.data["policy"].inference_model
        assert inference["frozen"] is models.data["frozen"].inference_model

    def test_setting_a_model_registers_its_inference_model(self) -> None:
        models = TrainingModelsDict()
        model = ScaleModel()
        models["m"] = model
        assert models["m"] is model
        assert models.inference_models_dict["m"] is model.inference_model

    def test_trainable_names_leave_out_thread_only_models(
        self, models: TrainingModelsDict
    ) -> None:
        assert models.trainable_names == ["critic", "policy"]

    def test_inference_thread_only_model_cannot_be_looked_up(
        self, models: TrainingModelsDict
    ) -> None:
        with pytest.raises(
            KeyError,
            match=r"model 'frozen' is inference thread only\. It is never trained "
            r"\(inference_thread_only=True\); trainable models: 'critic', 'policy'",
        ):
            models["frozen"]
        assert "frozen" in models
        assert models.inference_models_dict["frozen"](1.0) == 0.0

    def test_unknown_name_lists_the_trainable_ones(
        self, models: TrainingModelsDict
    ) -> None:
        with pytest.raises(
            KeyError,
            match=r"no training model named 'actor'; expected one of: 'critic', "
            r"'policy'$",
        ) as info:
            models["actor"]
        assert isinstance(info.value, UnknownNameError)
        assert isinstance(info.value, AiotrainerError)

    def test_unknown_inference_model_lists_the_known_ones(
        self, models: TrainingModelsDict
    ) -> None:
        with pytest.raises(
            KeyError,
            match=r"no inference model named 'critic'; expected one of: 'frozen', "
            r"'policy'",
        ):
            models.inference_models_dict["critic"]

    @pytest.mark.parametrize(
        ("key", "value", "message"),
        [
            ("", "model", r"a model's name must be a non-empty str, got ''"),
            (None, "model", r"a model's name must be a non-empty str, got None"),
            ("m", Scale(), r"model 'm' must be a TrainingModel, got Scale"),
        ],
        ids=["empty-name", "none-name", "inference-not-training"],
    )
    def test_rejects_bad_entries(self, key: Any, value: Any, message: str) -> None:
        if value == "model":
            value = ScaleModel()
        models = TrainingModelsDict()
        with pytest.raises(TypeError, match=message):
            models[key] = value
        assert len(models) == 0
        assert len(models.inference_models_dict) == 0

    def test_save_and_load_each_model(
        self, models: TrainingModelsDict, tmp_path: Path
    ) -> None:
        models.save_state(tmp_path / "models")
        assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [
            "critic.json",
            "frozen.json",
            "policy.json",
        ]
        restored = TrainingModelsDict(
            policy=ScaleModel(0.0),
            critic=ScaleModel(0.0, has_inference_model=False),
            frozen=ScaleModel(0.0, inference_thread_only=True),
        )
        restored.load_state(tmp_path / "models")
        factors = {name: m.factor for name, m in restored.data.items()}
        assert factors == {"policy": 2.0, "critic": 3.0, "frozen": 5.0}

    def test_save_into_an_existing_path_refuses(
        self, models: TrainingModelsDict, tmp_path: Path
    ) -> None:
        with pytest.raises(FileExistsError):
            models.save_state(tmp_path)
