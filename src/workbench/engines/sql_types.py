"""What a SQL step's DuckDB types arrive as: exact, or converted as docs/types.md promises.

DuckDB hands some types to Arrow in forms Polars cannot hold or that change values:
``UHUGEINT`` above 2^127 came back as ``-1`` through ``decimal128(38, 0)`` (checked, DuckDB 2.0),
``VARIANT`` as an opaque extension that no statistic and no other tool reads, ``UNION`` as an
Arrow union Polars refuses, and ``TIMESTAMPTZ`` in the session's time zone, which is the
machine's (so a kernel and a worker could disagree). Each is converted here, in DuckDB, before
the rows leave it; the table in docs/types.md lists the result.
"""

from __future__ import annotations

from typing import Any

import polars as pl

# DuckDB type (as ``str(type)``) -> (SQL cast in DuckDB, Polars type to cast the text to after)
_AS_TEXT: dict[str, tuple[str, pl.DataType | None]] = {
    "VARIANT": ("JSON", None),                       # JSON text: every tool reads it
    "BIT": ("VARCHAR", None),                        # '0101'
    "TIME WITH TIME ZONE": ("VARCHAR", None),        # '10:00:00+02': no Arrow/Polars type keeps the offset
    "HUGEINT": ("VARCHAR", pl.Int128),               # exact through text, then a 128-bit integer
    "UHUGEINT": ("VARCHAR", pl.UInt128),
}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def portable(rel: Any) -> tuple[Any, dict[str, pl.DataType]]:
    """The relation with every column in a form Arrow and Polars carry exactly, and the
    Polars casts to apply after (``to_polars``)."""
    exprs: list[str] = []
    after: dict[str, pl.DataType] = {}
    changed = False
    for name, dtype in zip(rel.columns, rel.types):
        text = str(dtype)
        target = _AS_TEXT.get(text)
        if target is None and text.startswith("UNION("):
            target = ("VARCHAR", None)  # the member's value as text; Polars has no union type
        if target is None:
            exprs.append(_quote(name))
            continue
        changed = True
        exprs.append(f"CAST({_quote(name)} AS {target[0]}) AS {_quote(name)}")
        if target[1] is not None:
            after[name] = target[1]
    return (rel.project(", ".join(exprs)) if changed else rel), after


def finish(frame: pl.LazyFrame, after: dict[str, pl.DataType]) -> pl.LazyFrame:
    """The result with the casts ``portable`` asked for, and time zones named as UTC (DuckDB
    labels instants with the machine's zone)."""
    schema = frame.collect_schema()
    casts = [pl.col(n).cast(t) for n, t in after.items()]
    casts += [pl.col(n).dt.convert_time_zone("UTC") for n, t in schema.items()
              if isinstance(t, pl.Datetime) and t.time_zone not in (None, "UTC") and n not in after]
    return frame.with_columns(casts) if casts else frame


__all__ = ["finish", "portable"]
