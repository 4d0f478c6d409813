"""``python -m aiotrainer.demo``: online linear regression, trained in the background.

A producer thread streams samples into the service; the trainer wakes each time
64 new samples have arrived, trains in a worker thread and pushes the weights to
the agent's inference model, whose error is printed as it falls.
"""

from __future__ import annotations

import argparse
import threading
import time

import anyio
import anyio.to_thread

from .. import SequentialBuffer, TrainerService
from .._runner import run
from .components import LinearModel, LinearRegressionTrainer, SyntheticStream


async def run_demo(seconds: float = 3.0, rate: float = 2000.0) -> float:
    """Run the demo for ``seconds``; return the agent's final mean squared error."""
    stream = SyntheticStream()
    service = TrainerService(
        models={"linear": LinearModel()},
        buffers={"samples": SequentialBuffer(1000)},
        trainers={"sgd": LinearRegressionTrainer(batch_size=64, steps=4, lr=0.01)},
        max_workers=1,
    )
    w_true = [round(w, 3) for w in stream.w_true]
    print(f"demo: learning y = w·x + b online, true w={w_true} b={stream.b_true:.3f}")
    async with service:
        collector = service.data_collectors.acquire("samples")
        agent = service.inference_models["linear"]
        stop = threading.Event()

        def produce() -> None:  # the agent's experience, from a foreign thread
            while not stop.is_set():
                collector.collect(stream.sample())
                time.sleep(1.0 / rate)

        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, produce)
            print(f"t=0.0s  agent mse {stream.mse(agent):.4f}  (untrained)")
            steps = 8
            for i in range(1, steps + 1):
                await anyio.sleep(seconds / steps)
                if i == steps // 2:
                    await service.pause()
                    runs = service.status().trainers["sgd"].runs
                    print(f"        paused after {runs} runs; resuming")
                    await service.resume()
                st = service.status()
                sgd, buf = st.trainers["sgd"], st.buffers["samples"]
                print(
                    f"t={i * seconds / steps:.1f}s  agent mse "
                    f"{stream.mse(agent):.4f}  runs={sgd.runs} "
                    f"collected={buf.collected} buffered={buf.size}"
                )
            stop.set()
        mse = stream.mse(agent)
    print(f"demo: done, final mse {mse:.4f}, service {service.state.value}")
    return mse


def main(argv: list[str] | None = None) -> None:
    """Parse ``--seconds`` and ``--rate`` and run the demo on uvloop."""
    parser = argparse.ArgumentParser(prog="python -m aiotrainer.demo")
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to run")
    parser.add_argument("--rate", type=float, default=2000.0, help="samples per second")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.rate <= 0:
        parser.error("--seconds and --rate must be > 0")
    run(run_demo, args.seconds, args.rate)


if __name__ == "__main__":
    main()
