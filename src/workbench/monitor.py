"""Progress, cancellation and heartbeats for one running job, fed from inside the data pass.

Polars calls ``on_batch`` for every morsel of the streaming pass and the writer calls
``on_bytes``; both are cheap and rate-limit what they emit, so watching costs the job nothing
measurable.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Callable, Iterator

import polars as pl

from .errors import Cancelled
from .events import Emit, Progress

EMIT_INTERVAL = 0.1  # seconds between progress events
CANCEL_INTERVAL = 0.5  # seconds between cancel-flag polls (may hit Redis or the catalog)


class Monitor:
    def __init__(self, job_id: str, emit: Emit, *, should_cancel: Callable[[], bool] | None = None,
                 heartbeat: Callable[[dict], None] | None = None, heartbeat_interval: float = 5.0) -> None:
        self.job_id = job_id
        self._emit = emit
        self._should_cancel = should_cancel
        self._heartbeat = heartbeat
        self._heartbeat_interval = heartbeat_interval
        self._lock = threading.Lock()
        self.step = "read"
        self.rows = 0
        self.bytes = 0  # input bytes consumed (estimated from rows while streaming)
        self.bytes_out = 0
        self.rows_total: int | None = None
        self.bytes_total: int | None = None
        self.bytes_per_row: float | None = None
        self.step_rows: int | None = None  # the rows the last SQL step put out
        self.rows_read: int | None = None  # the rows that entered a first SQL step
        self.source_rows: int | None = None  # the rows the source gave, when counted there
        self.own_rows: dict[int, int] = {}  # a step's output rows, by index, where counted
        self._last_emit = 0.0
        self._phase = ""
        self._last_cancel_poll = 0.0
        self._last_heartbeat = time.monotonic()
        self.cancelled = False

    # -- called from the data pass -------------------------------------------------
    def on_batch(self, df: pl.DataFrame) -> pl.DataFrame:
        with self._lock:
            self.rows += df.height
            if self.bytes_per_row and self.bytes_total and self.source_rows is None:
                self.bytes = min(self.bytes_total, int(self.rows * self.bytes_per_row))
        self.tick()
        return df

    def on_read(self, df: pl.DataFrame) -> pl.DataFrame:
        """Count the rows as the source gives them (before any step filters them): the read
        step's own rows, and the input bytes consumed."""
        with self._lock:
            self.source_rows = (self.source_rows or 0) + df.height
            if self.bytes_per_row and self.bytes_total:
                self.bytes = min(self.bytes_total, int(self.source_rows * self.bytes_per_row))
        self.tick()
        return df

    def count_source(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """``frame`` counted by ``on_read``. Columns and slices still reach the reader; a filter
        does not, so the count is the rows read, not the rows kept."""
        self.source_rows = 0
        return frame.map_batches(self.on_read, streamable=True, projection_pushdown=True,
                                 slice_pushdown=True)

    @contextlib.contextmanager
    def opening(self, text: str, interval: float = 0.5) -> Iterator[None]:
        """While a source is opened (files listed, types sampled, a query planned), no rows move:
        say so at once, and count the seconds, so the bar never stands still while it works."""
        done = threading.Event()
        t0 = time.monotonic()

        def say() -> None:
            n = int(time.monotonic() - t0)
            self._emit(Progress(job_id=self.job_id, step=self.step, rows=self.rows,
                                bytes=self.bytes, rows_total=self.rows_total,
                                bytes_total=self.bytes_total,
                                phase=f"{text} · {n} s" if n else text))

        def run() -> None:
            while not done.wait(interval):
                try:
                    say()
                except Exception:  # a display that fails must not stop the opening
                    return

        say()
        ticker = threading.Thread(target=run, name="workbench-opening", daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join()

    def on_bytes(self, n: int) -> None:
        with self._lock:
            self.bytes_out += n
        self.tick()

    def tick(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self._should_cancel is not None and (force or now - self._last_cancel_poll >= CANCEL_INTERVAL):
            self._last_cancel_poll = now
            if self._should_cancel():
                self.cancelled = True
                raise Cancelled("the job was cancelled")
        if force or now - self._last_emit >= EMIT_INTERVAL:
            self._last_emit = now
            self._emit(Progress(job_id=self.job_id, step=self.step, rows=self.rows, bytes=self.bytes,
                                rows_total=self.rows_total, bytes_total=self.bytes_total,
                                bytes_out=self.bytes_out, phase=self._phase))
        if self._heartbeat is not None and now - self._last_heartbeat >= self._heartbeat_interval:
            self._last_heartbeat = now
            try:
                self._heartbeat(self.snapshot())
            except Exception:  # a slow catalog must not fail the data work
                pass

    def sql_progress(self, percent: float) -> None:
        """DuckDB's own estimate while a SQL step runs (from the step's watcher thread)."""
        now = time.monotonic()
        if now - self._last_emit < EMIT_INTERVAL:
            return
        self._last_emit = now
        self._emit(Progress(job_id=self.job_id, step=self.step, rows=self.rows, bytes=self.bytes,
                            rows_total=self.rows_total, bytes_total=self.bytes_total,
                            bytes_out=self.bytes_out,
                            percent=min(100.0, max(0.0, percent))))

    def check_cancel(self) -> None:
        if self._should_cancel is not None and self._should_cancel():
            self.cancelled = True
            raise Cancelled("the job was cancelled")

    def finish_input(self) -> None:
        """At the end of the pass the input is fully consumed: report exact totals."""
        with self._lock:
            if self.bytes_total:
                self.bytes = self.bytes_total
            self.rows_total = self.rows
        self._emit(Progress(job_id=self.job_id, step=self.step, rows=self.rows, bytes=self.bytes,
                            rows_total=self.rows_total, bytes_total=self.bytes_total,
                            bytes_out=self.bytes_out))

    def phase(self, text: str) -> None:
        """Name what the step does now that moves no rows (profiling the written files, the
        commit), so a long tail shows as work going on, not as a bar standing still."""
        self._phase = text
        self.tick(force=True)

    def start_output(self, rows_total: int | None) -> None:
        """The write phase after SQL steps counts the rows it writes (of ``rows_total``, the
        last SQL step's output when what follows keeps the count); the input's bytes stay read."""
        with self._lock:
            self.rows = 0
            self.rows_total = rows_total
            self.bytes_per_row = None
        self.tick(force=True)

    def reset(self) -> None:
        """Start counting again (the pass is re-run after widening the source's types)."""
        with self._lock:
            self.rows = 0
            self.bytes = 0
            self.bytes_out = 0
            self.rows_read = None
            self.own_rows.clear()
            if self.source_rows is not None:
                self.source_rows = 0

    def snapshot(self) -> dict:
        return {"step": self.step, "rows": self.rows, "bytes": self.bytes, "bytes_out": self.bytes_out,
                "rows_total": self.rows_total, "bytes_total": self.bytes_total}


def resident_bytes(pid: int | None = None) -> int:
    """Resident memory of a process (this one by default) from /proc; 0 where it is missing."""
    try:
        with open(f"/proc/{pid or 'self'}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
