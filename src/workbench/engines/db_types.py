"""Column types of a query result: what each database type becomes in Polars (decimals by their
declared scale, intervals as durations, UUIDs as text), applied batch by batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import polars as pl

from ..errors import SourceError

UNSCALED_NUMERIC = (38, 10)  # numeric without typmod: precision, scale


# ----------------------------------------------------------------------------- types
def _typmod_decimal(fieldmeta: dict[bytes, bytes]) -> tuple[int, int] | None:
    raw = fieldmeta.get(b"POSTGRESQL:typmod")
    if raw is None:
        return None
    typmod = int(raw)
    if typmod < 4:
        return None
    typmod -= 4
    return (typmod >> 16) & 0xFFFF, typmod & 0xFFFF


@dataclass
class _Column:
    name: str
    convert: Callable[[Any], Any] | None  # an Arrow array -> an Arrow array Polars reads


def plan_columns(schema: Any, notes: list[str]) -> tuple[list[_Column], Any]:
    """How to turn each driver column into one Polars reads, and the resulting Arrow schema."""
    # heavy optional dependency: imported on first use
    import pyarrow as pa
    # heavy optional dependency: imported on first use
    import pyarrow.compute as pc

    plans: list[_Column] = []
    out_fields = []
    for f in schema:
        meta = f.metadata or {}
        typname = meta.get(b"POSTGRESQL:type", b"").decode() or None
        t = f.type
        convert = None
        out_type = t
        if isinstance(t, pa.BaseExtensionType) and typname == "numeric":
            p_s = _typmod_decimal(meta)
            if p_s is None or p_s[0] > 38:
                p, s = UNSCALED_NUMERIC
                notes.append(f"column {f.name!r} is numeric without a declared precision (or over "
                             f"38 digits): read as Decimal({p}, {s}), rounded to {s} decimals; cast "
                             f"it in the query (e.g. {f.name}::numeric(18,4)) to choose")

                def convert(arr, p=p, s=s):
                    text = arr.storage if isinstance(arr.type, pa.BaseExtensionType) else arr
                    # keep one digit more than the scale, then round: the cast alone refuses
                    text = pc.replace_substring_regex(text, rf"(\.\d{{{s + 1}}})\d+", r"\1")
                    wide = text.cast(pa.decimal128(p, s + 1))
                    return pc.round(wide, ndigits=s, round_mode="half_towards_infinity").cast(
                        pa.decimal128(p, s))
            else:
                p, s = p_s

                def convert(arr, p=p, s=s):
                    text = arr.storage if isinstance(arr.type, pa.BaseExtensionType) else arr
                    return text.cast(pa.decimal128(max(p, 1), s))
            out_type = pa.decimal128(max(p, 1), s)
        elif isinstance(t, pa.BaseExtensionType) and typname == "uuid" or \
                getattr(t, "extension_name", None) == "arrow.uuid":
            def convert(arr):
                storage = arr.storage if isinstance(arr.type, pa.BaseExtensionType) else arr
                return _uuid_text(pl.Series(storage).cast(pl.Binary).bin.encode("hex"))
            out_type = pa.large_string()
        elif isinstance(t, pa.BaseExtensionType):
            storage = t.storage_type
            if pa.types.is_string(storage) or pa.types.is_large_string(storage):
                def convert(arr):
                    return arr.storage if isinstance(arr.type, pa.BaseExtensionType) else arr
                out_type = storage
            else:
                raise SourceError(f"column {f.name!r} has the type {typname or t}, which cannot be "
                                  "read", column=f.name, step="read",
                                  hint=f"cast it in the query, e.g. {f.name}::text")
        elif pa.types.is_interval(t):
            def convert(arr, name=f.name):
                return _interval_to_duration(arr, name)
            out_type = pa.duration("us")
        elif pa.types.is_null(t):
            out_type = t
        plans.append(_Column(f.name, convert))
        out_fields.append(pa.field(f.name, out_type))
    return plans, pa.schema(out_fields)


def _interval_to_duration(arr: Any, name: str) -> Any:
    """PostgreSQL intervals as durations; a month has no fixed length, so months are refused."""
    # heavy optional dependency: imported on first use
    import numpy as np
    # heavy optional dependency: imported on first use
    import pyarrow as pa

    n = len(arr)
    raw = np.frombuffer(arr.buffers()[1], dtype=[("m", "<i4"), ("d", "<i4"), ("ns", "<i8")],
                        count=arr.offset + n)[arr.offset:]
    valid = np.asarray(arr.is_valid())
    if (raw["m"][valid] != 0).any():
        raise SourceError(f"column {name!r} holds intervals with months, which have no fixed "
                          "length as a duration", column=name, step="read",
                          hint=f"cast it in the query: {name}::text, or extract(epoch from "
                               f"{name}) for seconds")
    micros = raw["d"].astype("int64") * 86_400_000_000 + raw["ns"] // 1000
    return pa.array(micros, type=pa.duration("us"), mask=~valid)


def _uuid_text(hexed: pl.Series) -> Any:
    frame = pl.DataFrame({"h": hexed})
    parts = [pl.col("h").str.slice(a, b - a) for a, b in ((0, 8), (8, 4 + 8), (12, 4 + 12),
                                                           (16, 4 + 16), (20, 12 + 20))]
    return frame.select(pl.concat_str(parts, separator="-")).to_series().to_arrow()


def convert_batch(batch: Any, plans: list[_Column], arrow_schema: Any) -> Any:
    # heavy optional dependency: imported on first use
    import pyarrow as pa

    if all(p.convert is None for p in plans) and batch.schema.equals(arrow_schema):
        return batch
    cols = []
    for i, plan in enumerate(plans):
        arr = batch.column(i)
        if plan.convert is not None:
            try:
                arr = plan.convert(arr)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SourceError(f"column {plan.name!r} has a value that does not fit "
                                  f"{arrow_schema.field(i).type}: {exc}", column=plan.name,
                                  step="read", hint=f"cast it in the query, e.g. "
                                                    f"{plan.name}::numeric(38,4) or ::text") from None
        target = arrow_schema.field(i).type
        if arr.type != target:
            try:
                arr = arr.cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise SourceError(f"column {plan.name!r} changed type part-way through the result "
                                  f"({target} first, then {arr.type})", column=plan.name,
                                  step="read", hint=f"CAST({plan.name} AS TEXT) or AS REAL in the "
                                                    "query, so every row has one type") from None
        cols.append(arr)
    return pa.record_batch(cols, schema=arrow_schema)
