"""The partition of each row, computed in Polars while the rows stream to Parquet.

``key_exprs`` gives one expression per ``partition_by`` field, named ``__wb_p<i>``: the source
column for identity, days/months/years since 1970-01-01 for the time transforms (of the UTC
instant for a zoned datetime, as Iceberg's timestamptz), and Iceberg's own bucket function
(pyiceberg's, murmur3 over the value's Iceberg form) for bucket, so other engines computing the
partition of a row get the value workbench wrote. ``sink_parquet`` groups files by these values
and leaves the key columns out of the files. ``record_value`` and ``path_segment`` turn a file's
key values into its Iceberg partition record and its folder name.
"""

from __future__ import annotations

import datetime
from typing import Any

import polars as pl

from ..errors import InputError
from ..spec.partitions import PartitionField, parse_partitions

_EPOCH = datetime.date(1970, 1, 1)
_EPOCH_DT = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_BUCKETABLE = "integers, decimals, dates, datetimes, strings and binary"


def key_name(i: int) -> str:
    return f"__wb_p{i}"


def fields_for(partition_by: list[str], schema: pl.Schema) -> list[PartitionField]:
    """The spec's fields, each checked against its column's type (InputError names both)."""
    try:
        fields = parse_partitions(partition_by)
    except ValueError as exc:
        raise InputError(str(exc), step="write") from None
    for f in fields:
        if f.column not in schema:
            raise InputError(f"partition_by {str(f)!r} names a column that does not exist: "
                             f"{f.column!r}", column=f.column, step="write",
                             hint=f"columns are: {', '.join(schema.names())}")
        dtype = schema[f.column]
        why = _refusal(f, dtype)
        if why:
            raise InputError(f"partition_by {str(f)!r}: column {f.column!r} is {dtype}; {why}",
                             column=f.column, step="write",
                             hint="cast the column in a step, or choose another transform")
    return fields


def _refusal(f: PartitionField, dtype: pl.DataType) -> str | None:
    if dtype.is_nested():
        return "a nested column cannot be a partition"
    if f.transform in ("day", "month", "year"):
        if not isinstance(dtype, (pl.Date, pl.Datetime)):
            return f"{f.transform}() needs a date or datetime column"
    if f.transform == "bucket":
        ok = (dtype.is_integer() and dtype not in (pl.UInt32, pl.UInt64, pl.Int128, pl.UInt128)) \
            or isinstance(dtype, (pl.Decimal, pl.Date, pl.Datetime, pl.String, pl.Binary))
        if not ok:
            return f"bucket() takes {_BUCKETABLE}"
    return None


def key_exprs(fields: list[PartitionField], schema: pl.Schema) -> list[pl.Expr]:
    return [_expr(f, schema[f.column]).alias(key_name(i)) for i, f in enumerate(fields)]


def _expr(f: PartitionField, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(f.column)
    if f.transform == "identity":
        return col
    if f.transform == "bucket":
        return _bucket(col, dtype, f.buckets or 1)
    if f.transform == "day":
        days = col if isinstance(dtype, pl.Date) else col.dt.epoch("d")
        return days.cast(pl.Int32)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone not in (None, "UTC"):
        col = col.dt.convert_time_zone("UTC")
    years = col.dt.year().cast(pl.Int32) - 1970
    if f.transform == "year":
        return years
    return years * 12 + col.dt.month().cast(pl.Int32) - 1


def _bucket(col: pl.Expr, dtype: pl.DataType, buckets: int) -> pl.Expr:
    # heavy optional dependency: imported on first use
    from pyiceberg.transforms import BucketTransform

    ice_type, cast = _iceberg_type(dtype)
    fn = BucketTransform(buckets).pyarrow_transform(ice_type)

    def bucket(s: pl.Series) -> pl.Series:
        return pl.Series(s.name, fn(s.to_arrow()), dtype=pl.Int32)

    source = col.cast(cast) if cast is not None else col
    return source.map_batches(bucket, return_dtype=pl.Int32, is_elementwise=True)


def _iceberg_type(dtype: pl.DataType) -> tuple[Any, pl.DataType | None]:
    """The Iceberg type the column is stored as, and the cast that gives its Iceberg form."""
    # heavy optional dependency: imported on first use
    from pyiceberg import types as t

    if dtype in (pl.Int8, pl.Int16, pl.UInt8, pl.UInt16):
        return t.IntegerType(), pl.Int32
    if dtype == pl.Int32:
        return t.IntegerType(), None
    if dtype == pl.Int64:
        return t.LongType(), None
    if isinstance(dtype, pl.Decimal):
        return t.DecimalType(dtype.precision or 38, dtype.scale or 0), None
    if dtype == pl.Date:
        return t.DateType(), None
    if isinstance(dtype, pl.Datetime):
        # Iceberg keeps microseconds: a millisecond value hashes as its microseconds
        zoned = dtype.time_zone is not None
        target = pl.Datetime("us", "UTC" if zoned else None)
        return (t.TimestamptzType() if zoned else t.TimestampType()), target
    if dtype == pl.String:
        return t.StringType(), None
    return t.BinaryType(), None


def record_value(f: PartitionField, value: Any) -> Any:
    """A key value as the Iceberg partition record holds it (JSON-safe: the manifest keeps it),
    or ``...`` when it has no JSON form (the commit reads it from the file's statistics)."""
    if value is None or f.transform != "identity":
        return value
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
        delta = aware - _EPOCH_DT
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, datetime.date):
        return (value - _EPOCH).days
    return ...


def path_segment(f: PartitionField, value: Any) -> Any:
    """The value shown in the file's folder name (``ts_day=2024-01-31``)."""
    if value is None or f.transform in ("identity", "bucket"):
        return value
    if f.transform == "day":
        return (_EPOCH + datetime.timedelta(days=int(value))).isoformat()
    if f.transform == "month":
        return f"{1970 + value // 12:04d}-{value % 12 + 1:02d}"
    return f"{1970 + value:04d}"
