"""Structured logs: one JSON object per line, with the job id, task id, attempt and duration.

Log shippers (Loki, CloudWatch, ...) index the fields without parsing free text. Fields of the
task being run come from a context variable set around each task, so every line the job logs,
ours or a library's, carries them. Every line is masked (``security.mask_text``) on its way out:
a URL's credentials in a library's message never reach the log.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import time
from typing import Any, Iterator

from ..masking import mask_text

_TASK: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("workbench_task",
                                                                              default=None)
_STD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        task = _TASK.get()
        if task:
            out.update(task)
        for key, value in record.__dict__.items():
            if key not in _STD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return mask_text(json.dumps(out, default=str))


class MaskingFormatter(logging.Formatter):
    """Another formatter's lines, masked (the text format)."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(self.inner.format(record))


def install(logger: logging.Logger | None = None, *, fmt: str = "json", **_: Any) -> None:
    """Format every handler of ``logger`` (the root by default) as masked JSON lines (or masked
    text with ``fmt="text"``)."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if fmt == "json":
            handler.setFormatter(JsonFormatter())
        elif not isinstance(handler.formatter, (JsonFormatter, MaskingFormatter)):
            handler.setFormatter(MaskingFormatter(handler.formatter))


@contextlib.contextmanager
def task_context(**fields: Any) -> Iterator[dict[str, Any]]:
    """Fields added to every log line inside; ``duration`` is filled in on the way out."""
    ctx = {k: v for k, v in fields.items() if v is not None}
    token = _TASK.set(ctx)
    t0 = time.monotonic()
    try:
        yield ctx
    finally:
        ctx["duration"] = round(time.monotonic() - t0, 4)
        _TASK.reset(token)


def set_field(**fields: Any) -> None:
    ctx = _TASK.get()
    if ctx is not None:
        ctx.update({k: v for k, v in fields.items() if v is not None})
