"""Sampling a CSV beyond its head: windows spread over the inputs, types widened from what they
hold, and ISO dates recognised in text columns.
"""

from __future__ import annotations

import io

import numpy as np
import polars as pl

from .read_common import (
    CSV_GUESS_ROWS,
    HEAD_BYTES,
    INFER_ROWS,
    SAMPLE_WINDOWS,
    WINDOW_BYTES,
    Input,
    count_lines_before,
)
from .read_csv_check import CsvOptions, check_bytes, ragged_error, whole_lines, window_records
from .read_csv_plan import CsvPlan
from .read_text_types import describe, text_kind
from .read_types import misfit, past_float, type_name, widen

HEAD_ROWS_BYTES = 8 * 1024 * 1024  # the longest prefix tried for a large file's first rows


def _windows(plan: CsvPlan) -> list[tuple[Input, int]]:
    """Offsets spread evenly over all bytes past each head, plus each file's tail."""
    spans = [(inp, inp.target_size) for inp in plan.inputs]
    total = sum(max(s - HEAD_BYTES, 0) for _, s in spans)
    out: list[tuple[Input, int]] = []
    if total > 0:
        step = total / (SAMPLE_WINDOWS + 1)
        for k in range(1, SAMPLE_WINDOWS + 1):
            pos = k * step
            for inp, size in spans:
                body = max(size - HEAD_BYTES, 0)
                if pos < body:
                    out.append((inp, HEAD_BYTES + int(pos)))
                    break
                pos -= body
    for inp, size in spans:
        if size > HEAD_BYTES:
            out.append((inp, max(size - WINDOW_BYTES, HEAD_BYTES)))
    seen = sorted({(plan.inputs.index(inp), off) for inp, off in out})
    return [(plan.inputs[i], off) for i, off in seen]


def sample_windows(plan: CsvPlan) -> set[str]:
    """Check and widen types on windows past the head. A window whose start may fall inside a
    quoted value (it contains the quote character) is used for types only when it parses
    cleanly, and never to report a ragged row."""
    opts, ncols = plan.opts, len(plan.names)
    quote = (opts.quote_char or "").encode()
    seen: set[str] = set()
    for inp, offset in _windows(plan):
        raw = inp.read_at(offset, WINDOW_BYTES)
        at_end = offset + len(raw) >= inp.target_size
        data, dropped = whole_lines(raw, at_start=False, at_end=at_end)
        if not data:
            continue
        check_bytes(inp, data, offset + dropped, lossy=opts.lossy, final=at_end)
        aligned = not quote or quote not in data
        records = window_records(data, opts)
        if aligned and any(rec and len(rec) != ncols for _, rec in records):
            _raise_ragged_at(inp, offset + dropped, data, records, ncols)
        if any(rec and len(rec) != ncols for _, rec in records):
            continue  # misaligned inside a quoted value: no types from here
        seen |= opts.markers_in(data)
        if not inp.extra.get("typed_whole"):
            widen_from(plan, inp, data)
    return seen


def _raise_ragged_at(inp: Input, base: int, data: bytes, records: list, ncols: int) -> None:
    line_in, rec = next((ln, r) for ln, r in records if r and len(r) != ncols)
    line = count_lines_before(inp.target, base) + line_in  # type: ignore[arg-type]
    header_lines = inp.extra.get("header_lines", 1)
    raise ragged_error(inp, line - header_lines, line, len(rec), ncols)


def widen_from(plan: CsvPlan, inp: Input, data: bytes | None) -> None:
    """Widen inferred types that a value in ``data`` (whole lines) does not fit; ``None``
    means the first ``INFER_ROWS`` rows of ``inp`` itself (of the first file, they also type
    the columns that were all null in the rows Polars inferred from)."""
    first = data is None and inp is plan.inputs[0]
    typed = [c for c in plan.names if c not in plan.declared and plan.dtypes[c] != pl.String]
    if not typed and not (first and len(plan.declared) < len(plan.names)):
        return
    text = {c: pl.String for c in plan.names}
    try:
        if data is None:
            df = _head_rows(plan, inp, text)
        else:
            kwargs = {**plan.opts.polars_kwargs(all_markers=True), "has_header": False,
                      "skip_rows": 0}
            df = pl.read_csv(data, schema=text, truncate_ragged_lines=True, **kwargs)
    except pl.exceptions.PolarsError:
        return
    if first:
        unseen = _empty_in_guess(plan, df)
        if unseen:
            plan.dtypes.update(infer_text_columns(df.select(unseen)))
            typed = [c for c in plan.names if c not in plan.declared and plan.dtypes[c] != pl.String]
    if data is None and df.height < INFER_ROWS and inp.head_is_whole:
        # the whole file was read: a window of it holds no value this check does not see (a
        # value that fits a type fits every wider one), so sample_windows parses it for the
        # byte and field checks only (each window costs a parse with the whole schema)
        inp.extra["typed_whole"] = True
        if inp.target_size <= HEAD_BYTES:  # small: type_iso_dates reads these same rows
            inp.extra["text_head"] = df
    zeros, bad, inexact = _zeros_and_misfits(df, {c: plan.dtypes[c] for c in typed})
    for c, example in zeros.items():
        plan.notes.append(f"column {c!r}: {example!r} in {inp.name} has a leading zero; the column "
                          "is read as text so no value changes (a ZIP, FIPS or phone code)")
        plan.dtypes[c] = pl.String
    typed = [c for c in typed if c not in zeros]
    for c in [c for c in typed if c in inexact and c not in bad]:
        plan.notes.append(f"column {c!r}: an integer in {inp.name} is past 2**53, which a float "
                          "cannot hold exactly; the column is read as text so no value changes")
        plan.dtypes[c] = pl.String
        typed.remove(c)
    if not typed:
        return
    # integers past 64 bits stay exact as Int128, as Polars' own inference types them
    longs = [c for c in bad if plan.dtypes[c] == pl.Int64]
    to_128 = set(longs) - misfit_columns(df, {c: pl.Int128 for c in longs}) if longs else set()
    ints = [c for c in bad if plan.dtypes[c].is_integer() and c not in to_128]
    not_float = misfit_columns(df, {c: pl.Float64 for c in ints}) if ints else set()
    # integers past 2**53 are no floats: a column of them that holds a fraction too is text
    not_float |= {c for c in ints if c not in not_float and df.select(
        past_float(pl.col(c)).any()).item()}
    for c in typed:
        if c in bad:
            new = pl.Int128 if c in to_128 else widen(plan.dtypes[c], c not in not_float)
            example = df.filter(misfit(pl.col(c), plan.dtypes[c]))[c][0]
            plan.notes.append(
                f"column {c!r}: {example!r} further into {inp.name} is not "
                f"{type_name(plan.dtypes[c])}; read as {type_name(new)}")
            plan.dtypes[c] = new


def _head_rows(plan: CsvPlan, inp: Input, text: dict[str, pl.DataType]) -> pl.DataFrame:
    """The first ``INFER_ROWS`` rows of ``inp`` as text.

    Given a large file, Polars' reader maps and parses far past the rows asked for (a 1 GB
    file: +190 MiB resident for 10,000 rows), so growing prefixes of the file
    (``HEAD_ROWS_BYTES``) are tried first, as bytes. One is used when it holds one row more
    than wanted: then each of the wanted rows ended before the cut, and they are the rows the
    whole file gives. Otherwise (long rows, or a quoted value cut open) the file is read as
    before (a types-only read: its first ``PLAN_PREFIX_BYTES``, see ``Input.head_source``)."""
    kwargs = {**plan.opts.polars_kwargs(all_markers=True), "truncate_ragged_lines": True}
    for size in _prefix_sizes(plan, inp):
        if inp.target_size <= size:
            break
        prefix, _ = whole_lines(inp.read_at(0, size), at_start=True, at_end=False)
        if prefix.count(b"\n") <= INFER_ROWS + plan.opts.skip_rows + 1:
            continue
        try:
            df = pl.read_csv(prefix, schema=text, n_rows=INFER_ROWS + 1, **kwargs)
        except pl.exceptions.PolarsError:
            continue
        if df.height == INFER_ROWS + 1:
            return df.head(INFER_ROWS)
    return pl.scan_csv(inp.head_source(), schema=text, n_rows=INFER_ROWS, **kwargs).collect()


def _prefix_sizes(plan: CsvPlan, inp: Input) -> tuple[int, ...]:
    """The prefixes ``_head_rows`` tries: first one sized from the head's lines to hold the rows
    wanted (reading and copying 8 MiB for 10,000 rows of 115 bytes took 0.15 s of a fan-out's
    plan of 16 files), then ``HEAD_ROWS_BYTES``. None for a file within its head: every
    prefix would be larger than the file."""
    if inp.target_size <= HEAD_BYTES:
        return ()
    head = inp.read_at(0, HEAD_BYTES)
    per_line = len(head) / max(1, head.count(b"\n"))
    guess = int(per_line * (INFER_ROWS + plan.opts.skip_rows + 2) * 1.25) + HEAD_BYTES
    return (guess, HEAD_ROWS_BYTES) if guess < HEAD_ROWS_BYTES else (HEAD_ROWS_BYTES,)


def _empty_in_guess(plan: CsvPlan, df: pl.DataFrame) -> list[str]:
    """Text columns with no value in the rows Polars inferred from (it calls those text) and
    a value further on: Polars' inference over all of ``df`` would have typed them."""
    guess = min(CSV_GUESS_ROWS, df.height)
    if guess == df.height:
        return []
    head_nulls = df.head(guess).null_count().row(0)
    nulls = df.null_count().row(0)
    return [c for c, h, n in zip(df.columns, head_nulls, nulls)
            if h == guess and n < df.height and c not in plan.declared
            and plan.dtypes.get(c) == pl.String]


def infer_text_columns(text: pl.DataFrame) -> dict[str, pl.DataType]:
    """Polars' own CSV inference over columns already read as text: they are written back as
    CSV (quoted where needed; a quoted number is inferred as a number all the same) and read
    with inference over every row. A column of nulls only is text."""
    if text.width == 0:
        return {}
    data = text.write_csv(include_header=False).encode()
    inferred = pl.read_csv(data, has_header=False, new_columns=text.columns,
                           infer_schema_length=None, raise_if_empty=False).schema
    return {c: pl.String if inferred.get(c, pl.Null) == pl.Null else inferred[c]
            for c in text.columns}


def misfit_columns(df: pl.DataFrame, types: dict[str, pl.DataType]) -> set[str]:
    """The text columns of ``df`` holding a value that does not parse as its type in ``types``.

    One expression per column costs Polars ~0.1 ms each to plan (seconds on a file of 10,000+
    columns, for every sampled window); the columns of one type are checked together instead,
    stacked into one Series, with one expression per type."""
    return _zeros_and_misfits(df, types, zeros=False)[1]


def _zeros_and_misfits(df: pl.DataFrame, types: dict[str, pl.DataType], *, zeros: bool = True
                       ) -> tuple[dict[str, str], set[str], set[str]]:
    """The number-typed columns with a leading zero (``_zero_hits``, in column order; none
    looked for without ``zeros``), the other columns holding a value that does not parse as its
    type (``misfit_columns``), and the float columns holding an integer past 2**53, which a float
    would round (Polars' inference calls 12345678901234567 and 0.5 a float column), from one
    stack of the columns of each type: stacking copies every value, and a file of 10,000 columns
    stacked twice spent 0.3 s on the copies alone."""
    by_type: dict[pl.DataType, list[str]] = {}
    for c, t in types.items():
        by_type.setdefault(t, []).append(c)
    found: dict[str, str] = {}
    bad: set[str] = set()
    inexact: set[str] = set()
    for dtype, cols in by_type.items():
        values = _stacked(df, cols)
        v = pl.col(values.name)
        look_for_zeros = zeros and dtype.is_numeric()
        # the tests in one select: Polars runs them side by side
        tests = [misfit(v, dtype).alias("misfit")]
        if look_for_zeros:
            tests.append(v.str.contains(_LEADING_ZERO).alias("zero"))
        if zeros and dtype.is_float():
            tests.append((v.str.len_bytes() >= 16).alias("long"))  # then the few, closer
        masks = values.to_frame().select(tests)
        if look_for_zeros:
            found.update(_zero_hits(values, masks["zero"], cols, df.height))
        bad.update(cols[i] for i in _column_hits(masks["misfit"], df.height)[0]
                   if cols[i] not in found)
        if "long" in masks.columns and masks["long"].any():
            at = masks["long"].arg_true()
            long = values.gather(at).to_frame().select(past_float(v)).to_series()
            inexact.update(cols[int(p) // df.height] for p in at.filter(long))
    return {c: found[c] for c in types if c in found}, bad, inexact


def _stacked(df: pl.DataFrame, columns: list[str]) -> pl.Series:
    """The values of ``columns``, one column after another, in one Series (one chunk).

    Cheaper than the long form of ``unpivot``, which repeats each column's name once per value
    (5,000 text columns x 1,000 rows: 1.7 s against 0.3 s for the leading-zero check); the
    column of a value is its position // ``df.height``."""
    return pl.concat([df.get_column(c) for c in columns], rechunk=True).alias("__v")


def _column_hits(mask: pl.Series, height: int) -> tuple[list[int], list[int]]:
    """Where ``mask`` (over a ``_stacked`` Series) is true: the indexes of the columns with a
    hit, ascending, and the position of each one's first hit."""
    if height == 0:
        return [], []
    pos = mask.arg_true().to_numpy()
    columns, first = np.unique(pos // height, return_index=True)
    return columns.tolist(), pos[first].tolist()


_LEADING_ZERO = r"^\s*[+-]?0[0-9]"


def _zero_hits(values: pl.Series, mask: pl.Series, columns: list[str],
               height: int) -> dict[str, str]:
    """The ``columns`` (stacked in ``values``) holding a number-like value such as ``02134``
    (``mask``: where ``_LEADING_ZERO`` matches), each with the first such value: read as a
    number, the zero would be lost."""
    hits, first = _column_hits(mask, height)
    return {columns[i]: values[p] for i, p in zip(hits, first)}


def type_iso_dates(inp: Input, opts: CsvOptions, plan: CsvPlan) -> None:
    """Text columns whose sampled values are all ISO dates, times or date-times (naive, ``Z`` or
    an offset), or booleans spelled ``t``/``yes``/``y``, are stored typed (``read_text_types``).

    Parsing a text column with one known format costs next to nothing (measured on 1 GB); a
    later value in another format makes the pass fail and ``widened`` keeps that column as
    text. Every row of the head is looked at (a column empty for its first thousand rows is
    common), and the file's tail for columns the head holds no value of."""
    text_cols = [c for c in plan.names if plan.dtypes[c] == pl.String and c not in plan.declared]
    if not text_cols:
        return
    # Parse only the first bytes: a lazy scan with n_rows still reads far into a large file
    # (measured +0.06-0.38 s and +120-150 MiB on 1 GB).
    raw = inp.read_at(0, HEAD_BYTES)
    complete = len(raw) >= inp.target_size
    read = inp.extra.pop("text_head", None)  # the whole (small) file, as text, from widen_from
    if complete and read is not None and read.columns == plan.names:
        head = read.select(text_cols)
    else:
        data, _ = whole_lines(raw, at_start=True, at_end=complete)
        head = _text_frame(data, opts, plan, text_cols, header=True)
    if head is None:
        return
    empty = [c for c in text_cols if head[c].null_count() == head.height]
    tail = None
    if empty and not complete:
        offset = max(inp.target_size - WINDOW_BYTES, HEAD_BYTES)
        raw = inp.read_at(offset, WINDOW_BYTES)
        body, _ = whole_lines(raw, at_start=False, at_end=True)
        tail = _text_frame(body, opts, plan, text_cols, header=False)
    for c in text_cols:
        values = head[c]
        if c in empty and tail is not None:
            values = tail[c]
        found = text_kind(values)
        if found is not None:
            plan.parse_dates[c] = found
    if plan.parse_dates:
        plan.notes.append(f"typed values read from text: {describe(plan.parse_dates)} "
                          "(schema_overrides={col: 'string'} keeps a column as text)")


def _text_frame(data: bytes, opts: CsvOptions, plan: CsvPlan, cols: list[str], *,
                header: bool) -> pl.DataFrame | None:
    kwargs = opts.polars_kwargs(all_markers=True)
    if not header:
        kwargs = {**kwargs, "has_header": False, "skip_rows": 0}
    try:
        return pl.read_csv(io.BytesIO(data), schema={c: pl.String for c in plan.names},
                           truncate_ragged_lines=True, **kwargs).select(cols)
    except pl.exceptions.PolarsError:
        return None
