"""Catalog calls ride out an outage: retried with backoff for a window, then a TransientError.

A catalog (PostgreSQL, or SQLite on a busy disk) that goes away for a while must not turn a
running job into a raw driver error with its message acknowledged: each catalog method is retried
with exponential backoff (0.2 s doubling to 5 s, with jitter) while the error is a lost or refused
connection, for up to ``WORKBENCH_CATALOG_RETRY_WINDOW`` seconds (default 300). Past the window the
call raises ``CatalogUnavailable`` (a ``TransientError``), which the worker answers by retrying
the task later, never by acknowledging a job that has no final state.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import time
from typing import Any, Callable

import sqlalchemy as sa

from .errors import ConfigError, StorageUnavailable, register_error
from .masking import mask_url

log = logging.getLogger("workbench.catalog")

# Errors that are about the statement, not the connection: retrying cannot help.
_NOT_TRANSIENT = ("no such table", "no such column", "syntax error", "does not exist",
                  "violates", "unique constraint", "readonly database")


class CatalogUnavailable(StorageUnavailable):
    """The catalog stayed unreachable for the whole retry window."""


register_error(CatalogUnavailable)


def _masked(url: str) -> str:
    return mask_url(url)  # its userinfo up to the last '@' (SQLAlchemy cuts at the first)


def retry_window() -> float:
    raw = os.environ.get("WORKBENCH_CATALOG_RETRY_WINDOW") or "300"
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise ConfigError(f"WORKBENCH_CATALOG_RETRY_WINDOW={raw!r} is not a number of seconds") \
            from None


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError,
                            sa.exc.DisconnectionError)):
        return False
    text = str(exc).lower()
    return not any(s in text for s in _NOT_TRANSIENT)


def retrying(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        window = retry_window()
        start = time.monotonic()
        delay = 0.2
        attempt = 0
        while True:
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                attempt += 1
                waited = time.monotonic() - start
                if waited + delay > window:
                    raise CatalogUnavailable(
                        f"the catalog at {_masked(self.url)} did not answer for {waited:.0f}s "
                        f"({attempt} tries): {getattr(exc, 'orig', exc)}".strip(),
                        hint="check the catalog database; WORKBENCH_CATALOG_RETRY_WINDOW sets how "
                             "long calls wait for it") from None
                if attempt == 1:
                    log.warning("catalog unreachable, retrying for up to %.0fs: %s", window,
                                getattr(exc, "orig", exc))
                time.sleep(delay * (1 + random.random() * 0.25))
                delay = min(5.0, delay * 2)

    return call


def install(cls: type, names: list[str]) -> None:
    """Wrap ``cls``'s catalog methods (each one short transaction, so safe to run again)."""
    for name in names:
        setattr(cls, name, retrying(getattr(cls, name)))
