"""The README's example: a pamiq-style trainer, trained in the background."""

import time
from pathlib import Path

import anyio

from aiotrainer import (
    InferenceModel,
    SequentialBuffer,
    Trainer,
    TrainerService,
    TrainingModel,
)


class MeanInference(InferenceModel):
    def __init__(self) -> None:
        self.mean = 0.0

    def infer(self, x: float) -> float:
        return x - self.mean  # centre an observation


class MeanModel(TrainingModel[MeanInference]):
    def __init__(self) -> None:
        super().__init__()
        self.mean = 0.0

    def _create_inference_model(self) -> MeanInference:
        return MeanInference()

    def forward(self, x: float) -> float:
        return x - self.mean

    def sync_impl(self, inference_model: MeanInference) -> None:
        inference_model.mean = self.mean  # push the new weights to the agent

    # Without these two, a checkpoint would hold no weights for this model.
    def save_state(self, path: Path) -> None:
        path.write_text(repr(self.mean))

    def load_state(self, path: Path) -> None:
        self.mean = float(path.read_text())


class MeanTrainer(Trainer):  # pamiq-core's Trainer API, unchanged
    def on_training_models_attached(self) -> None:
        self.model = self.get_training_model("mean")

    def on_data_users_attached(self) -> None:
        self.data = self.get_data_user("obs")

    def train(self) -> None:  # runs in a worker thread
        xs = self.data.get_data()
        self.model.mean = sum(xs) / len(xs)


async def main() -> None:
    service = TrainerService(
        models={"mean": MeanModel()},
        buffers={"obs": SequentialBuffer(1000)},
        trainers={
            "mean": MeanTrainer("obs", min_buffer_size=100, min_new_data_count=100)
        },
        max_workers=2,
    )
    async with service:
        collector = service.data_collectors.acquire("obs")
        model = service.inference_models["mean"]

        def agent() -> None:  # any thread: collect() never blocks
            for i in range(2000):
                collector.collect(5.0 + (i % 7) - 3)
                time.sleep(0.0005)

        await anyio.to_thread.run_sync(agent)
        await service.pause()  # returns once no run is in flight
        print("runs:", service.status().trainers["mean"].runs)
        print("agent's model centres 5.0 to", round(model(5.0), 3))
        await service.resume()
    print("state:", service.state.value)


anyio.run(main)
