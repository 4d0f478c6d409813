"""``python -m aiotrainer.demo``: online linear regression, trained in the background."""

from __future__ import annotations

import time

from .. import DataUsersDict, SequentialBuffer, TrainersDict, TrainingModelsDict
from .components import LinearModel, LinearRegressionTrainer, SyntheticStream


def main() -> None:
    """Stream samples, train on them, and print how the agent's error falls."""
    stream = SyntheticStream()
    models = TrainingModelsDict({"linear": LinearModel()})
    users = DataUsersDict.from_data_buffers(samples=SequentialBuffer(1000))
    trainers = TrainersDict({"sgd": LinearRegressionTrainer()})
    trainers.attach_training_models(models)
    trainers.attach_data_users(users)
    agent = models.inference_models_dict["linear"]
    collector = users.data_collectors_dict.acquire("samples")
    print(f"demo: learning y = w·x + b with w={[round(w, 3) for w in stream.w_true]}")
    print(f"step   0: agent mse {stream.mse(agent):.4f}")
    for step in range(1, 11):
        for _ in range(64):
            collector.collect(stream.sample())
        trainers["sgd"].run()
        print(f"step {step:3d}: agent mse {stream.mse(agent):.4f}")
        time.sleep(0.05)
    print("demo: done")


if __name__ == "__main__":
    main()
