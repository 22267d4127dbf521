"""structlog set-up: one event per line on stderr, readable by a person or by a log shipper.

`auto` (the default) renders for people (structlog's ConsoleRenderer) when stderr is a terminal
and JSON lines otherwise (systemd's journal, Docker, a file); `--log-format` forces either.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

import structlog

LOG_FORMATS = ("auto", "console", "json")


def configure_logging(
    level: str = "info", log_format: str = "auto", stream: TextIO | None = None
) -> None:
    stream = stream or sys.stderr
    on_terminal = stream.isatty()
    renderer: structlog.typing.Processor
    if log_format == "console" or (log_format == "auto" and on_terminal):
        renderer = structlog.dev.ConsoleRenderer(
            colors=on_terminal and "NO_COLOR" not in os.environ,
            exception_formatter=structlog.dev.plain_traceback,
        )
    else:
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=True,
    )
