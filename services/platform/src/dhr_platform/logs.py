"""Logs as JSON, one object per line, with the trace and span ids of the work that wrote them.

(Named `logs`, not `logging`, so that it never shadows the standard library's module.)
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from opentelemetry import trace

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None))) | {"message", "asctime",
                                                                        "taskName"}


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "service", "trace_id", "span_id", ...}` per line.

    Fields passed with `extra=` are added as they are; callers must not pass personal data
    (review ids, names, payloads) there or in messages.
    """

    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service,
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRIBUTES and name not in entry:
                entry[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["error_type"] = record.exc_info[0].__qualname__
            entry["stack"] = "".join(traceback.format_exception(*record.exc_info))
        elif record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


_HANDLER_NAME = "dhr"


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a line is written (as logging's last resort
    does), never to a stream that was replaced and closed since."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure_logging(service: str, *, level: str = "INFO",
                      log_format: Literal["json", "text"] = "json",
                      stream: TextIO | None = None) -> None:
    """Route every logger (uvicorn's and the libraries' included) to one handler on stderr.

    Calling it again replaces the handler it added; handlers added by others stay.
    """
    handler: logging.Handler = (_CurrentStderr() if stream is None
                                else logging.StreamHandler(stream))
    if log_format == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's and faststream's loggers have handlers of their own (coloured text on stdout);
    # let them propagate here instead. (The brokers log to faststream.kafka: consumers.py.)
    # A logging configuration run before (uvicorn's own, a library's dictConfig) may also have
    # disabled them or set their level: undo that too, so the root's level decides.
    families = ("uvicorn", "faststream")
    names = {"uvicorn.error", "uvicorn.access", *families} | {
        name for name in logging.root.manager.loggerDict
        if name.split(".", 1)[0] in families}
    for name in sorted(names):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.disabled = False
        logger.setLevel(logging.NOTSET)
