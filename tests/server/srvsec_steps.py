"""A registered Python step module for tests/security/test_server_api.py (importable by the
server process through PYTHONPATH). ``system`` is imported into it: a name it imported is not
one of its steps."""

from __future__ import annotations

from os import system  # noqa: F401 - the probe names it as a step

import polars as pl


def double(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns(pl.col("amount") * 2)
