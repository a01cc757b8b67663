"""Datetimes with a time zone other than UTC: stored as UTC, read back in their own zone.

Iceberg's ``timestamptz`` is an instant in UTC with no zone name, and a Parquet file holds an
instant too (the zone name lives only in Arrow's schema metadata), so a column in
``Europe/Paris`` is written converted to UTC: the same instants, which every engine reads as
``timestamptz``. The dataset's schema keeps the column's zone, and ``wb.read`` converts the
column back to it. Versions written before keep their zone in the files; converting them to
the zone they already have changes nothing. Zoned datetimes inside lists and structs are
written as they are (such a version gets no Iceberg snapshot).
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

_ZONE = re.compile(r"^Datetime\(time_unit='(?:ms|us|ns)', time_zone='([^']+)'\)$")


def zoned(schema: pl.Schema) -> list[str]:
    """Top-level columns whose zone is neither none nor UTC."""
    return [n for n, t in schema.items()
            if isinstance(t, pl.Datetime) and t.time_zone not in (None, "UTC")]


def to_utc(frame: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    cols = zoned(schema)
    if not cols:
        return frame
    return frame.with_columns(pl.col(c).dt.convert_time_zone("UTC") for c in cols)


def restore_zones(frame: pl.LazyFrame, types: dict[str, Any]) -> pl.LazyFrame:
    """Each column back in its zone; ``types``: name -> Polars type or its ``str()``."""
    wanted = {}
    for name, t in types.items():
        zone = t.time_zone if isinstance(t, pl.Datetime) else None
        if isinstance(t, str):
            m = _ZONE.match(t)
            zone = m.group(1) if m else None
        if zone not in (None, "UTC"):
            wanted[name] = zone
    if not wanted:
        return frame
    return frame.with_columns(pl.col(n).dt.convert_time_zone(z) for n, z in wanted.items())
