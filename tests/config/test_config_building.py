"""Building components by import path: the service, the sources, clear errors."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from aiotrainer import ErrorPolicy, MinInterval, SequentialBuffer, TrainerService
from aiotrainer.config import ConfigError, ServiceConfig, load_config, resolve_target
from aiotrainer.demo import LinearModel, SyntheticSource

DEMO = Path(__file__).parents[2] / "configs" / "demo.yaml"


def _config(**sections: Any) -> ServiceConfig:
    base: dict[str, Any] = {
        "models": {"linear": {"target": "aiotrainer.demo:LinearModel"}},
        "buffers": {
            "samples": {
                "target": "aiotrainer:SequentialBuffer",
                "args": {"max_size": 50},
            }
        },
        "trainers": {"sgd": {"target": "aiotrainer.demo:LinearRegressionTrainer"}},
    }
    base.update(sections)
    return ServiceConfig.model_validate(base)


def _build_problems(config: ServiceConfig) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config.build_service()
    return info.value.problems


class TestBuildService:
    def test_builds_the_demo(self, tmp_path: Path) -> None:
        config = load_config(DEMO, overrides=[f"state.dir={tmp_path}"], environ={})
        service = config.build_service()
        assert isinstance(service, TrainerService)
        assert set(service.trainers) == {"sgd"}
        assert isinstance(service.training_models["linear"], LinearModel)
        assert isinstance(service.data_users["samples"].buffer, SequentialBuffer)
        assert service.data_users["samples"].buffer.max_size == 1000
        assert service.status().max_workers == 1

    def test_maps_every_setting_onto_the_constructor(self, tmp_path: Path) -> None:
        config = _config(
            workers={"max_workers": 3, "shutdown_timeout": 7, "linger": 0.5},
            state={"dir": str(tmp_path), "keep_last": 4, "resume": None},
            trainers={
                "sgd": {
                    "target": "aiotrainer.demo:LinearRegressionTrainer",
                    "on_error": {"action": "retry", "max_retries": 9},
                }
            },
        )
        kwargs = config.service_kwargs()
        assert kwargs["max_workers"] == 3
        assert kwargs["shutdown_timeout"] == 7.0
        assert kwargs["linger"] == 0.5
        assert kwargs["keep_last"] == 4
        assert kwargs["resume_from"] is None
        assert kwargs["on_error"] == {"sgd": ErrorPolicy("retry", max_retries=9)}
        # every key is a real constructor parameter
        params = inspect.signature(TrainerService).parameters
        assert set(kwargs) <= set(params)

    def test_the_clock_runs_at_the_configured_scale(self) -> None:
        import aiotrainer.time

        clock = aiotrainer.time.get_global_time_controller()
        assert clock.get_time_scale() == 1.0
        _config(clock={"time_scale": 4.0}).build_service()
        assert clock.get_time_scale() == 4.0  # the conftest fixture resets it

    @pytest.mark.parametrize("linger", [-1, "long", "nan"])
    def test_a_bad_linger_is_refused(self, linger: object) -> None:
        with pytest.raises(ValueError, match=r"workers\.linger"):
            _config(workers={"linger": linger})

    @pytest.mark.parametrize("scale", [0, -1, "fast"], ids=["zero", "negative", "str"])
    def test_a_bad_time_scale_is_refused(self, scale: object) -> None:
        with pytest.raises(ValueError, match="time_scale"):
            _config(clock={"time_scale": scale})

    def test_a_condition_is_built_and_passed(self) -> None:
        config = _config(
            trainers={
                "sgd": {
                    "target": "aiotrainer.demo:LinearRegressionTrainer",
                    "condition": {
                        "target": "aiotrainer:MinInterval",
                        "args": {"seconds": 2},
                    },
                }
            }
        )
        service = config.build_service()
        condition = service.trainers["sgd"]._extra_condition
        assert isinstance(condition, MinInterval)
        assert condition.seconds == 2.0

    def test_a_condition_of_the_wrong_kind(self) -> None:
        config = _config(
            trainers={
                "sgd": {
                    "target": "aiotrainer.demo:LinearRegressionTrainer",
                    "condition": {"target": "aiotrainer:SequentialBuffer"},
                }
            }
        )
        assert _build_problems(config) == [
            (
                "trainers.sgd.condition.target: expected a subclass of Condition "
                "(got class aiotrainer.data.buffers.SequentialBuffer)"
            )
        ]

    def test_a_bad_condition_does_not_hide_a_bad_trainer_target(self) -> None:
        config = _config(
            trainers={
                "sgd": {
                    "target": "aiotrainer.demo:LinearModel",
                    "condition": {"target": "aiotrainer.demo:LinearModel"},
                }
            }
        )
        assert _build_problems(config) == [
            (
                "trainers.sgd.condition.target: expected a subclass of Condition "
                "(got class aiotrainer.demo.components.LinearModel)"
            ),
            (
                "trainers.sgd.target: expected a subclass of Trainer "
                "(got class aiotrainer.demo.components.LinearModel)"
            ),
        ]

    @pytest.mark.parametrize(
        ("target", "expected"),
        [
            (
                "no_such_module:X",
                (
                    "models.linear.target: cannot import module 'no_such_module': "
                    "No module named 'no_such_module' (got 'no_such_module:X')"
                ),
            ),
            (
                "aiotrainer.demo:LinearModle",
                (
                    "models.linear.target: 'aiotrainer.demo' has no attribute "
                    "'LinearModle'; did you mean 'LinearModel'? "
                    "(got 'aiotrainer.demo:LinearModle')"
                ),
            ),
            (
                "aiotrainer:SequentialBuffer",
                (
                    "models.linear.target: expected a subclass of TrainingModel "
                    "(got class aiotrainer.data.buffers.SequentialBuffer)"
                ),
            ),
            (
                "aiotrainer:__version__",
                (
                    "models.linear.target: expected a class or factory, not a str "
                    "(got 'aiotrainer:__version__')"
                ),
            ),
        ],
        ids=["no-module", "misspelt", "wrong-kind", "not-callable"],
    )
    def test_bad_targets(self, target: str, expected: str) -> None:
        config = _config(models={"linear": {"target": target}})
        assert _build_problems(config) == [expected]

    def test_constructor_errors_name_the_args(self) -> None:
        config = _config(
            models={
                "linear": {"target": "aiotrainer.demo:LinearModel", "args": {"dim": 0}}
            },
            buffers={
                "samples": {
                    "target": "aiotrainer:SequentialBuffer",
                    "args": {"size": 5},
                }
            },
        )
        problems = _build_problems(config)
        assert problems[0] == (
            "models.linear.args: aiotrainer.demo:LinearModel(...) raised ValueError: "
            "dim must be an int >= 1, got 0 (got {'dim': 0})"
        )
        assert problems[1].startswith(
            "buffers.samples.args: aiotrainer:SequentialBuffer(...) raised TypeError:"
        )
        assert "'size'" in problems[1]

    def test_a_trainer_retrieving_a_missing_model(self) -> None:
        config = _config(
            trainers={
                "sgd": {
                    "target": "aiotrainer.demo:LinearRegressionTrainer",
                    "args": {"model": "lin"},
                }
            }
        )
        (problem,) = _build_problems(config)
        assert problem.startswith("trainers.sgd: no training model named 'lin'")
        assert "'linear'" in problem


class TestBuildSources:
    def test_a_class_source(self) -> None:
        config = _config(
            sources={
                "s": {
                    "target": "aiotrainer.demo:SyntheticSource",
                    "args": {"rate": 10},
                    "buffer": "samples",
                }
            }
        )
        source = config.build_sources()["s"]
        assert isinstance(source, SyntheticSource)
        assert source.rate == 10.0

    def test_an_async_function_source_gets_its_args(self) -> None:
        config = _config(
            sources={
                "s": {
                    "target": "asyncio:sleep",
                    "args": {"result": 1},
                    "buffer": "samples",
                }
            }
        )
        source = config.build_sources()["s"]
        assert source.keywords == {"result": 1}  # type: ignore[attr-defined]

    @pytest.mark.parametrize(
        ("target", "args", "expected"),
        [
            (
                "aiotrainer.demo:SyntheticStream",
                {},
                (
                    "sources.s.target: instances of SyntheticStream must have an "
                    "'async def __call__(self, collector)' "
                    "(got 'aiotrainer.demo:SyntheticStream')"
                ),
            ),
            (
                "time:sleep",
                {},
                (
                    "sources.s.target: expected an async function or a class whose "
                    "instances are async callables (got builtin_function_or_method "
                    "'time:sleep')"
                ),
            ),
            (
                "aiotrainer.demo:SyntheticSource",
                {"rate": -1},
                (
                    "sources.s: aiotrainer.demo:SyntheticSource(...) raised ValueError: "
                    "rate must be a finite number > 0, got -1 (got {'rate': -1})"
                ),
            ),
            (
                "anyio:sleep",
                {"speed": 1},
                "sources.s.args: got an unexpected keyword argument 'speed'",
            ),
        ],
        ids=["no-async-call", "sync-function", "bad-value", "bad-keyword"],
    )
    def test_bad_sources(
        self, target: str, args: dict[str, Any], expected: str
    ) -> None:
        config = _config(
            sources={"s": {"target": target, "args": args, "buffer": "samples"}}
        )
        with pytest.raises(ConfigError) as info:
            config.build_sources()
        assert info.value.problems == [expected]


def test_resolve_target_with_a_dotted_name() -> None:
    assert resolve_target("aiotrainer.demo:LinearModel.forward") is LinearModel.forward
