"""The client commands of the ``aiotrainer`` CLI: status, pause, resume, save,
shutdown, events.

Exit codes: 0 done, 1 refused by the server, 2 bad usage, 3 server unreachable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from .._argtypes import positive_number
from ..status import ServiceStatus
from .client import DEFAULT_URL, ApiClient
from .errors import RequestError, ServerUnreachableError

__all__ = [
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "add_client_commands",
]

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

URL_ENV = "AIOTRAINER_URL"
TOKEN_ENV = "AIOTRAINER_TOKEN"


_positive = positive_number(3600)


def add_client_commands(commands: Any) -> None:
    """Add the client commands to an ``add_subparsers()`` object.

    Each parsed namespace gets ``handler``: call it with the namespace for the
    exit status.
    """
    helps = {
        "status": "show a running service's status",
        "pause": "pause training (waits for runs in flight)",
        "resume": "resume training",
        "save": "write a checkpoint and print its path",
        "shutdown": "stop the service gracefully",
        "events": "print the service's events as they happen",
    }
    for name, text in helps.items():
        parser = commands.add_parser(name, help=text, description=text)
        parser.add_argument(
            "--url",
            default=os.environ.get(URL_ENV, DEFAULT_URL),
            help=f"the control API's URL (default: ${URL_ENV} or {DEFAULT_URL})",
        )
        parser.add_argument(
            "--token", default=None, help=f"bearer token (default: ${TOKEN_ENV})"
        )
        parser.add_argument(
            "--json", action="store_true", help="print JSON for scripts"
        )
        if name == "pause":
            parser.add_argument(
                "--timeout",
                type=_positive,
                default=30.0,
                help="seconds to wait for runs in flight (default 30)",
            )
        parser.set_defaults(handler=_run, client_command=name)


def _run(args: argparse.Namespace) -> int:
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
    try:
        client = ApiClient(args.url, token=token)
    except ValueError as exc:
        print(f"aiotrainer: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with client:
            return _COMMANDS[args.client_command](client, args)
    except RequestError as exc:
        print(f"aiotrainer: refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except ServerUnreachableError as exc:
        print(f"aiotrainer: unreachable: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        return EXIT_OK


def _emit(args: argparse.Namespace, record: dict[str, Any], text: str) -> int:
    print(json.dumps(record) if args.json else text, flush=True)
    return EXIT_OK


def _status(client: ApiClient, args: argparse.Namespace) -> int:
    status = client.status()
    if args.json:
        print(status.model_dump_json())
    else:
        _print_status(status)
    return EXIT_OK


def _print_status(status: ServiceStatus) -> None:
    console = Console(highlight=False)
    console.print(
        f"state: [bold]{status.state.value}[/bold]   last checkpoint: "
        f"{status.last_checkpoint or '-'}"
    )
    # a worker waiting in place for its trainer's data holds a thread, runs nothing
    console.print(
        f"runs in flight: {status.running_trainers}/{status.max_workers} workers "
        "(not counting workers waiting in place for data)"
    )
    if status.last_save_error:
        console.print(f"[red]last save failed: {status.last_save_error}[/red]")
    trainers = Table(title="trainers")
    for column in (
        "trainer",
        "state",
        "runs",
        "skipped",
        "failures",
        "last run",
        "metrics",
    ):
        trainers.add_column(column)
    for name, t in status.trainers.items():
        trainers.add_row(
            name,
            t.state.value,
            str(t.runs),
            str(t.skipped),
            str(t.failures),
            "-" if t.last_duration is None else f"{t.last_duration * 1000:.1f} ms",
            ", ".join(f"{k}={v:.4g}" for k, v in t.metrics.items()) or "-",
        )
    console.print(trainers)
    buffers = Table(title="buffers")
    for column in ("buffer", "size", "max", "collected", "pending", "dropped"):
        buffers.add_column(column)
    for name, b in status.buffers.items():
        buffers.add_row(
            name,
            str(b.size),
            "-" if b.max_size is None else str(b.max_size),
            str(b.collected),
            str(b.pending),
            str(b.dropped),
        )
    console.print(buffers)


def _pause(client: ApiClient, args: argparse.Namespace) -> int:
    state = client.pause(args.timeout)
    return _emit(args, {"state": state.value}, f"service {state.value}")


def _resume(client: ApiClient, args: argparse.Namespace) -> int:
    state = client.resume()
    return _emit(args, {"state": state.value}, f"service {state.value}")


def _save(client: ApiClient, args: argparse.Namespace) -> int:
    path = client.save()
    return _emit(args, {"path": path}, path)


def _shutdown(client: ApiClient, args: argparse.Namespace) -> int:
    state = client.shutdown()
    return _emit(args, {"state": state.value}, f"service {state.value}")


def _events(client: ApiClient, args: argparse.Namespace) -> int:
    for event in client.events():
        if args.json:
            print(json.dumps(event), flush=True)
            continue
        extra = " ".join(
            f"{k}={v}" for k, v in event.items() if k not in ("kind", "time", "trainer")
        )
        who = f" {event['trainer']}" if "trainer" in event else ""
        print(f"{event['time']:.3f} {event['kind']}{who} {extra}".rstrip(), flush=True)
    return EXIT_OK


_COMMANDS: dict[str, Callable[[ApiClient, argparse.Namespace], int]] = {
    "status": _status,
    "pause": _pause,
    "resume": _resume,
    "save": _save,
    "shutdown": _shutdown,
    "events": _events,
}
