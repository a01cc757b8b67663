"""Parquet: scanned lazily where it lies (local or in the bucket); the footer is read first, so
a truncated or foreign file fails before the pipeline starts, and row counts are known."""

from __future__ import annotations

import os
import re
from typing import Any

import polars as pl

from ..errors import SourceError
from .read_common import Input
from .read_detect import PARQUET_MAGIC, describe_bytes


def check_parquet(inp: Input, scan_target: str, storage_options: dict | None) -> tuple[int, Any]:
    """``(rows, arrow schema)`` from the footer; a ``SourceError`` if there is no valid one."""
    # heavy optional dependency: imported on first use
    import pyarrow.parquet as pq

    remote = "://" in scan_target
    size = inp.size if remote else os.path.getsize(scan_target)  # a decompressed copy differs
    if size == 0:
        raise SourceError("the file is empty", file=inp.path, row=0,
                          hint="the file has 0 bytes: check that it was written completely")
    with (inp.opener() if remote else open(scan_target, "rb")) as f:
        head = f.read(4)
        tail = b""
        if size >= 8:
            f.seek(size - 4)
            tail = f.read(4)
        if head != PARQUET_MAGIC:
            raise SourceError(f"this is not a Parquet file ({describe_bytes(head + f.read(60))})",
                              file=inp.path, hint="check format= or the file's name")
        if tail != PARQUET_MAGIC:
            raise SourceError(
                "the Parquet file is truncated: it has no footer (it does not end with PAR1)",
                file=inp.path,
                hint="the file was cut short (an interrupted copy or a writer that crashed); "
                     "write or fetch it again")
        f.seek(0)
        try:
            meta = pq.ParquetFile(f).metadata
        except NotImplementedError:
            # pyarrow cannot type some columns Polars writes (128-bit integers): Polars reads them
            meta = None
        except Exception as exc:
            raise SourceError(f"the Parquet footer is damaged: {exc}", file=inp.path,
                              hint="write or fetch the file again") from None
    if meta is None:
        return _polars_footer(inp, scan_target, storage_options)
    schema = meta.schema.to_arrow_schema()
    for field in schema:
        _check_readable(inp, field.name, field.type)
    return meta.num_rows, schema


_OFFSET = re.compile(r"^[+-]\d{2}:?\d{2}$")


def _check_readable(inp: Input, column: str, t: Any) -> None:
    """Refuse, naming the column, a type Polars cannot hold (its reader panics on them): a
    decimal of more than 38 digits, and a time zone written as a fixed offset (``+05:30``,
    which pyarrow writes for Python's ``datetime.timezone``)."""
    import pyarrow as pa  # heavy optional dependency: imported on first use

    if pa.types.is_decimal(t) and t.precision > 38:
        raise SourceError(
            f"column {column!r} is decimal({t.precision},{t.scale}): more than 38 digits, the "
            "most this reader holds", file=inp.path, column=column,
            hint="write the column as decimal(38, s) or less, or as text, where the file is made")
    if pa.types.is_timestamp(t) and t.tz and _OFFSET.match(t.tz):
        raise SourceError(
            f"column {column!r} has its time zone as a fixed offset ({t.tz}), which this reader "
            "cannot read", file=inp.path, column=column,
            hint="write the column in UTC (the instants are the same) or with a named zone "
                 "such as Asia/Kolkata, where the file is made")
    if pa.types.is_struct(t):
        for child in t:
            _check_readable(inp, f"{column}.{child.name}", child.type)
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) \
            or pa.types.is_map(t):
        _check_readable(inp, column, t.value_type if not pa.types.is_map(t) else t.item_type)


def _polars_footer(inp: Input, scan_target: str, storage_options: dict | None) -> tuple[int, Any]:
    """Rows and schema from the footer as Polars reads it (the types pyarrow cannot map)."""
    kwargs = {"storage_options": storage_options} if storage_options else {}
    try:
        lf = pl.scan_parquet(scan_target, **kwargs)
        schema = lf.collect_schema()
        rows = int(lf.select(pl.len()).collect().item())
    except Exception as exc:
        raise SourceError(f"the Parquet footer is damaged: {exc}", file=inp.path,
                          hint="write or fetch the file again") from None
    return rows, schema


def _fields(schema: Any) -> list[tuple[str, str]]:
    """(name, type) pairs of an Arrow schema or a Polars one (the fallback above)."""
    if isinstance(schema, pl.Schema):
        return [(n, str(t)) for n, t in schema.items()]
    return [(f.name, str(f.type)) for f in schema]


def scan_parquet(inputs: list[Input], targets: list[str], storage_options: dict | None,
                 ) -> tuple[pl.LazyFrame, int]:
    rows = 0
    first_schema = None
    for inp, target in zip(inputs, targets):
        n, schema = check_parquet(inp, target, storage_options)
        rows += n
        if first_schema is None:
            first_schema = schema
            continue
        mine, first = _fields(schema), _fields(first_schema)
        if [n for n, _ in mine] != [n for n, _ in first]:
            names, first_names = {n for n, _ in mine}, {n for n, _ in first}
            raise SourceError(
                "the columns differ from the first file's "
                f"({sorted(names ^ first_names)[:10]} are not in both)",
                file=inp.path,
                hint="every file of a glob needs the same columns; read the odd file on its own")
        if mine != first:
            diff = [a[0] for a, b in zip(mine, first) if a != b]
            raise SourceError(
                f"column types differ from the first file's: {diff[:10]}", file=inp.path,
                column=diff[0] if diff else None,
                hint="cast the files to one schema, or read the odd file on its own")
    kwargs: dict = {}
    if storage_options:
        kwargs["storage_options"] = storage_options
    frame = pl.scan_parquet(targets if len(targets) > 1 else targets[0], **kwargs)
    return frame, rows
