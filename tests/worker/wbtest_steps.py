"""Python steps the worker tests run on real workers (importable there through PYTHONPATH)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Callable

import polars as pl

from workbench.errors import TransientError


def slow(frame: pl.LazyFrame, marker: str, seconds: float = 2.0) -> pl.LazyFrame:
    """Touch ``marker`` (appending this process's pid) when the data flows, then sleep.

    The test waits for the marker, so it acts while the job is surely mid-run.
    """

    def fn(df: pl.DataFrame) -> pl.DataFrame:
        with open(marker, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(seconds)
        return df

    return frame.map_batches(fn, streamable=True)


def crash(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Kill the process running the job: a poison job."""

    def fn(df: pl.DataFrame) -> pl.DataFrame:
        os.kill(os.getpid(), signal.SIGKILL)
        return df

    return frame.map_batches(fn, streamable=True)


def flaky(frame: pl.LazyFrame, counter: str, failures: int) -> pl.LazyFrame:
    """Fail with a transient error on the first ``failures`` runs (counted in a file)."""
    path = Path(counter)
    n = int(path.read_text()) if path.exists() else 0
    if n < failures:
        path.write_text(str(n + 1))
        raise TransientError(f"the service is busy (failure {n + 1} of {failures})")
    return frame


# Steps that misbehave on purpose, for the fault suite (tests/faults).
def _touch(marker: str) -> None:
    with open(marker, "a") as f:
        f.write(f"{os.getpid()}\n")


def _hold(gate: str) -> None:
    """Wait until the test creates ``gate`` (no bound: the test's own wait is the bound)."""
    while not os.path.exists(gate):
        time.sleep(0.05)


def abort(frame: pl.LazyFrame, marker: str = "") -> pl.LazyFrame:
    """A crash in native code: the process aborts (SIGABRT) with the data flowing."""

    def fn(df: pl.DataFrame) -> pl.DataFrame:
        if marker:
            _touch(marker)
        os.abort()

    return frame.map_batches(fn, streamable=True)


def hang(frame: pl.LazyFrame, marker: str) -> pl.LazyFrame:
    """Touch ``marker``, then never return (a step stuck in a call that ignores cancels)."""

    def fn(df: pl.DataFrame) -> pl.DataFrame:
        _touch(marker)
        while True:
            time.sleep(3600)

    return frame.map_batches(fn, streamable=True)


def _once() -> Callable[[Callable[[], None]], None]:
    """Runs what it is given on its first call only: Polars calls a step's function on several
    batches at once (and once per branch of the sink's pass), and a run must write one line."""
    lock = threading.Lock()
    done: list[bool] = []

    def once(action: Callable[[], None]) -> None:
        with lock:
            if not done:
                action()
                done.append(True)

    return once


def wait_for_gate(frame: pl.LazyFrame, marker: str, gate: str, passed: str = "") -> pl.LazyFrame:
    """Touch ``marker`` once per run of the step (a line with this process's id: one run, one
    line), then hold every batch until the test creates ``gate`` (a job held mid-run); touch
    ``passed`` once through."""
    first, through = _once(), _once()

    def fn(df: pl.DataFrame) -> pl.DataFrame:
        first(lambda: _touch(marker))
        _hold(gate)
        if passed:
            through(lambda: _touch(passed))
        return df

    return frame.map_batches(fn, streamable=True)


def hold_after_commit(frame: pl.LazyFrame, marker: str, gate: str) -> pl.LazyFrame:
    """Hold the job's process right after its version is committed (and before it reports),
    until the test creates ``gate``: a cancel or a kill then lands exactly there.

    Patches the commit of this process only, so use it in a job's own process (a kernel job
    process, or a worker's pool child), never on a thread of the test itself.
    """
    import workbench.writer as writer

    commit = writer.commit_version

    def held(*args, **kwargs):
        ds = commit(*args, **kwargs)
        _touch(marker)
        _hold(gate)
        return ds

    writer.commit_version = held
    return frame


def gate_each_run(frame: pl.LazyFrame, marker: str, gate: str) -> pl.LazyFrame:
    """Run n of this step (an attempt that reaches the data) appends a line to ``marker``, then
    holds its data until the test creates ``<gate>.<n>``: the test acts between the runs."""
    run: dict[str, int] = {}
    first = threading.Lock()  # Polars calls fn on several batches at once: one run, one line

    def fn(df: pl.DataFrame) -> pl.DataFrame:
        with first:
            if "n" not in run:
                _touch(marker)
                run["n"] = len(Path(marker).read_text().splitlines())
        _hold(f"{gate}.{run['n']}")
        return df

    return frame.map_batches(fn, streamable=True)


def hold_each_retry(frame: pl.LazyFrame, marker: str, gate: str) -> pl.LazyFrame:
    """Hold every retry this process schedules: retry n (an attempt that failed with a
    transient error and has recorded ``retrying``, before it announces the retry and hands its
    message back to the broker) appends a line to ``marker``, then waits until the test creates
    ``<gate>.<n>``. So the next attempt cannot start before the test has put right what failed.

    Patches the retry delay of this process only (``WorkerConfig.retry_delay``, asked for once
    per retry), once whatever the number of runs: use it in a worker's pool child.
    """
    from workbench.worker.config import WorkerConfig

    current = WorkerConfig.retry_delay
    if getattr(current, "wb_held", None) != (marker, gate):
        delay = getattr(current, "wb_unheld", current)

        def held(self: WorkerConfig, attempt: int) -> float:
            _touch(marker)
            _hold(f"{gate}.{len(Path(marker).read_text().splitlines())}")
            return delay(self, attempt)

        held.wb_held, held.wb_unheld = (marker, gate), delay  # type: ignore[attr-defined]
        WorkerConfig.retry_delay = held  # type: ignore[method-assign]
    return frame


def grow_memory(frame: pl.LazyFrame, marker: str = "", total_mb: int = 2000) -> pl.LazyFrame:
    """Take memory in touched 32 MiB chunks up to ``total_mb`` while the data flows (a step
    that holds too much), then let go; touch ``marker`` first."""

    def fn(df: pl.DataFrame) -> pl.DataFrame:
        if marker:
            _touch(marker)
        held = [b"x" * (32 * 2**20) for _ in range(total_mb // 32)]
        del held
        return df

    return frame.map_batches(fn, streamable=True)


def crawl(frame: pl.LazyFrame, delay: float = 0.5) -> pl.LazyFrame:
    """Sleep ``delay`` on every batch: a long job made on purpose (the progress tests)."""

    def fn(df: pl.DataFrame) -> pl.DataFrame:
        time.sleep(delay)
        return df

    return frame.map_batches(fn, streamable=True)
