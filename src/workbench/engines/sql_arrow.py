"""Moving frames between Polars and DuckDB: stream in, sink to Parquet, convert results.

INTERVAL results arrive as Arrow ``month_day_nano_interval``, which Polars cannot import (and
Arrow cannot cast). Intervals without months are exact durations, so their 16-byte values are
read through a numpy view and become ``duration[us]`` (Polars ``Duration("us")``). A month has no
fixed length (DuckDB's own ``epoch()`` counts 30 days, or 365.25/12 past a year), so an interval
with months is refused with a hint instead of guessed: ``date_diff('day', a, b)`` or
``epoch_us(…)`` say exactly what the analyst means.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import polars as pl
import pyarrow as pa

from ..errors import SQLError

MONTHS_HINT = ("intervals with months have no fixed length: compute the difference you mean in "
               "SQL, e.g. date_diff('day', a, b), date_diff('month', a, b) or epoch_us(b - a), or "
               "cast the interval to VARCHAR")


def arrow_schema(frame: pl.LazyFrame) -> pa.Schema:
    return pl.DataFrame(schema=frame.collect_schema()).to_arrow().schema


def frame_batches(frame: pl.LazyFrame, batch_rows: int, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    for df in frame.collect_batches(chunk_size=batch_rows):
        yield from df.to_arrow().cast(schema).to_batches()


def as_reader(frame: pl.LazyFrame, batch_rows: int) -> pa.RecordBatchReader:
    """Stream a lazy frame into DuckDB batch by batch (no full copy in memory; one scan only)."""
    schema = arrow_schema(frame)
    return pa.RecordBatchReader.from_batches(schema, frame_batches(frame, batch_rows, schema))


def sink_parquet(frame: pl.LazyFrame, path: Path, batch_rows: int, limit_bytes: int | None,
                 on_limit: Callable[[int], Exception]) -> int:
    """Write ``frame`` to one Parquet file batch by batch, refusing to grow past ``limit_bytes``
    (checked while writing, not after). Returns the bytes written."""
    # heavy optional dependency: imported on first use
    import pyarrow.parquet as pq

    schema = arrow_schema(frame)
    writer = pq.ParquetWriter(str(path), schema, compression="zstd", compression_level=1)
    try:
        with writer:
            for batch in frame_batches(frame, batch_rows, schema):
                writer.write_batch(batch)
                if limit_bytes is not None and path.stat().st_size > limit_bytes:
                    raise on_limit(path.stat().st_size)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path.stat().st_size


def _interval_to_duration(arr: pa.Array, column: str, step: str) -> pa.Array:
    if len(arr) == 0:
        return pa.array([], pa.duration("us"))
    raw = np.frombuffer(arr.buffers()[1], dtype=[("m", "<i4"), ("d", "<i4"), ("ns", "<i8")])
    raw = raw[arr.offset:arr.offset + len(arr)]
    null = arr.is_null().to_numpy(zero_copy_only=False)
    if raw["m"][~null].any():
        raise SQLError(f"the column {column!r} holds intervals with months", column=column, step=step,
                       hint=MONTHS_HINT)
    us = raw["d"].astype(np.int64) * 86_400_000_000 + raw["ns"] // 1000
    return pa.array(us, pa.duration("us"), mask=null)


def _fix_type(t: pa.DataType) -> pa.DataType:
    if t == pa.month_day_nano_interval():
        return pa.duration("us")
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _fix_type(f.type), f.nullable) for f in t])
    if pa.types.is_list(t):
        return pa.list_(_fix_type(t.value_type))
    if pa.types.is_large_list(t):
        return pa.large_list(_fix_type(t.value_type))
    return t


def _has_interval(t: pa.DataType) -> bool:
    return _fix_type(t) != t


def _convert_array(arr: pa.Array, column: str, step: str) -> pa.Array:
    t = arr.type
    if t == pa.month_day_nano_interval():
        return _interval_to_duration(arr, column, step)
    if pa.types.is_struct(t):
        children = [_convert_array(arr.field(i), f"{column}.{t.field(i).name}", step)
                    for i in range(t.num_fields)]
        return pa.StructArray.from_arrays(children, fields=list(_fix_type(t)), mask=arr.is_null())
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        values = _convert_array(arr.values, column, step)
        offsets = arr.offsets
        return pa.ListArray.from_arrays(offsets, values, mask=arr.is_null()) if not \
            pa.types.is_large_list(t) else pa.LargeListArray.from_arrays(offsets, values, mask=arr.is_null())
    return arr


def convert_batch(batch: pa.RecordBatch, step: str) -> pa.RecordBatch:
    """INTERVAL columns (also inside structs and lists) as ``duration[us]``."""
    if not any(_has_interval(f.type) for f in batch.schema):
        return batch
    cols = [(_convert_array(c, f.name, step) if _has_interval(f.type) else c)
            for c, f in zip(batch.columns, batch.schema)]
    return pa.RecordBatch.from_arrays(cols, names=batch.schema.names)


def result_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, _fix_type(f.type), f.nullable) for f in schema])


def collect_result(reader: pa.RecordBatchReader, step: str, spill_dir: Path,
                   spill_after: int = 256 * 1024 * 1024, counted: list[int] | None = None
                   ) -> pl.LazyFrame:
    """The query's rows as a lazy frame: in memory while small, else in a Parquet file in the
    job's temp folder (removed when the job ends), so a large result does not sit in RAM."""
    # heavy optional dependency: imported on first use
    import pyarrow.parquet as pq

    schema = result_schema(reader.schema)
    batches: list[pa.RecordBatch] = []
    held = 0
    writer = None
    path = spill_dir / "result.parquet"
    try:
        for batch in reader:
            batch = convert_batch(batch, step)
            if counted is not None:  # the step's own output rows
                counted[0] += batch.num_rows
            if writer is not None:
                writer.write_batch(batch)
                continue
            batches.append(batch)
            held += batch.nbytes
            if held > spill_after:
                spill_dir.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(str(path), schema, compression="zstd", compression_level=1)
                for b in batches:
                    writer.write_batch(b)
                batches = []
    finally:
        if writer is not None:
            writer.close()
    if writer is not None:
        return pl.scan_parquet(str(path))
    table = pa.Table.from_batches(batches, schema=schema)
    if not table.num_columns:
        return pl.LazyFrame()
    return pl.from_arrow(table).lazy()  # type: ignore[union-attr]
