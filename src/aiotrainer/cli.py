"""The ``aiotrainer`` command line.

``aiotrainer demo`` runs the demo; ``aiotrainer checkpoints DIR`` lists the
checkpoints of a state directory and ``--verify`` checks their checksums.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .api._cli import add_client_commands
from .errors import AiotrainerError

__all__ = ["main", "run"]


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number > 0, got {text!r}"
        ) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiotrainer",
        description="A background trainer for continual learning.",
    )
    parser.add_argument(
        "--version", action="version", version=f"aiotrainer {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="run the online-regression demo")
    demo.add_argument("--seconds", type=_positive, default=3.0, help="how long to run")
    demo.add_argument(
        "--rate", type=_positive, default=2000.0, help="samples per second"
    )

    ckpt = commands.add_parser(
        "checkpoints", help="list the checkpoints in a state dir"
    )
    ckpt.add_argument("state_dir", type=Path, help="the service's state_dir")
    ckpt.add_argument(
        "--verify", action="store_true", help="check every file's size and sha256"
    )
    ckpt.add_argument("--json", action="store_true", help="print JSON lines")
    add_client_commands(commands)
    return parser


def _checkpoints(state_dir: Path, *, verify: bool, as_json: bool) -> int:
    from .state.store import CheckpointStore

    if not state_dir.is_dir():
        print(
            f"aiotrainer: error: {str(state_dir)!r} is not a directory", file=sys.stderr
        )
        return 2
    store = CheckpointStore(state_dir)
    status = 0
    for checkpoint in store.list():
        verdict = "listed"
        if verify:
            try:
                store.verify(checkpoint)
                verdict = "ok"
            except AiotrainerError as exc:
                verdict = f"CORRUPT: {exc}"
                status = 1
        size = sum(f.size for f in checkpoint.files)
        if as_json:
            record = {
                "name": checkpoint.name,
                "path": str(checkpoint.path),
                "created": checkpoint.created.isoformat(),
                "sequence": checkpoint.sequence,
                "bytes": size,
                "files": len(checkpoint.files),
                "verdict": verdict,
            }
            print(json.dumps(record))
        else:
            print(f"{checkpoint.name}  #{checkpoint.sequence}  {size} bytes  {verdict}")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    if getattr(args, "run_client", None) is not None:
        return int(args.run_client(args))
    if args.command == "demo":
        from .demo.__main__ import main as demo_main

        demo_main(["--seconds", str(args.seconds), "--rate", str(args.rate)])
        return 0
    try:
        return _checkpoints(args.state_dir, verify=args.verify, as_json=args.json)
    except AiotrainerError as exc:
        print(f"aiotrainer: error: {exc}", file=sys.stderr)
        return 2


def run() -> None:
    """The console script: exit with :func:`main`'s status."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
