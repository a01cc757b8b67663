"""Polars types to SQL column types, and the Arrow type each column is written as.

When a table sink creates a table, each column gets the SQL type below. The map is explicit: a
type that is not listed is an error naming the column, never a guess.

=========================  ============================  ==========================================
Polars                     PostgreSQL                    SQLite
=========================  ============================  ==========================================
Boolean                    boolean                       INTEGER (0/1)
Int8, Int16, UInt8         smallint                      INTEGER
Int32, UInt16              integer                       INTEGER
Int64, UInt32              bigint                        INTEGER
UInt64                     numeric(20,0)                 INTEGER (values above 2^63-1 fail)
Float32                    real                          REAL (NaN stored as NULL: noted)
Float64                    double precision              REAL (NaN stored as NULL: noted)
Decimal(p, s)              numeric(p, s)                 TEXT (exact digits; SQLite would round
                                                         a NUMERIC column to a float)
String, Categorical, Enum  text                          TEXT
Date                       date                          TEXT (ISO 8601, YYYY-MM-DD)
Datetime (no time zone)    timestamp                     TEXT (ISO 8601)
Datetime (time zone)       timestamptz                   TEXT (ISO 8601, UTC)
Time                       time                          TEXT (HH:MM:SS.fffffffff)
Duration                   interval                      INTEGER (microseconds, any unit)
Binary                     bytea                         BLOB
Null, List, Array, Struct, Object — not mapped: cast them first (a ``cast`` step to a listed type,
or ``to_json``/``CAST(… AS VARCHAR)`` in a SQL step)
=========================  ============================  ==========================================

Datetimes are written with microsecond precision (PostgreSQL's). Decimals wider than 38 digits do
not exist in Polars, so every numeric(p, s) written here has p <= 38.

Into an existing table, a column's values are converted to that column's type (an Int64 column
into ``integer`` is checked value by value), and a pipeline type of another kind than the column's
(text into ``integer``, a date into ``boolean``) is a schema mismatch naming the columns. PostgreSQL
columns of types with no Arrow equivalent (``jsonb``, ``uuid``, ``inet``, enums, …) take String
values, sent as text and cast by the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from ..errors import InputError

# ---------------------------------------------------------------------------- creating tables
_PG_SIMPLE: dict[type, str] = {
    pl.Boolean: "boolean", pl.Int8: "smallint", pl.Int16: "smallint", pl.UInt8: "smallint",
    pl.Int32: "integer", pl.UInt16: "integer", pl.Int64: "bigint", pl.UInt32: "bigint",
    pl.UInt64: "numeric(20,0)", pl.Float32: "real", pl.Float64: "double precision",
    pl.String: "text", pl.Categorical: "text", pl.Enum: "text", pl.Date: "date",
    pl.Time: "time", pl.Duration: "interval", pl.Binary: "bytea",
}
_SQLITE_SIMPLE: dict[type, str] = {
    pl.Boolean: "INTEGER", pl.Int8: "INTEGER", pl.Int16: "INTEGER", pl.UInt8: "INTEGER",
    pl.Int32: "INTEGER", pl.UInt16: "INTEGER", pl.Int64: "INTEGER", pl.UInt32: "INTEGER",
    pl.UInt64: "INTEGER", pl.Float32: "REAL", pl.Float64: "REAL", pl.String: "TEXT",
    pl.Categorical: "TEXT", pl.Enum: "TEXT", pl.Date: "TEXT", pl.Datetime: "TEXT",
    pl.Time: "TEXT", pl.Duration: "INTEGER", pl.Binary: "BLOB", pl.Decimal: "TEXT",
}


def _base(dtype: pl.DataType) -> type:
    return dtype.base_type() if hasattr(dtype, "base_type") else type(dtype)


def unmappable(name: str, dtype: pl.DataType) -> InputError:
    return InputError(f"column {name!r} has the type {dtype}, which has no SQL column type here",
                      column=name, step="write",
                      hint="cast it first: a cast step to string/int64/float64/…, or in a SQL "
                           "step to_json(col) or CAST(col AS VARCHAR)")


def sql_type(name: str, dtype: pl.DataType, dialect: str) -> str:
    """The column type a new table gets for ``dtype`` (see the module's table)."""
    base = _base(dtype)
    if dialect == "postgresql":
        if base is pl.Decimal:
            precision = dtype.precision or 38  # type: ignore[attr-defined]
            if precision > 38:
                raise unmappable(name, dtype)
            return f"numeric({precision},{dtype.scale})"  # type: ignore[attr-defined]
        if base is pl.Datetime:
            return "timestamptz" if dtype.time_zone else "timestamp"  # type: ignore[attr-defined]
        found = _PG_SIMPLE.get(base)
    else:
        found = _SQLITE_SIMPLE.get(base)
    if found is None:
        raise unmappable(name, dtype)
    return found


# ---------------------------------------------------------------------------- writing values
def arrow_type_for_new(name: str, dtype: pl.DataType, dialect: str) -> Any:
    """The Arrow type the driver gets for a column of a table created from ``dtype``."""
    # heavy optional dependency: imported on first use
    import pyarrow as pa

    base = _base(dtype)
    sql_type(name, dtype, dialect)  # raises for an unmapped type
    if dialect == "postgresql":
        simple = {pl.Boolean: pa.bool_(), pl.Int8: pa.int16(), pl.Int16: pa.int16(),
                  pl.UInt8: pa.int16(), pl.Int32: pa.int32(), pl.UInt16: pa.int32(),
                  pl.Int64: pa.int64(), pl.UInt32: pa.int64(), pl.UInt64: pa.decimal128(20, 0),
                  pl.Float32: pa.float32(), pl.Float64: pa.float64(), pl.String: pa.string(),
                  pl.Categorical: pa.string(), pl.Enum: pa.string(), pl.Date: pa.date32(),
                  pl.Time: pa.time64("us"), pl.Duration: pa.duration("us"),
                  pl.Binary: pa.binary()}
        if base is pl.Decimal:
            return pa.decimal128(dtype.precision or 38, dtype.scale)  # type: ignore[attr-defined]
        if base is pl.Datetime:
            tz = dtype.time_zone  # type: ignore[attr-defined]
            return pa.timestamp("us", tz="UTC" if tz else None)
        return simple[base]
    simple = {pl.Boolean: pa.int64(), pl.Int8: pa.int64(), pl.Int16: pa.int64(),
              pl.UInt8: pa.int64(), pl.Int32: pa.int64(), pl.UInt16: pa.int64(),
              pl.Int64: pa.int64(), pl.UInt32: pa.int64(), pl.UInt64: pa.int64(),
              pl.Float32: pa.float64(), pl.Float64: pa.float64(), pl.String: pa.string(),
              pl.Categorical: pa.string(), pl.Enum: pa.string(), pl.Date: pa.date32(),
              pl.Time: pa.string(), pl.Duration: pa.int64(), pl.Binary: pa.binary(),
              pl.Decimal: pa.string()}
    if base is pl.Datetime:
        tz = dtype.time_zone  # type: ignore[attr-defined]
        return pa.timestamp("us", tz="UTC" if tz else None)
    return simple[base]


@dataclass(frozen=True)
class TargetColumn:
    """A column of an existing table, as the database describes it."""

    name: str
    sql_type: str  # as the database prints it, e.g. "numeric(10,2)", "INTEGER"
    typname: str  # PostgreSQL's type name (int4, numeric, jsonb …); SQLite: the declared type
    not_null: bool
    has_default: bool
    typmod: int = -1


# PostgreSQL type name -> (kind, Arrow type or None when sent as text and cast by the server)
def _pg_arrow(col: TargetColumn) -> tuple[str, Any]:
    # heavy optional dependency: imported on first use
    import pyarrow as pa

    t = col.typname
    if t in ("int2", "int4", "int8"):
        return "integer", {"int2": pa.int16(), "int4": pa.int32(), "int8": pa.int64()}[t]
    if t in ("float4", "float8"):
        return "float", pa.float32() if t == "float4" else pa.float64()
    if t == "numeric":
        if col.typmod >= 4:
            mod = col.typmod - 4
            p, s = (mod >> 16) & 0xFFFF, mod & 0xFFFF
            if p <= 38:
                return "numeric", pa.decimal128(max(p, 1), s)
        return "numeric", None  # unconstrained: sent as text, the server keeps every digit
    if t == "bool":
        return "boolean", pa.bool_()
    if t in ("text", "varchar", "bpchar", "name", "citext"):
        return "text", pa.string()
    if t == "date":
        return "date", pa.date32()
    if t == "timestamp":
        return "timestamp", pa.timestamp("us")
    if t == "timestamptz":
        return "timestamp", pa.timestamp("us", tz="UTC")
    if t == "time":
        return "time", pa.time64("us")
    if t == "interval":
        return "duration", pa.duration("us")
    if t == "bytea":
        return "binary", pa.binary()
    return "via_text", None


_KIND_ACCEPTS: dict[str, tuple[type, ...]] = {
    "integer": (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64),
    "float": (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64,
              pl.Float32, pl.Float64, pl.Decimal),
    "numeric": (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64,
                pl.Float32, pl.Float64, pl.Decimal),
    "boolean": (pl.Boolean,),
    "text": (pl.String, pl.Categorical, pl.Enum),
    "date": (pl.Date,),
    "timestamp": (pl.Datetime,),
    "time": (pl.Time,),
    "duration": (pl.Duration,),
    "binary": (pl.Binary,),
    "via_text": (pl.String, pl.Categorical, pl.Enum),
}


@dataclass(frozen=True)
class WritePlan:
    """How one pipeline column reaches one table column."""

    name: str
    arrow: Any  # the Arrow type the batch column is cast to
    server_cast: str | None = None  # staged as text, then CAST(... AS this) by the server


def plan_existing_pg(schema: pl.Schema, columns: list[TargetColumn]) -> list[WritePlan]:
    # heavy optional dependency: imported on first use
    import pyarrow as pa

    by_name = {c.name: c for c in columns}
    plans, wrong = [], []
    for name, dtype in schema.items():
        col = by_name[name]
        kind, arrow = _pg_arrow(col)
        if not issubclass(_base(dtype), _KIND_ACCEPTS[kind]):
            wrong.append(f"{name}: {dtype} -> {col.sql_type}")
            continue
        if arrow is None:
            plans.append(WritePlan(name, pa.string(), server_cast=col.sql_type))
        else:
            plans.append(WritePlan(name, arrow))
    if wrong:
        raise _mismatch(wrong)
    return plans


def _sqlite_affinity(declared: str) -> str:
    d = declared.upper()
    if "INT" in d:
        return "integer"
    if any(s in d for s in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if not d or "BLOB" in d:
        return "blob"
    if any(s in d for s in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "numeric"


def plan_existing_sqlite(schema: pl.Schema, columns: list[TargetColumn]) -> list[WritePlan]:
    by_name = {c.name: c for c in columns}
    plans, wrong = [], []
    numbers = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64,
               pl.Boolean)
    for name, dtype in schema.items():
        col = by_name[name]
        affinity = _sqlite_affinity(col.typname)
        base = _base(dtype)
        # SQLite stores any value in any column; refuse only what would silently change kind
        if affinity == "integer" and not issubclass(base, numbers + (pl.Duration,)):
            wrong.append(f"{name}: {dtype} -> {col.sql_type or 'untyped'}")
            continue
        if affinity in ("real", "numeric") and not issubclass(
                base, numbers + (pl.Float32, pl.Float64, pl.Decimal)):
            wrong.append(f"{name}: {dtype} -> {col.sql_type}")
            continue
        plans.append(WritePlan(name, arrow_type_for_new(name, dtype, "sqlite")))
    if wrong:
        raise _mismatch(wrong)
    return plans


def _mismatch(wrong: list[str]) -> InputError:
    return InputError("the table's column types do not match the pipeline's: " + "; ".join(wrong),
                      column=wrong[0].split(":", 1)[0], step="write",
                      hint="cast the columns in a step to match, or use mode='replace' to recreate "
                           "the table from the pipeline's schema")


__all__ = ["TargetColumn", "WritePlan", "arrow_type_for_new", "plan_existing_pg",
           "plan_existing_sqlite", "sql_type", "unmappable"]
