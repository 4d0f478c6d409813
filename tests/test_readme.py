"""The README shows code that runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_readme_example_is_the_example_file() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)[0]
    source = (ROOT / "examples" / "quickstart.py").read_text()
    body = source.split('"""', 2)[2].lstrip("\n")
    assert block.strip() == body.strip()


@pytest.mark.timeout(60)
def test_quickstart_runs_and_trains() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=50,
        check=True,
    ).stdout
    runs = int(re.search(r"runs: (\d+)", out).group(1))  # type: ignore[union-attr]
    centred = float(re.search(r"centres 5.0 to (\S+)", out).group(1))  # type: ignore[union-attr]
    assert runs >= 10
    assert abs(centred) < 0.5
    assert "state: stopped" in out
