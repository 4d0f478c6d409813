"""TorchTrainer: optimizers and LR schedulers that survive runs and checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch.nn", reason="the torch extra is not installed")
import torch
from torch import nn

from aiotrainer import DataUsersDict, TrainingModel, TrainingModelsDict
from aiotrainer.torch import (
    OptimizersSetup,
    TorchTrainer,
    TorchTrainingModel,
)


class TinyModel(TrainingModel[Any]):
    """A non-torch training model, to be refused by get_torch_training_model."""

    def __init__(self) -> None:
        super().__init__(has_inference_model=False)

    def _create_inference_model(self) -> Any:
        raise NotImplementedError

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def sync_impl(self, inference_model: Any) -> None:
        pass


class AdamTrainer(TorchTrainer):
    """Adam with a step LR schedule on a regression toward fixed targets."""

    def __init__(self, schedulers: bool = True, steps: int = 3) -> None:
        super().__init__()
        self.schedulers, self.steps = schedulers, steps
        self.created = 0

    def on_training_models_attached(self) -> None:
        self.net = self.get_torch_training_model("net", nn.Sequential)

    def create_optimizers(self) -> OptimizersSetup:
        self.created += 1
        optimizer = torch.optim.Adam(self.net.model.parameters(), lr=0.01)
        if not self.schedulers:
            return {"adam": optimizer}
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
        return {"adam": optimizer}, {"step": scheduler}

    def train(self) -> None:
        gen = torch.Generator().manual_seed(self.created)
        for _ in range(self.steps):
            x = torch.randn(8, 4, generator=gen)
            loss = (self.net(x) - 1.0).pow(2).mean()
            self.optimizers["adam"].zero_grad()
            loss.backward()
            self.optimizers["adam"].step()
        for scheduler in self.lr_schedulers.values():
            scheduler.step()


def attach(trainer: TorchTrainer, seed: int = 0, **models: Any) -> TrainingModelsDict:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    models.setdefault("net", TorchTrainingModel(net))
    dict_ = TrainingModelsDict(models)
    trainer.attach_training_models(dict_)
    trainer.attach_data_users(DataUsersDict())
    return dict_


def assert_same_state(a: Any, b: Any) -> None:
    """Bit-for-bit equality of nested state dicts."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for key in a:
            assert_same_state(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same_state(x, y)
    else:
        assert a == b


class TestRuns:
    def test_state_carries_across_runs(self) -> None:
        trainer = AdamTrainer()
        models = attach(trainer)
        assert trainer.run()
        kept = trainer.optimizer_states["adam"]
        assert kept["state"][0]["step"] == 3
        assert trainer.lr_scheduler_states["step"]["last_epoch"] == 1
        assert trainer.run()
        assert trainer.created == 2  # fresh optimizers each setup, pamiq-core's way
        assert trainer.optimizer_states["adam"]["state"][0]["step"] == 6
        assert trainer.lr_scheduler_states["step"]["last_epoch"] == 2
        assert trainer.optimizers["adam"].param_groups[0]["lr"] == pytest.approx(0.005)
        # the retrieved model was synced after each run
        with torch.no_grad():
            x = torch.ones(1, 4)
            assert torch.equal(models.inference_models_dict["net"](x), models["net"](x))

    def test_optimizers_only(self) -> None:
        trainer = AdamTrainer(schedulers=False)
        attach(trainer)
        assert trainer.run() and trainer.run()
        assert trainer.lr_schedulers == {} and trainer.lr_scheduler_states == {}
        assert trainer.optimizer_states["adam"]["state"][0]["step"] == 6

    def test_checkpoint_round_trip_is_bit_for_bit(self, tmp_path: Path) -> None:
        trainer = AdamTrainer()
        models = attach(trainer)
        for _ in range(3):
            assert trainer.run()
        trainer.save_state(tmp_path / "trainer")
        models.save_state(tmp_path / "models")
        assert sorted(p.name for p in (tmp_path / "trainer").iterdir()) == [
            "adam.optim.pt",
            "metrics.json",
            "previous_training_time",
            "runs",
            "step.lrsch.pt",
        ]

        again = AdamTrainer()
        again.created = trainer.created  # same data from here on
        models2 = attach(again, seed=1)
        models2.load_state(tmp_path / "models")
        again.load_state(tmp_path / "trainer")
        assert_same_state(again.optimizer_states, trainer.optimizer_states)
        assert_same_state(again.lr_scheduler_states, trainer.lr_scheduler_states)
        again.setup()
        trainer.setup()
        assert_same_state(
            again.optimizers["adam"].state_dict(),
            trainer.optimizers["adam"].state_dict(),
        )
        assert_same_state(
            again.lr_schedulers["step"].state_dict(),
            trainer.lr_schedulers["step"].state_dict(),
        )
        trainer.teardown()
        again.teardown()
        # and training goes on identically, bit for bit
        assert trainer.run() and again.run()
        for a, b in zip(
            models["net"].model.parameters(),
            models2["net"].model.parameters(),
            strict=True,
        ):
            assert torch.equal(a, b)


class TestRefusals:
    def test_get_torch_training_model_checks_types(self) -> None:
        trainer = AdamTrainer()
        models = attach(trainer, plain=TinyModel())
        with pytest.raises(TypeError, match="'plain' is not a TorchTrainingModel"):
            trainer.get_torch_training_model("plain")
        with pytest.raises(TypeError, match="is a Sequential, not a Linear"):
            trainer.get_torch_training_model("net", nn.Linear)
        with pytest.raises(KeyError, match="no training model named 'nope'"):
            trainer.get_torch_training_model("nope")
        assert trainer.get_torch_training_model("net") is models["net"]

    @pytest.mark.parametrize(
        ("returned", "match"),
        [
            (None, "dict of name -> Optimizer for the optimizers, got None"),
            ({"a": 1}, "dict of name -> Optimizer"),
            (({}, {"s": 1}), "dict of name -> LRScheduler for the LR schedulers"),
            (({}, {}, {}), "dict of name -> Optimizer"),
        ],
        ids=["none", "not-an-optimizer", "not-a-scheduler", "three-tuple"],
    )
    def test_create_optimizers_must_return_dicts(
        self, returned: Any, match: str
    ) -> None:
        class Bad(AdamTrainer):
            def create_optimizers(self) -> OptimizersSetup:
                return returned  # type: ignore[no-any-return]

        trainer = Bad()
        attach(trainer)
        with pytest.raises(TypeError, match=match):
            trainer.setup()

    def test_kept_state_for_an_optimizer_no_longer_created(self) -> None:
        trainer = AdamTrainer()
        attach(trainer)
        trainer.optimizer_states["sgd"] = {}
        with pytest.raises(
            KeyError, match=r"no optimizer .* named 'sgd'; expected one of: 'adam'"
        ):
            trainer.setup()

    def test_load_state_needs_a_directory(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="is not a directory or does not exist"):
            AdamTrainer().load_state(tmp_path / "missing")
