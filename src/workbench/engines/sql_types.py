"""What a SQL step's DuckDB types arrive as: exact, or converted as docs/types.md promises.

DuckDB hands some types to Arrow in forms Polars cannot hold or that change values:
``UHUGEINT`` above 2^127 came back as ``-1`` through ``decimal128(38, 0)`` (checked, DuckDB 2.0),
``VARIANT`` as an opaque extension that no statistic and no other tool reads, ``UNION`` as an
Arrow union Polars refuses, and ``TIMESTAMPTZ`` in the session's time zone, which is the
machine's (so a kernel and a worker could disagree). Each is converted here, in DuckDB, before
the rows leave it; the table in docs/types.md lists the result.
"""

from __future__ import annotations

import re
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
        if target is None and _NESTED_WIDE.search(text) and dtype.id in ("list", "array", "struct"):
            # HUGEINT inside lists/structs: as text inside, typed back in Polars (``finish``)
            changed = True
            exprs.append(f"CAST({_quote(name)} AS {_NESTED_WIDE.sub('VARCHAR', text)}) "
                         f"AS {_quote(name)}")
            after[name] = _shape(dtype)  # type: ignore[assignment]
            continue
        if target is None:
            exprs.append(_quote(name))
            continue
        changed = True
        exprs.append(f"CAST({_quote(name)} AS {target[0]}) AS {_quote(name)}")
        if target[1] is not None:
            after[name] = target[1]
    return (rel.project(", ".join(exprs)) if changed else rel), after


_NESTED_WIDE = re.compile(r"\bU?HUGEINT\b")


def _shape(t: Any) -> Any:
    """Where a nested DuckDB type holds 128-bit integers: ``"I"``/``"U"``, ``None`` (no change),
    or ``(kind, children)`` for a list, array or struct."""
    kind = str(t.id)
    if kind in ("hugeint", "uhugeint"):
        return "I" if kind == "hugeint" else "U"
    if kind in ("list", "array"):
        return (kind, _shape(dict(t.children)["child"]))
    if kind == "struct":
        return ("struct", {name: _shape(child) for name, child in t.children})
    return None


def _typed_back(t: pl.DataType, shape: Any) -> pl.DataType:
    if shape == "I":
        return pl.Int128()
    if shape == "U":
        return pl.UInt128()
    if isinstance(shape, tuple) and isinstance(t, pl.List):
        return pl.List(_typed_back(t.inner, shape[1]))
    if isinstance(shape, tuple) and isinstance(t, pl.Array):
        return pl.Array(_typed_back(t.inner, shape[1]), t.shape)
    if isinstance(shape, tuple) and isinstance(t, pl.Struct):
        return pl.Struct([pl.Field(f.name, _typed_back(f.dtype, shape[1].get(f.name)))
                          for f in t.fields])
    return t


def finish(frame: pl.LazyFrame, after: dict[str, pl.DataType]) -> pl.LazyFrame:
    """The result with the casts ``portable`` asked for, and time zones named as UTC (DuckDB
    labels instants with the machine's zone)."""
    schema = frame.collect_schema()
    casts = [pl.col(n).cast(_typed_back(schema[n], t) if isinstance(t, (str, tuple)) else t)
             for n, t in after.items()]
    casts += [pl.col(n).dt.convert_time_zone("UTC") for n, t in schema.items()
              if isinstance(t, pl.Datetime) and t.time_zone not in (None, "UTC") and n not in after]
    return frame.with_columns(casts) if casts else frame


# ----------------------------------------------------------------------------- into DuckDB
# Polars hands Int128/UInt128 to Arrow as an extension type DuckDB cannot read
# ("unsupported format string '_pli128'"), and decimal128(38, 0) holds only 38 digits. So such
# columns (also inside lists, arrays and structs) go in as text and a view casts them back to
# HUGEINT/UHUGEINT: exact for every value.
_SIMPLE = {pl.Boolean: "BOOLEAN", pl.Int8: "TINYINT", pl.Int16: "SMALLINT", pl.Int32: "INTEGER",
           pl.Int64: "BIGINT", pl.Int128: "HUGEINT", pl.UInt8: "UTINYINT", pl.UInt16: "USMALLINT",
           pl.UInt32: "UINTEGER", pl.UInt64: "UBIGINT", pl.UInt128: "UHUGEINT", pl.Float32: "FLOAT",
           pl.Float64: "DOUBLE", pl.String: "VARCHAR", pl.Binary: "BLOB", pl.Date: "DATE",
           pl.Time: "TIME", pl.Categorical: "VARCHAR", pl.Null: "INTEGER"}


def _is_wide(t: pl.DataType) -> bool:
    if t in (pl.Int128, pl.UInt128):
        return True
    if isinstance(t, (pl.List, pl.Array)):
        return _is_wide(t.inner)
    if isinstance(t, pl.Struct):
        return any(_is_wide(f.dtype) for f in t.fields)
    return False


def _as_text(t: pl.DataType) -> pl.DataType:
    if t in (pl.Int128, pl.UInt128):
        return pl.String()
    if isinstance(t, pl.List):
        return pl.List(_as_text(t.inner))
    if isinstance(t, pl.Array):
        return pl.Array(_as_text(t.inner), t.shape)
    if isinstance(t, pl.Struct):
        return pl.Struct([pl.Field(f.name, _as_text(f.dtype)) for f in t.fields])
    return t


def duckdb_type(t: pl.DataType) -> str:
    """The DuckDB type holding a Polars type's values (for the casts into DuckDB)."""
    for k, v in _SIMPLE.items():
        if t == k:
            return v
    if isinstance(t, pl.Enum):
        return "VARCHAR"
    if isinstance(t, pl.Decimal):
        return f"DECIMAL({t.precision}, {t.scale})"
    if isinstance(t, pl.Datetime):
        if t.time_zone:
            return "TIMESTAMPTZ"
        return {"ms": "TIMESTAMP_MS", "ns": "TIMESTAMP_NS"}.get(t.time_unit or "us", "TIMESTAMP")
    if isinstance(t, pl.Duration):
        return "INTERVAL"
    if isinstance(t, pl.List):
        return duckdb_type(t.inner) + "[]"
    if isinstance(t, pl.Array):
        return duckdb_type(t.inner) + f"[{t.size}]"
    if isinstance(t, pl.Struct):
        return "STRUCT(" + ", ".join(f"{_quote(f.name)} {duckdb_type(f.dtype)}"
                                     for f in t.fields) + ")"
    raise TypeError(f"no DuckDB type for {t}")


def wide_ints_as_text(frame: pl.LazyFrame) -> tuple[pl.LazyFrame, dict[str, str]]:
    """``frame`` with its 128-bit integer columns as text, and the DuckDB casts that give them
    back (``column -> DuckDB type``; empty when there is none)."""
    schema = frame.collect_schema()
    wide = [n for n, t in schema.items() if _is_wide(t)]
    if not wide:
        return frame, {}
    casts = {n: f"CAST({_quote(n)} AS {duckdb_type(schema[n])})" for n in wide}
    return frame.with_columns([pl.col(n).cast(_as_text(schema[n])) for n in wide]), casts


_PER_US = {"ms": "* 1000", "us": "", "ns": "// 1000"}


def parquet_casts(frame: pl.LazyFrame) -> dict[str, str]:
    """What a view over the Parquet copy of ``frame`` (an input scanned more than once) casts
    back: DuckDB's ``read_parquet`` reads a Duration as its BIGINT count and an Array as a
    list. (Durations reach DuckDB as INTERVAL, whose precision is the microsecond.)"""
    out: dict[str, str] = {}
    for n, t in frame.collect_schema().items():
        if isinstance(t, pl.Duration):
            out[n] = f"to_microseconds({_quote(n)} {_PER_US[t.time_unit or 'us']})"
        elif isinstance(t, pl.Datetime) and t.time_unit == "ms" and not t.time_zone:
            out[n] = f"CAST({_quote(n)} AS TIMESTAMP_MS)"  # as the streamed path keeps it
        elif isinstance(t, pl.Array) and not _is_wide(t):
            out[n] = f"CAST({_quote(n)} AS {duckdb_type(t)})"
    return out


def cast_back(source: str, casts: dict[str, str]) -> str:
    """A SELECT over ``source`` (an identifier or table function) with ``casts`` (column -> SQL
    expression) replacing those columns."""
    if not casts:
        return f"SELECT * FROM {source}"
    items = ", ".join(f"{expr} AS {_quote(n)}" for n, expr in casts.items())
    return f"SELECT * REPLACE ({items}) FROM {source}"


__all__ = ["cast_back", "duckdb_type", "finish", "parquet_casts", "portable", "wide_ints_as_text"]
