"""Encoded rows into a PostgreSQL table through ``COPY … FROM STDIN (FORMAT binary)``.

Batch after batch goes into one open COPY, so the server never waits between batches for the
client to end one COPY and start the next (on a busy machine that wait was a fifth of the
write). A COPY is ended after ``SEGMENT_BYTES``, for two reasons: the server reports a refused
value only when its COPY ends, so a bad value in the first rows of a large write fails the run
after at most this much more data, not at the end; and the batches of the open COPY are kept to
show the refused value, so they bound the memory this takes.
"""

from __future__ import annotations

import re
from typing import Any

from ..dbconn import DbTarget
from ..errors import WorkbenchError
from .pg_copy import HEADER, TRAILER
from .table_session import TableName, is_driver_error, q, write_error

SEGMENT_BYTES = 32 << 20


class CopyStream:
    """Binary COPYs of one table's columns on a session's cursor, a segment at a time."""

    def __init__(self, cur: Any, target: DbTarget, table: TableName, columns: list[str]) -> None:
        self._cur = cur
        self._target = target
        cols = ", ".join(q(c) for c in columns)
        self._sql = f"COPY {table.sql} ({cols}) FROM STDIN (FORMAT binary)"
        self._open: Any = None  # psycopg's copy context manager, while a COPY is open
        self._copy: Any = None
        self._held: list[tuple[int, Any]] = []  # (first line, Arrow batch) of the open COPY
        self._lines = 0
        self._bytes = 0

    def send(self, data: Any, chunks: list[Any]) -> None:
        """Send one batch: ``data`` (Arrow) encoded as ``chunks`` (``pg_copy.encode_table``)."""
        if self._copy is None:
            self._open = self._cur.copy(self._sql)
            self._copy = self._open.__enter__()
            self._copy.write(HEADER)
        for chunk in chunks:
            self._copy.write(chunk)
            self._bytes += len(chunk)
        self._held.append((self._lines + 1, data))
        self._lines += data.num_rows
        if self._bytes >= SEGMENT_BYTES:
            self.close()

    def close(self) -> None:
        """End the open COPY; a value the server refused raises here, naming it."""
        if self._copy is None:
            return
        opened, copy, held = self._open, self._copy, self._held
        self._open = self._copy = None
        self._held, self._lines, self._bytes = [], 0, 0
        try:
            copy.write(TRAILER)
            opened.__exit__(None, None, None)
        except BaseException as exc:
            raise self._error(exc, held) from None

    def abort(self) -> None:
        """End the open COPY without its rows (the transaction is rolled back after)."""
        if self._copy is None:
            return
        opened = self._open
        self._open = self._copy = None
        self._held = []
        try:
            opened.__exit__(RuntimeError, RuntimeError("the write failed"), None)
        except BaseException:
            pass

    def _error(self, exc: BaseException, held: list[tuple[int, Any]]) -> BaseException:
        if isinstance(exc, WorkbenchError) or not is_driver_error(exc):
            return exc
        line = re.search(r"COPY [^,]+, line (\d+)", str(exc))
        n = int(line.group(1)) if line else 0
        for first, data in reversed(held):
            if first <= n:
                return write_error(exc, self._target, "COPY", data, line_of_first=first)
        return write_error(exc, self._target, "COPY")


__all__ = ["SEGMENT_BYTES", "CopyStream"]
