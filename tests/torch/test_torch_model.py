"""TorchTrainingModel / TorchInferenceModel: pamiq-core's meaning, live sync."""

from __future__ import annotations

import copy
import pickle
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch.nn", reason="the torch extra is not installed")
import torch
from torch import nn

from aiotrainer import TrainingModelsDict
from aiotrainer.torch import (
    ParameterMismatchError,
    TorchInferenceModel,
    TorchTrainingModel,
    default_infer_procedure,
    get_device,
)

JOIN = 60.0
"""Seconds a helper thread may take before the test counts it as hung."""

NO_GPU = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="torch sees no CUDA GPU here"
)


def mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


class Doubler(nn.Module):
    not_a_method = 3

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale

    def double(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * self.forward(x)


def step(model: TorchTrainingModel[Any]) -> None:
    optimizer = torch.optim.SGD(model.model.parameters(), lr=0.1)
    loss = model(torch.ones(3, 4)).pow(2).sum()
    loss.backward()
    optimizer.step()


class TestHelpers:
    def test_get_device_of_parameters_buffers_and_default(self) -> None:
        assert get_device(nn.Linear(2, 2)) == torch.device("cpu")
        bn = nn.BatchNorm1d(2, affine=False)
        assert list(bn.parameters()) == [] and get_device(bn).type == "cpu"
        meta = torch.device("meta")
        assert get_device(nn.ReLU(), meta) == meta
        assert get_device(nn.ReLU()) == torch.get_default_device()

    def test_default_infer_procedure_moves_tensors_only(self) -> None:
        seen: dict[str, Any] = {}

        class Probe(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.p = nn.Parameter(torch.zeros(1, dtype=torch.float64))

            def forward(self, x: torch.Tensor, tag: str, *, y: torch.Tensor) -> int:
                seen.update(x=x, tag=tag, y=y)
                return 7

        assert (
            default_infer_procedure(Probe(), torch.ones(1), "t", y=torch.ones(1)) == 7
        )
        assert seen["tag"] == "t"
        assert seen["x"].device == seen["y"].device == torch.device("cpu")


class TestSync:
    def test_training_changes_params_and_inference_sees_them_only_after_sync(
        self,
    ) -> None:
        model = TorchTrainingModel(mlp())
        x = torch.ones(3, 4)
        before = model.inference_model(x)
        step(model)
        assert not torch.equal(model(x), before)  # training changed the weights
        assert torch.equal(model.inference_model(x), before)  # not published yet
        model.sync()
        with torch.no_grad():
            assert torch.equal(model.inference_model(x), model(x))

    def test_module_and_optimizer_survive_syncs(self) -> None:
        model = TorchTrainingModel(mlp())
        module = model.model
        optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
        for _ in range(3):
            optimizer.zero_grad()
            model(torch.ones(1, 4)).sum().backward()
            optimizer.step()
            model.sync()
        assert model.model is module
        with torch.no_grad():
            assert torch.equal(
                model.inference_model(torch.ones(1, 4)), model(torch.ones(1, 4))
            )

    def test_sync_keeps_grads_and_modes_as_pamiq(self) -> None:
        model = TorchTrainingModel(nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)))
        model(torch.ones(1, 2)).sum().backward()
        grads = [p.grad.clone() for p in model.model.parameters() if p.grad is not None]
        model.model.eval()
        model.sync()
        assert model.model.training  # pamiq-core leaves it in train mode
        kept = [p.grad for p in model.model.parameters()]
        assert all(torch.equal(a, b) for a, b in zip(grads, kept, strict=True))
        with model.inference_model.unwrap() as module:
            assert not module.training  # the agent's copies run in eval mode
            assert all(p.grad is None for p in module.parameters())

    def test_buffers_are_synced(self) -> None:
        model = TorchTrainingModel(nn.BatchNorm1d(3))
        model(torch.randn(16, 3) * 5 + 2)
        model.sync()
        with model.inference_model.unwrap() as module:
            assert torch.equal(module.running_mean, model.model.running_mean)
            assert int(module.num_batches_tracked) == 1

    def test_thousand_syncs_never_show_mixed_parameters(self) -> None:
        """Every parameter is set to the step number before each sync; an agent
        thread calling the model throughout must see one number per call."""

        def observe(module: nn.Module, probe: torch.Tensor) -> tuple[float, float]:
            flat = torch.cat([p.reshape(-1) for p in module.parameters()])
            first = (float(flat.min()), float(flat.max()))
            module(probe)  # some work between the two looks
            again = torch.cat([p.reshape(-1) for p in module.parameters()])
            assert (float(again.min()), float(again.max())) == first
            return first

        net = nn.Sequential(*(nn.Linear(64, 64) for _ in range(6)))
        model = TorchTrainingModel(net, inference_procedure=observe)
        with torch.no_grad():
            for p in model.model.parameters():
                p.fill_(0.0)
        model.sync()
        agent = model.inference_model

        syncs = 1000
        done = threading.Event()
        seen: list[tuple[float, float]] = []
        errors: list[BaseException] = []

        def agent_loop() -> None:
            probe = torch.ones(1, 64)
            try:
                while not done.is_set():
                    seen.append(agent.infer(probe))
                    with agent.unwrap() as module:
                        seen.append(observe(module, probe))
            except Exception as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

        thread = threading.Thread(target=agent_loop)
        thread.start()
        try:
            for value in range(1, syncs + 1):
                with torch.no_grad():
                    for p in model.model.parameters():
                        p.fill_(float(value))
                model.sync()
        finally:
            done.set()
            thread.join(JOIN)
        assert not thread.is_alive()
        assert not errors, errors
        assert len(seen) > 10
        mixed = [s for s in seen if s[0] != s[1]]
        assert mixed == []
        values = [s[0] for s in seen]
        assert values == sorted(values)  # never an older model after a newer one
        assert agent.infer(torch.ones(1, 64)) == (float(syncs), float(syncs))

    def test_unwrapped_module_is_not_written_while_held(self) -> None:
        model = TorchTrainingModel(nn.Linear(2, 2, bias=False))
        first_sync = threading.Event()
        with model.inference_model.unwrap() as held:
            before = held.weight.clone()
            with torch.no_grad():
                model.model.weight.fill_(5.0)

            def sync_twice() -> None:
                model.sync()
                first_sync.set()
                model.sync()  # the held module is the standby now: waits for it

            thread = threading.Thread(target=sync_twice)
            thread.start()
            assert first_sync.wait(JOIN)
            with model.inference_model.unwrap() as fresh:
                assert fresh is not held
                assert bool((fresh.weight == 5.0).all())
            thread.join(0.05)
            assert thread.is_alive()  # still waiting for the held module
            assert torch.equal(held.weight, before)
        thread.join(JOIN)
        assert not thread.is_alive()
        with model.inference_model.unwrap() as now:
            assert now is held and bool((now.weight == 5.0).all())

    def test_a_sync_waiting_for_a_slow_call_never_holds_up_other_calls(self) -> None:
        release = threading.Event()
        entered = threading.Event()

        def procedure(module: nn.Module, slow: bool) -> float:
            if slow:
                entered.set()
                assert release.wait(JOIN)
            return float(module.weight[0, 0])

        net = nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            net.weight.fill_(0.0)
        model = TorchTrainingModel(net, inference_procedure=procedure)
        agent = model.inference_model
        results: list[float] = []
        slow = threading.Thread(target=lambda: results.append(agent(True)))
        slow.start()
        assert entered.wait(JOIN)  # a call holds the first copy
        with torch.no_grad():
            model.model.weight.fill_(1.0)
        model.sync()  # fills the second copy: no wait
        with torch.no_grad():
            model.model.weight.fill_(2.0)
        second = threading.Thread(target=model.sync)  # needs the first copy back
        second.start()
        for _ in range(100):  # meanwhile the agent's other calls go straight on
            assert agent(False) == 1.0
        assert second.is_alive()
        release.set()
        slow.join(JOIN)
        second.join(JOIN)
        assert not slow.is_alive() and not second.is_alive()
        assert results == [0.0]  # the slow call kept its copy throughout
        assert agent(False) == 2.0

    def test_a_failing_call_gives_its_copy_back(self) -> None:
        def procedure(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
            raise ValueError("bad input")

        model = TorchTrainingModel(nn.Linear(2, 2), inference_procedure=procedure)
        for _ in range(2):  # both copies
            with pytest.raises(ValueError, match="bad input"):
                model.inference_model(torch.ones(2))
            model.sync()  # would wait forever for a copy still counted as in use
        model.sync()

    def test_sync_across_devices_copies_tensor_by_tensor(self) -> None:
        # "meta" stands in for a second device on a machine without a GPU.
        model = TorchTrainingModel(mlp(), inference_device="meta")
        assert model.inference_device == torch.device("meta")
        step(model)
        model.sync()
        with model.inference_model.unwrap() as module:
            assert get_device(module) == torch.device("meta")
            assert module[0].weight.shape == model.model[0].weight.shape

    def test_sync_of_a_changed_module_names_the_parameter(self) -> None:
        model = TorchTrainingModel(nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2)))
        model.model[1] = nn.Linear(8, 3)
        with pytest.raises(
            ParameterMismatchError, match=r"'1.weight' has shape \(3, 8\)"
        ):
            model.sync()
        with model.inference_model.unwrap() as module:
            assert module[1].weight.shape == (2, 8)  # the agent kept a whole model


class TestPamiqSemantics:
    def test_inference_thread_only_shares_the_module_and_is_not_trainable(
        self,
    ) -> None:
        model = TorchTrainingModel(mlp(), inference_thread_only=True)
        with model.inference_model.unwrap() as module:
            assert module is model.model
        models = TrainingModelsDict({"m": model})
        assert models.inference_models_dict["m"] is model.inference_model
        with pytest.raises(KeyError, match="inference_thread_only"):
            models["m"]
        with torch.no_grad():
            model.model[0].weight.fill_(1.0)  # a change the agent sees at once
        model.sync()  # a no-op: nothing to publish
        assert bool((model.inference_model._raw_model[0].weight == 1.0).all())

    def test_without_inference_model(self) -> None:
        model = TorchTrainingModel(mlp(), has_inference_model=False)
        with pytest.raises(RuntimeError, match="has_inference_model=False"):
            _ = model.inference_model
        model.sync()  # nothing to do, no error
        assert "m" not in TrainingModelsDict({"m": model}).inference_models_dict
        with pytest.raises(ValueError, match="needs has_inference_model=True"):
            TorchTrainingModel(
                mlp(), has_inference_model=False, inference_thread_only=True
            )

    def test_dtype_and_device(self) -> None:
        model = TorchTrainingModel(mlp(), dtype=torch.float64, device="cpu")
        assert model.model[0].weight.dtype == torch.float64
        assert model.device == model.inference_device == torch.device("cpu")
        with model.inference_model.unwrap() as module:
            assert module[0].weight.dtype == torch.float64

    def test_inference_procedure_by_method_name(self) -> None:
        model = TorchTrainingModel(Doubler(), inference_procedure="double")
        assert torch.equal(model.inference_model(torch.ones(2)), torch.full((2,), 2.0))

    def test_inference_runs_without_grad(self) -> None:
        out = TorchTrainingModel(mlp()).inference_model(torch.ones(1, 4))
        assert not out.requires_grad and out.is_inference()

    @pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's own imports
    def test_compile_compiles_every_copy(self) -> None:
        model = TorchTrainingModel(mlp(), compile=True)
        assert model.model._compiled_call_impl is not None
        for module in model.inference_model._pair.modules:
            assert module is not model.model
            assert module._compiled_call_impl is not None


class TestCopies:
    def test_deepcopy_makes_an_independent_model(self) -> None:
        model = TorchTrainingModel(mlp())
        twin = copy.deepcopy(model)
        assert twin.model is not model.model
        step(model)
        model.sync()
        twin.sync()
        x = torch.ones(1, 4)
        with torch.no_grad():
            assert not torch.equal(twin.inference_model(x), model.inference_model(x))
            assert torch.equal(model.inference_model(x), model(x))
            assert torch.equal(twin.inference_model(x), twin(x))

    def test_pickle_round_trip(self) -> None:
        model = TorchTrainingModel(mlp())
        step(model)
        model.sync()
        again = pickle.loads(pickle.dumps(model))
        x = torch.ones(1, 4)
        assert torch.equal(again.inference_model(x), model.inference_model(x))
        again.sync()  # its locks work


class TestFiles:
    def test_pretrained_parameter_file(self, tmp_path: Path) -> None:
        source = mlp(seed=1)
        torch.save(source.state_dict(), tmp_path / "w.pt")
        model = TorchTrainingModel(
            mlp(seed=2), pretrained_parameter_file=tmp_path / "w.pt"
        )
        x = torch.ones(1, 4)
        with torch.no_grad():
            assert torch.equal(model(x), source(x))
            assert torch.equal(model.inference_model(x), source(x))  # copied after

    def test_save_and_load_state_then_the_dict_syncs(self, tmp_path: Path) -> None:
        trained = TorchTrainingModel(mlp(seed=1))
        step(trained)
        trained.save_state(tmp_path / "m")
        assert (tmp_path / "m.pt").is_file()
        fresh = TorchTrainingModel(mlp(seed=2))
        x = torch.ones(1, 4)
        before = fresh.inference_model(x)
        fresh.load_state(tmp_path / "m")
        with torch.no_grad():
            assert torch.equal(fresh(x), trained(x))
            assert torch.equal(fresh.inference_model(x), before)  # pamiq-core's way
            models = TrainingModelsDict({"m": fresh})
            models.load_state(tmp_path)  # a restore: loads, then syncs
            assert torch.equal(fresh.inference_model(x), trained(x))

    def test_mismatching_file_names_parameter_and_shapes(self, tmp_path: Path) -> None:
        torch.save(nn.Sequential(nn.Linear(4, 9)).state_dict(), tmp_path / "m.pt")
        model = TorchTrainingModel(nn.Sequential(nn.Linear(4, 8)))
        with pytest.raises(ParameterMismatchError) as info:
            model.load_state(tmp_path / "m")
        message = str(info.value)
        assert "m.pt" in message and "0.weight" in message
        assert "[9, 4]" in message and "[8, 4]" in message
        assert isinstance(info.value, RuntimeError)

    def test_missing_and_unexpected_keys_are_named(self, tmp_path: Path) -> None:
        torch.save({"extra": torch.zeros(1)}, tmp_path / "m.pt")
        with pytest.raises(ParameterMismatchError, match=r"Missing key.*0\.weight"):
            TorchTrainingModel(mlp(), pretrained_parameter_file=tmp_path / "m.pt")

    def test_not_a_state_dict(self, tmp_path: Path) -> None:
        torch.save(torch.zeros(2), tmp_path / "m.pt")
        with pytest.raises(ParameterMismatchError, match="expected a state_dict"):
            TorchTrainingModel(mlp()).load_state(tmp_path / "m")

    def test_arbitrary_pickles_are_refused(self, tmp_path: Path) -> None:
        torch.save({"0.weight": Doubler()}, tmp_path / "m.pt")  # a pickled object
        with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
            TorchTrainingModel(mlp()).load_state(tmp_path / "m")

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError):
            TorchTrainingModel(mlp(), pretrained_parameter_file=tmp_path / "nope.pt")


class TestBadInput:
    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"model": "net"}, TypeError, "model must be a torch.nn.Module, got 'net'"),
            ({"dtype": "float32"}, TypeError, "dtype must be a torch.dtype"),
            ({"compile": 1}, TypeError, "compile must be a bool, got 1"),
            ({"device": "gpu0"}, ValueError, "device 'gpu0' is not a torch device"),
            ({"device": 3.5}, TypeError, "device must be a torch.device"),
            (
                {"inference_device": "cpu", "inference_thread_only": True},
                ValueError,
                "inference_device needs inference_thread_only=False",
            ),
            (
                {"inference_procedure": "nope"},
                AttributeError,
                "does not have a method named 'nope'",
            ),
            (
                {"inference_procedure": "not_a_method"},
                ValueError,
                "is not a callable method",
            ),
            ({"inference_procedure": 3}, TypeError, "must be a callable or the name"),
            (
                {"has_inference_model": "yes"},
                TypeError,
                "has_inference_model must be a bool",
            ),
        ],
        ids=lambda v: str(v) if not isinstance(v, dict) else ",".join(v),
    )
    def test_constructor_refuses(
        self, kwargs: dict[str, Any], error: type[Exception], match: str
    ) -> None:
        kwargs.setdefault("model", Doubler())
        with pytest.raises(error, match=match):
            TorchTrainingModel(**kwargs)

    def test_inference_model_refuses(self) -> None:
        with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
            TorchInferenceModel("net", default_infer_procedure)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="inference_procedure must be callable"):
            TorchInferenceModel(nn.ReLU(), "forward")  # type: ignore[arg-type]


@NO_GPU
class TestAcrossDevices:
    def test_train_on_gpu_infer_on_cpu(self) -> None:
        model = TorchTrainingModel(mlp(), device="cuda", inference_device="cpu")
        step(model)
        model.sync()
        x = torch.ones(1, 4)
        with model.inference_model.unwrap() as module:
            assert get_device(module).type == "cpu"
        with torch.no_grad():
            assert torch.allclose(model.inference_model(x), model(x.cuda()).cpu())

    def test_train_on_cpu_infer_on_gpu(self) -> None:
        model = TorchTrainingModel(mlp(), device="cpu", inference_device="cuda")
        step(model)
        model.sync()
        out = model.inference_model(torch.ones(1, 4))
        assert out.device.type == "cuda"
        with torch.no_grad():
            assert torch.allclose(out.cpu(), model(torch.ones(1, 4)))
