"""Arrow batches as PostgreSQL's binary ``COPY`` format, encoded column by column.

``COPY … FROM STDIN (FORMAT binary)`` takes, per row, a 16-bit field count and, per field, a
32-bit length (-1 for NULL) followed by the value in the type's binary "send" form, all
big-endian. Each column becomes one Arrow binary array of its encoded fields (numpy for the
fixed-width values, Arrow kernels for text and nulls), and one ``binary_join_element_wise``
lays the rows out: no Python runs per row, and the bytes are exactly the values (no text
round trip for floats, timestamps or decimals).

The Arrow types are the ones :mod:`workbench.sinks.typemap` plans for PostgreSQL columns:

==========================  =====================  ==============================================
Arrow                       column                 binary form
==========================  =====================  ==============================================
bool                        boolean                1 byte
int16 / int32 / int64       smallint/integer/bigint  2 / 4 / 8 bytes
float32 / float64           real / double          IEEE 754 (NaN and ±inf kept)
decimal128(p, s), p <= 38   numeric                base-10000 digits, weight, sign, scale
string / binary (large too) text, varchar, bytea …  the bytes as they are (text is UTF-8)
date32                      date                   days since 2000-01-01, 4 bytes
timestamp[us] (tz or none)  timestamp/timestamptz  µs since 2000-01-01 (UTC), 8 bytes
time64[us]                  time                   µs since midnight, 8 bytes
duration[us]                interval               µs, 0 days, 0 months (16 bytes)
==========================  =====================  ==============================================

The server checks every value against its column (range, length, encoding, typmod), so a value
the table refuses fails the ``COPY`` with PostgreSQL's own message naming the column and line.
"""

from __future__ import annotations

from typing import Any

# heavy optional dependencies: this module is imported only when a PostgreSQL table is written
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"  # no flags, no ext
TRAILER = b"\xff\xff"
_NULL = b"\xff\xff\xff\xff"
_PG_EPOCH_DAYS = 10_957  # 2000-01-01 - 1970-01-01
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400 * 1_000_000


def _nothing() -> pa.Scalar:
    """The empty separator of the joins (made per call: nothing is allocated at import)."""
    return pa.scalar(b"", pa.large_binary())


def encode_table(table: pa.Table) -> list[pa.Buffer]:
    """The rows of ``table`` as binary COPY tuples (no header, no trailer), a buffer per chunk."""
    return [encode(b) for b in table.to_batches() if b.num_rows]


def encode(batch: pa.RecordBatch) -> pa.Buffer:
    """The rows of ``batch`` as binary COPY tuples (no header, no trailer).

    Consecutive fixed-width fields (the row's field count, each length, the values of columns
    without nulls) go into one numpy record per row; text, bytes and columns with nulls end a
    record. With no such column the records are the rows; otherwise one join lays them out.
    """
    n = batch.num_rows
    pieces: list[pa.Array] = []
    run: list[tuple[str, Any, Any]] = [(">i2", (), batch.num_columns)]

    def flush() -> None:
        if run:
            pieces.append(_records(run, n))
            run.clear()

    for arr, field in zip(batch.columns, batch.schema):
        t = arr.type
        if _is_bytes(t):
            data = arr.cast(pa.large_binary())
            lengths = pc.binary_length(data)
            if arr.null_count:
                lengths = pc.fill_null(lengths, -1)
                data = pc.fill_null(data, _nothing())
            run.append((">i4", (), lengths.to_numpy(zero_copy_only=False)))
            flush()
            pieces.append(data)
            continue
        values = _fixed_fields(arr, field.name)
        width = sum(np.dtype((fmt, shape)).itemsize for fmt, shape, _ in values)
        if arr.null_count:
            flush()
            whole = _records([(">i4", (), width), *values], n)
            pieces.append(pc.if_else(arr.is_valid(), whole, pa.scalar(_NULL, pa.large_binary())))
        else:
            run.append((">i4", (), width))
            run.extend(values)
    flush()
    if len(pieces) == 1:
        rows = pieces[0]
    else:
        rows = pc.binary_join_element_wise(*pieces, _nothing())
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)[rows.offset:rows.offset + n + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    return rows.buffers()[2].slice(start, end - start)


def _is_bytes(t: Any) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or \
        pa.types.is_large_binary(t)


def _records(fields: list[tuple[str, Any, Any]], n: int) -> pa.Array:
    """One binary value per row: the fields (numpy format, shape, values) packed end to end."""
    dtype = np.dtype([(f"f{i}", fmt, shape) for i, (fmt, shape, _) in enumerate(fields)])
    rec = np.empty(n, dtype=dtype)
    for i, (_, _, values) in enumerate(fields):
        rec[f"f{i}"] = values
    width = dtype.itemsize
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return pa.Array.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets),
                                                        pa.py_buffer(rec.view(np.uint8))])


# ----------------------------------------------------------------------------- one column
def _values(arr: pa.Array, zero: Any) -> np.ndarray:
    """The values as numpy (nulls as ``zero``: their bytes are replaced by the NULL length)."""
    if arr.null_count:
        arr = pc.fill_null(arr, zero)
    return arr.to_numpy(zero_copy_only=False)


def _shifted(arr: pa.Array, storage: Any, epoch: int, name: str, what: str) -> np.ndarray:
    """Values moved from the Unix epoch to PostgreSQL's (2000-01-01), refusing an overflow."""
    raw = arr.cast(storage) if arr.type != storage else arr
    try:
        moved = pc.subtract_checked(pc.fill_null(raw, epoch), epoch)
    except pa.ArrowInvalid:
        raise InputError(f"column {name!r} has a {what} outside PostgreSQL's range", column=name,
                         step="write", hint="filter or clip the column in a step") from None
    return moved.to_numpy(zero_copy_only=False)


def _fixed_fields(arr: pa.Array, name: str) -> list[tuple[str, Any, Any]]:
    """The binary form of a fixed-width column: (numpy format, shape, values) per part."""
    t = arr.type
    if pa.types.is_boolean(t):
        return [("u1", (), _values(arr, False))]
    if pa.types.is_integer(t):
        return [(f">i{t.bit_width // 8}", (), _values(arr, 0))]
    if pa.types.is_floating(t):
        return [(f">f{t.bit_width // 8}", (), _values(arr, 0.0))]
    if pa.types.is_timestamp(t) and t.unit == "us":  # the zone is UTC when there is one
        return [(">i8", (), _shifted(arr, pa.int64(), _PG_EPOCH_US, name, "timestamp"))]
    if pa.types.is_date32(t):
        return [(">i4", (), _shifted(arr, pa.int32(), _PG_EPOCH_DAYS, name, "date"))]
    if pa.types.is_time64(t) and t.unit == "us":
        return [(">i8", (), _values(arr.cast(pa.int64()), 0))]
    if pa.types.is_duration(t) and t.unit == "us":  # an interval of microseconds only
        return [(">i8", (), _values(arr.cast(pa.int64()), 0)), (">i4", (), 0), (">i4", (), 0)]
    if pa.types.is_decimal128(t):
        return _numeric(arr, name)
    raise AssertionError(f"{name}: no binary COPY form for {t}")  # typemap plans none other


# ----------------------------------------------------------------------------- numeric
def _numeric(arr: pa.Array, name: str) -> list[tuple[str, Any, Any]]:
    """decimal128(p, s) as PostgreSQL's numeric: base-10000 digits, the first of weight
    ``int_groups - 1``; leading and trailing zero digits are allowed (the server strips them).

    The unscaled 128-bit integer is held in four 32-bit limbs (in uint64 arrays, so a limb with
    the remainder above it still fits) and divided by 10**k with numpy, a column at a time.
    """
    t = arr.type
    n = len(arr)
    p, s = t.precision, t.scale
    raw = np.frombuffer(arr.buffers()[1], dtype="<u8", count=2 * (arr.offset + n))
    raw = raw[2 * arr.offset:].reshape(n, 2)
    lo, hi = raw[:, 0].copy(), raw[:, 1].copy()
    if arr.null_count:
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
        lo[~valid] = 0
        hi[~valid] = 0
    negative = (hi >> np.uint64(63)).astype(bool)
    # two's complement magnitude: invert, add one (carrying into the high word)
    nlo = ~lo + np.uint64(1)
    nhi = ~hi + (nlo == 0).astype(np.uint64)
    lo = np.where(negative, nlo, lo)
    hi = np.where(negative, nhi, hi)
    mask = np.uint64(0xFFFFFFFF)
    limbs = [hi >> np.uint64(32), hi & mask, lo >> np.uint64(32), lo & mask]

    def divmod_(d: int) -> np.ndarray:
        r = np.zeros(n, dtype=np.uint64)
        dd = np.uint64(d)
        for i, limb in enumerate(limbs):
            cur = (r << np.uint64(32)) | limb
            limbs[i] = cur // dd
            r = cur - limbs[i] * dd
        return r

    frac_groups = -(-s // 4)
    int_groups = max(-(-(p - s) // 4), 0)
    ndigits = frac_groups + int_groups
    digits = np.zeros((n, ndigits), dtype=np.int64)
    col = ndigits - 1
    partial = s % 4
    if partial:  # the last fractional group holds `partial` digits, padded with zeros
        digits[:, col] = divmod_(10 ** partial) * (10 ** (4 - partial))
        col -= 1
    while col >= 0:
        digits[:, col] = divmod_(10_000)
        col -= 1
    if any(limb.any() for limb in limbs):  # digits beyond the precision: Arrow did not check
        raise InputError(f"column {name!r} has a value with more than {p} digits, the precision "
                         f"of its type decimal({p}, {s})", column=name, step="write",
                         hint="cast the column to a wider decimal in a step")
    return [(">i2", (), ndigits), (">i2", (), int_groups - 1),
            (">u2", (), np.where(negative, 0x4000, 0)), (">i2", (), s), (">i2", (ndigits,), digits)]


__all__ = ["HEADER", "TRAILER", "encode", "encode_table"]
