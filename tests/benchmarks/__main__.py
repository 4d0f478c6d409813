"""Run the benchmarks: ``python -m tests.benchmarks [name ...]``.

With no names it runs every module in BENCHMARKS order; each runs in its own
interpreter (a clean heap and no threads left over from the previous one). Exits
1 if a benchmark crashed, 2 for an unknown name; a missed target (``MISS``) is
reported, not an error: timings on a shared machine are noisy.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = (
    "collect",
    "idle",
    "latency",
    "dispatch",
    "parallel",
    "pause",
    "checkpoint",
    "torch_sync",
    "api",
    "update",
    "e2e",
)
ROOT = Path(__file__).resolve().parents[2]


def run(name: str) -> tuple[int, list[str]]:
    """Run one module, echoing its output; return (exit code, MISS lines)."""
    misses: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-m", f"{__package__}.{name}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            if line.rstrip().endswith(" MISS"):
                misses.append(line.split()[0])
    return proc.returncode, misses


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__.strip())
        print(f"benchmarks: {', '.join(BENCHMARKS)}")
        return 0
    unknown = [a for a in argv if a not in BENCHMARKS]
    if unknown:
        print(
            f"unknown benchmark(s) {', '.join(map(repr, unknown))}; expected any of: "
            f"{', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    start = time.perf_counter()
    failed: list[str] = []
    misses: list[str] = []
    for name in argv or BENCHMARKS:
        print(f"== {name} ==", flush=True)
        code, missed = run(name)
        misses += missed
        if code:
            failed.append(name)
            print(f"!! {name} exited with {code}", flush=True)
    elapsed = time.perf_counter() - start
    print(
        f"== done in {elapsed:.0f} s: {len(misses)} target(s) missed"
        + (f" ({', '.join(misses)})" if misses else "")
        + (f"; crashed: {', '.join(failed)}" if failed else ""),
        flush=True,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
