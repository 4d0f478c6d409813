"""A small VAE trained in the background on a synthetic image stream (CPU torch).

Run: ``.venv/bin/python examples/torch_demo.py [--seconds 60]``. A producer thread
streams noisy 8x8 images of bars and blobs into the service; the trainer wakes
each time 64 new images have arrived, takes Adam steps in a worker thread and
syncs the weights to the agent's copy, which an agent thread keeps calling all
the while. The agent's reconstruction error falls as it goes.
"""

from __future__ import annotations

import argparse
import threading
import time

import anyio
import anyio.to_thread
import torch

from aiotrainer import SequentialBuffer, TrainerService
from aiotrainer.torch.demo import SyntheticImages, VAETrainer, vae_model


async def main(seconds: float, rate: float, reports: int) -> float:
    images = SyntheticImages(seed=1)
    held_out = SyntheticImages(seed=2).batch(512)
    service = TrainerService(
        models={"vae": vae_model()},
        buffers={"images": SequentialBuffer(4096)},
        trainers={"vae": VAETrainer(batch_size=64, steps=8)},
    )
    trainer = service.trainers["vae"]
    assert isinstance(trainer, VAETrainer)
    async with service:
        collector = service.data_collectors.acquire("images")
        agent = service.inference_models["vae"]
        stop = threading.Event()
        calls = 0

        def error() -> float:  # the agent's squared error per image
            return float(((agent(held_out) - held_out) ** 2).sum(1).mean())

        def produce() -> None:
            while not stop.is_set():
                collector.collect(images.sample())
                time.sleep(1.0 / rate)

        def act() -> None:  # the agent, calling its model while training goes on
            nonlocal calls
            x = images.sample().unsqueeze(0)
            while not stop.is_set():
                agent(x)
                calls += 1
                time.sleep(0.001)

        print(
            f"torch demo: a {sum(p.numel() for p in trainer.vae.model.parameters())}"
            f"-parameter VAE on {images.size}x{images.size} images, torch "
            f"{torch.__version__} on {trainer.vae.device}"
        )
        print(f"t=  0.0s  agent error {error():7.3f}  (untrained)")
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, produce)
            tg.start_soon(anyio.to_thread.run_sync, act)
            start = time.perf_counter()
            for i in range(1, reports + 1):
                await anyio.sleep(start + i * seconds / reports - time.perf_counter())
                status = service.status()
                print(
                    f"t={time.perf_counter() - start:5.1f}s  agent error "
                    f"{await anyio.to_thread.run_sync(error):7.3f}  train loss "
                    f"{trainer.last_loss:7.3f}  runs={status.trainers['vae'].runs}"
                    f"  agent calls={calls}"
                    f"  collected={status.buffers['images'].collected}",
                    flush=True,
                )
            stop.set()
        final = error()
    print(
        f"torch demo: done, final agent error {final:.3f}, service {service.state.value}"
    )
    return final


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="examples/torch_demo.py")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to run")
    parser.add_argument("--rate", type=float, default=2000.0, help="images per second")
    parser.add_argument("--reports", type=int, default=12, help="lines printed")
    args = parser.parse_args()
    if args.seconds <= 0 or args.rate <= 0 or args.reports < 1:
        parser.error("--seconds and --rate must be > 0, --reports >= 1")
    anyio.run(
        main,
        args.seconds,
        args.rate,
        args.reports,
        backend_options={"use_uvloop": True},
    )
