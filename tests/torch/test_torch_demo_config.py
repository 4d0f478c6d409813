"""configs/torch_demo.yaml under ``aiotrainer run``: it learns and resumes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch.nn", reason="the torch extra is not installed")

ROOT = Path(__file__).resolve().parents[2]
CONFIG = "configs/torch_demo.yaml"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIOTRAINER__")}
    return subprocess.run(
        [sys.executable, "-m", "aiotrainer.cli", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env=env,
        cwd=ROOT,
    )


def test_config_is_valid() -> None:
    proc = cli("validate", CONFIG)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"{CONFIG}: ok (1 models, 1 buffers, 1 trainers")


@pytest.mark.timeout(180)
def test_daemon_trains_the_vae_and_resumes(tmp_path: Path) -> None:
    run = ("run", CONFIG, "--set", f"state.dir={tmp_path}", "--set")
    first = cli(*run, "run.max_uptime=8", "--set", "run.progress_interval=1")
    assert first.returncode == 0, first.stderr
    errors = [float(e) for e in re.findall(r"error=([0-9.]+)", first.stdout)]
    assert len(errors) >= 3, first.stdout
    assert errors[-1] < errors[0] * 0.8, first.stdout  # the error falls visibly
    runs = int(re.search(r"trainer vae: (\d+) runs", first.stdout).group(1))  # type: ignore[union-attr]

    again = cli(*run, "run.max_uptime=2")
    assert again.returncode == 0, again.stderr
    assert "restored state from" in again.stdout + again.stderr
    later = int(re.search(r"trainer vae: (\d+) runs", again.stdout).group(1))  # type: ignore[union-attr]
    assert later >= runs  # counted on from the checkpoint
