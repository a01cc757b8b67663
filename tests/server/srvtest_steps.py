"""Python steps for the server tests (importable by the server process through PYTHONPATH)."""

from __future__ import annotations

import os
import time

import polars as pl


def gate(frame: pl.LazyFrame, marker: str, gate: str) -> pl.LazyFrame:
    """Touch ``marker`` when the first rows arrive, then hold every batch until ``gate`` exists.

    The test acts while the job is surely mid-run, and releases it by creating the gate file.
    """

    def fn(df: pl.DataFrame) -> pl.DataFrame:
        with open(marker, "a") as f:
            f.write(f"{os.getpid()}\n")
        while not os.path.exists(gate):
            time.sleep(0.02)
        return df

    return frame.map_batches(fn, streamable=True)
