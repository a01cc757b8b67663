"""Columns stored in the form Iceberg (and every engine reading the table) knows, and read back
by workbench in their own type.

* A datetime in a zone other than UTC: Iceberg's ``timestamptz`` is an instant in UTC with no
  zone name, and a Parquet file holds an instant too (the zone name lives only in Arrow's
  schema metadata), so the column is written converted to UTC: the same instants.
* An Enum is written as String, an Array as a List of its items: Iceberg has no such types,
  and ``pl.scan_iceberg`` refuses a file whose column type differs from the table's.

The dataset's schema keeps each column's own type, and ``restore`` (``wb.read``) converts the
columns back. Versions written before keep their types in the files; converting a column to
the type it already has changes nothing. Such types inside lists and structs are written as
they are, and so is an Array whose item type ``restore`` does not parse back (Lists, Structs).
"""

from __future__ import annotations

import ast
import re
from typing import Any

import polars as pl

_ZONE = re.compile(r"^Datetime\(time_unit='(?:ms|us|ns)', time_zone='([^']+)'\)$")
_ENUM = re.compile(r"^Enum\(categories=(\[.*\])\)$", re.DOTALL)
_ARRAY = re.compile(r"^Array\((.+), shape=\(([\d, ]+)\)\)$")
_DATETIME = re.compile(r"^Datetime\(time_unit='(ms|us|ns)', time_zone=(None|'[^']+')\)$")
_DECIMAL = re.compile(r"^Decimal\(precision=(\d+), scale=(\d+)\)$")
_RESTORED = ("Datetime(", "Enum(", "Array(")
_SIMPLE = {str(t): t for t in (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16,
                               pl.UInt32, pl.UInt64, pl.Float32, pl.Float64, pl.String,
                               pl.Boolean, pl.Date, pl.Binary)}


def to_stored(frame: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """The frame as its files hold it."""
    exprs = []
    for name, t in schema.items():
        if isinstance(t, pl.Datetime) and t.time_zone not in (None, "UTC"):
            exprs.append(pl.col(name).dt.convert_time_zone("UTC"))
        elif isinstance(t, pl.Enum):
            exprs.append(pl.col(name).cast(pl.String))
        elif isinstance(t, pl.Array) and _parse(str(t)) == t:  # restore() can turn it back
            exprs.append(pl.col(name).cast(_as_list(t)))
    return frame.with_columns(exprs) if exprs else frame


def _as_list(t: pl.DataType) -> pl.DataType:
    return pl.List(_as_list(t.inner)) if isinstance(t, pl.Array) else t


def restore(frame: pl.LazyFrame, types: dict[str, Any]) -> pl.LazyFrame:
    """Each column back in its own type; ``types``: name -> Polars type or its ``str()``."""
    exprs = []
    for name, t in types.items():
        if not isinstance(t, pl.DataType) and not str(t).startswith(_RESTORED):
            continue  # most columns: no parse (a dataset may have 100,000 of them)
        dtype = t if isinstance(t, pl.DataType) else _parse(str(t))
        if isinstance(dtype, pl.Datetime) and dtype.time_zone not in (None, "UTC"):
            exprs.append(pl.col(name).dt.convert_time_zone(dtype.time_zone))
        elif isinstance(dtype, (pl.Enum, pl.Array)):
            exprs.append(pl.col(name).cast(dtype))
    return frame.with_columns(exprs) if exprs else frame


def _parse(text: str) -> pl.DataType | None:
    """A dataset schema's type string, for the types ``restore`` converts (None otherwise)."""
    text = text.strip()
    if text in _SIMPLE:
        return _SIMPLE[text]
    m = _DATETIME.match(text)
    if m:
        zone = None if m.group(2) == "None" else m.group(2)[1:-1]
        return pl.Datetime(m.group(1), zone)  # type: ignore[arg-type]
    m = _DECIMAL.match(text)
    if m:
        return pl.Decimal(int(m.group(1)), int(m.group(2)))
    m = _ENUM.match(text)
    if m:
        try:
            categories = ast.literal_eval(m.group(1))
        except (ValueError, SyntaxError):
            return None
        return pl.Enum(categories) if isinstance(categories, list) else None
    m = _ARRAY.match(text)
    if m:
        inner = _parse(m.group(1))
        shape = tuple(int(s) for s in m.group(2).split(",") if s.strip())
        return pl.Array(inner, shape) if inner is not None and shape else None
    return None
