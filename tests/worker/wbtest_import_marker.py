"""A step module with a side effect at import: it appends this process's pid to the file named
by ``WBTEST_IMPORT_MARKER``. A worker that refuses a step "before any import" never writes it."""

from __future__ import annotations

import os

import polars as pl

if os.environ.get("WBTEST_IMPORT_MARKER"):
    with open(os.environ["WBTEST_IMPORT_MARKER"], "a") as _f:
        _f.write(f"{os.getpid()}\n")


def double(frame: pl.LazyFrame, column: str = "a") -> pl.LazyFrame:
    return frame.with_columns((pl.col(column) * 2).alias(column))
