"""The ``aiotrainer`` command line.

``aiotrainer run CONFIG`` runs the daemon; ``validate CONFIG`` checks a config
without training; ``schema`` prints the config's JSON Schema;
``checkpoints DIR`` lists (and ``--verify`` checks) a state directory's
checkpoints; ``demo`` runs the embedded demo.

Each group of commands is one function that adds its subcommands to the parser
and sets each one's ``handler``; :data:`COMMAND_GROUPS` lists them, so another
module adds its commands by appending its own function.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from ._argtypes import positive_number
from .api._cli import add_client_commands
from .errors import AiotrainerError

__all__ = ["COMMAND_GROUPS", "main", "run"]

Handler = Callable[[argparse.Namespace], int]


_positive = positive_number()


def _error(message: str) -> None:
    print(f"aiotrainer: error: {message}", file=sys.stderr)


def _problems(lines: Sequence[str]) -> int:
    for line in lines:
        print(line, file=sys.stderr)
    return 2


# -- run, validate, schema -------------------------------------------------------


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="a .yaml, .toml or .json file")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override one setting (repeatable); wins over the file and AIOTRAINER__*",
    )


def register_daemon_commands(commands: Any) -> None:
    """Add ``run``, ``validate`` and ``schema``."""
    run_ = commands.add_parser("run", help="run the daemon from a config file")
    _add_config_arguments(run_)
    run_.add_argument(
        "--no-uvloop", action="store_true", help="use asyncio's default event loop"
    )
    run_.set_defaults(handler=_run)

    validate = commands.add_parser(
        "validate", help="check a config file, its imports and references"
    )
    _add_config_arguments(validate)
    validate.set_defaults(handler=_validate)

    schema = commands.add_parser("schema", help="print the config's JSON Schema")
    schema.set_defaults(handler=_schema)


def _state_dir_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a state directory, or None: it, or the nearest
    existing directory above it, must take a file (tried, leaving nothing)."""
    probe = path.absolute()
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        what = (
            "is not a directory" if probe == path.absolute() else f"{probe} is a file"
        )
        return f"state.dir: cannot be used: {what} (got {str(path)!r})"
    try:
        # Really write (os.access says yes to root everywhere, /proc included):
        # an unnamed temporary file where the system has them, removed at once.
        with tempfile.TemporaryFile(dir=probe, prefix=".aiotrainer-probe-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return (
            f"state.dir: not writable: cannot create a file in {probe} ({reason}) "
            f"(got {str(path)!r})"
        )
    return None


def _resume_problem(state_dir: Path, resume: str) -> str | None:
    """Why ``state.resume`` names nothing to restore, or None (as far as a
    look without reading the checkpoint tells)."""
    from .state import CheckpointNotFoundError, CheckpointStore

    if any(sep in resume for sep in (os.sep, os.altsep) if sep):  # a path
        if Path(resume).is_dir():
            return None  # ours or pamiq-core's: read at start
        return f"state.resume: no such directory (got {resume!r})"
    if not state_dir.is_dir():
        return (
            f"state.resume: no checkpoint {resume!r} in {str(state_dir)!r}; it holds "
            f"no complete checkpoint yet (got {resume!r})"
        )
    try:
        CheckpointStore(state_dir, read_only=True).resolve(resume)
    except CheckpointNotFoundError as exc:
        return f"state.resume: {exc.args[0]} (got {resume!r})"
    except (AiotrainerError, OSError):
        return None  # there, but unreadable: the start reports it in full
    return None


class _Collected(logging.Handler):
    """Keeps the messages of the records it is handed."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _validate(args: argparse.Namespace) -> int:
    from .config import ConfigError, load_config

    try:
        config = load_config(args.config, overrides=args.set)
    except ConfigError as exc:
        return _problems(exc.problems)
    problems: list[str] = []
    warnings = _Collected(logging.WARNING)
    root = logging.getLogger("aiotrainer")
    root.addHandler(warnings)  # the builders' warnings, shown apart from errors
    try:
        for build in (config.build_service, config.build_sources):
            try:
                build()
            except ConfigError as exc:
                problems += [p for p in exc.problems if p not in problems]
    finally:
        root.removeHandler(warnings)
    for message in warnings.messages:
        print(f"warning: {message}")
    if config.api.enabled:
        try:
            config.api.resolve_token()
        except ConfigError as exc:
            problems += exc.problems
    if config.state.dir is not None:
        problem = _state_dir_problem(config.state.dir)
        if problem:
            problems.append(problem)
        if config.state.resume not in (None, "latest"):
            problem = _resume_problem(config.state.dir, config.state.resume)
            if problem:
                problems.append(problem)
    if problems:
        return _problems(problems)
    print(
        f"{args.config}: ok ({len(config.models)} models, {len(config.buffers)} "
        f"buffers, {len(config.trainers)} trainers, {len(config.sources)} sources)"
    )
    return 0


def _schema(args: argparse.Namespace) -> int:
    from .config import config_json_schema

    print(json.dumps(config_json_schema(), indent=2))
    return 0


def _run(args: argparse.Namespace) -> int:
    from ._logsetup import configure_logging
    from ._progress import PlainProgress, RichProgress, make_console, summary_lines
    from ._runner import run as run_loop
    from .config import ConfigError, load_config
    from .daemon import Daemon, ProgressView
    from .state.errors import (
        CheckpointRefusedError,
        StateDirLockedError,
        StateRootError,
    )

    try:
        config = load_config(args.config, overrides=args.set)
    except ConfigError as exc:
        return _problems(exc.problems)
    mode = config.run.progress
    if mode == "auto":
        mode = "rich" if sys.stdout.isatty() else "plain"
    console = make_console(sys.stdout) if mode == "rich" else None
    configure_logging(config.logging, console)
    progress: ProgressView | None = None
    if console is not None:
        progress = RichProgress(console)
    elif mode == "plain":
        progress = PlainProgress(sys.stdout)
    daemon = Daemon(config, progress=progress)
    try:
        result = run_loop(daemon.run, uvloop=not args.no_uvloop)
    except ConfigError as exc:
        return _problems(exc.problems)
    except (StateDirLockedError, StateRootError) as exc:
        _error(str(exc))
        return 2
    except CheckpointRefusedError as exc:  # its hint in the config's terms
        _error(
            str(exc).replace(
                "pass resume_from=None",
                "set state.resume: null (--set state.resume=null)",
            )
        )
        return 1
    except AiotrainerError as exc:
        _error(str(exc))
        return 1
    except KeyboardInterrupt:  # before the signal handlers were installed
        _error("interrupted")
        return 130
    finally:
        if progress is not None:
            progress.close()
    for line in summary_lines(result):
        print(line)
    return result.exit_code


# -- checkpoints -------------------------------------------------------------------


def register_state_commands(commands: Any) -> None:
    """Add ``checkpoints``."""
    ckpt = commands.add_parser(
        "checkpoints", help="list the checkpoints in a state dir"
    )
    ckpt.add_argument("state_dir", type=Path, help="the service's state_dir")
    ckpt.add_argument(
        "--verify", action="store_true", help="check every file's size and sha256"
    )
    ckpt.add_argument("--json", action="store_true", help="print JSON lines")
    ckpt.set_defaults(handler=_checkpoints_command)


def _checkpoints_command(args: argparse.Namespace) -> int:
    try:
        return _checkpoints(args.state_dir, verify=args.verify, as_json=args.json)
    except AiotrainerError as exc:
        _error(str(exc))
        return 2


def _checkpoints(state_dir: Path, *, verify: bool, as_json: bool) -> int:
    from .state.snapshot import saved_nothing
    from .state.store import CheckpointStore

    if not state_dir.is_dir():
        _error(f"{str(state_dir)!r} is not a directory")
        return 2
    store = CheckpointStore(state_dir, read_only=True)  # never writes, nor cleans
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
        empty = saved_nothing(checkpoint.metadata)
        if empty:  # it verifies, yet restores nothing of these
            verdict += f" (saved no state: {', '.join(empty)})"
        if as_json:
            record = {
                "name": checkpoint.name,
                "path": str(checkpoint.path),
                "created": checkpoint.created.isoformat(),
                "sequence": checkpoint.sequence,
                "bytes": size,
                "files": len(checkpoint.files),
                "verdict": verdict,
                "saved_nothing": empty,
            }
            print(json.dumps(record))
        else:
            print(f"{checkpoint.name}  #{checkpoint.sequence}  {size} bytes  {verdict}")
    return status


# -- demo --------------------------------------------------------------------------


def register_demo_command(commands: Any) -> None:
    """Add ``demo``."""
    demo = commands.add_parser("demo", help="run the embedded online-regression demo")
    demo.add_argument("--seconds", type=_positive, default=3.0, help="how long to run")
    demo.add_argument(
        "--rate", type=_positive, default=2000.0, help="samples per second"
    )
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from .demo.__main__ import main as demo_main

    demo_main(["--seconds", str(args.seconds), "--rate", str(args.rate)])
    return 0


# -- the parser ----------------------------------------------------------------------

COMMAND_GROUPS: list[Callable[[Any], None]] = [
    register_daemon_commands,
    register_state_commands,
    register_demo_command,
    add_client_commands,
]
"""Functions that each add a group of subcommands; each sets ``handler``."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiotrainer",
        description="A background trainer for continual learning.",
    )
    parser.add_argument(
        "--version", action="version", version=f"aiotrainer {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMAND_GROUPS:
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


def run() -> None:
    """The console script: exit with :func:`main`'s status."""
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `aiotrainer schema | head`: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 0
    sys.exit(status)


if __name__ == "__main__":  # pragma: no cover
    run()
