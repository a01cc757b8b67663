"""Python steps that misbehave on purpose, for the fault suite (importable by job processes and
workers through the import path)."""

from __future__ import annotations

import os
import time

import polars as pl


def _touch(marker: str) -> None:
    with open(marker, "a") as f:
        f.write(f"{os.getpid()}\n")


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


def wait_for_gate(frame: pl.LazyFrame, marker: str, gate: str) -> pl.LazyFrame:
    """Touch ``marker``, then wait until the test creates ``gate`` (a job held mid-run)."""

    def fn(df: pl.DataFrame) -> pl.DataFrame:
        _touch(marker)
        while not os.path.exists(gate):
            time.sleep(0.05)
        return df

    return frame.map_batches(fn, streamable=True)
