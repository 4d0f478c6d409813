"""Logging for the daemon: text or JSON lines, at the configured level."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from .config.models import LoggingConfig

__all__ = ["JsonLinesFormatter", "configure_logging"]

_HANDLER_NAME = "aiotrainer-daemon"


class JsonLinesFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message (and the traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a JSON line."""
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(out)


def configure_logging(config: LoggingConfig, console: Console | None = None) -> None:
    """Send aiotrainer's logs to stderr (or through ``console``, above a live
    display) in the configured format and level. Idempotent."""
    handler: logging.Handler
    if config.format == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLinesFormatter())
    elif console is not None:
        from rich.logging import RichHandler

        handler = RichHandler(console=console, show_path=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger("aiotrainer")
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(config.level)
