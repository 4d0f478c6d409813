"""An embedded service that stops on SIGTERM or Ctrl-C with a final checkpoint."""

import os
import signal
import sys

import anyio

from aiotrainer import SequentialBuffer, TrainerService
from aiotrainer.demo import LinearModel, LinearRegressionTrainer, SyntheticStream


async def main(state_dir: str) -> None:
    stream = SyntheticStream()
    service = TrainerService(
        models={"linear": LinearModel()},
        buffers={"samples": SequentialBuffer(1000)},
        trainers={"sgd": LinearRegressionTrainer(batch_size=64)},
        state_dir=state_dir,
        resume_from="latest",  # carry on from the last checkpoint, if any
        keep_last=3,
    )
    # Open the receiver first: a signal that comes while the service starts
    # is then handled too, not fatal.
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with service:
            if service.restore_report is not None:
                print("resumed from", service.restore_report.checkpoint)
            collector = service.data_collectors.acquire("samples")

            async def agent() -> None:  # the agent, here a task on the loop
                while True:
                    collector.collect(stream.sample())
                    await anyio.sleep(0.001)

            async with anyio.create_task_group() as tg:
                tg.start_soon(agent)
                print(f"running as pid {os.getpid()}; stop with Ctrl-C", flush=True)
                async for signum in signals:
                    print("got", signal.Signals(signum).name, flush=True)
                    tg.cancel_scope.cancel()  # stop the agent
                    break
        # Leaving `async with` stopped the service: no new run, the runs in
        # flight finished, and a final checkpoint was written.
    print("final checkpoint:", service.status().last_checkpoint)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "checkpoints")
