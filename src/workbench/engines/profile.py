"""Column profiles computed as aggregations in the same streaming pass that writes the data."""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any

import polars as pl
import polars.selectors as cs

from .profile_limits import bound_profile, supported

TOP_VALUES = 5
TOP_VALUES_MAX_DISTINCT = 10_000  # above this, top values are not meaningful and cost memory
# Up to this many rows, distinct counts are exact (counted on the written columns); above it they
# are counted on a hash sample (see add_exact_distinct), capped at the non-null rows and marked
# estimated when sampled. The exact count holds every distinct value of a column at once.
EXACT_DISTINCT_ROWS = 2_000_000
SAMPLE_DISTINCT = 250_000  # distinct values a column's hash sample holds above that
HASH_SEED = 0x5EED
WIDE_CELLS = 4_000_000  # values read at once when top values are counted for many columns


def _is_orderable(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype.is_temporal() or dtype in (pl.String, pl.Boolean) or isinstance(
        dtype, (pl.Decimal, pl.Categorical, pl.Enum))


def profile_exprs(schema: pl.Schema, *, distinct: bool = True,
                  nulls: bool = True) -> list[pl.Expr]:
    """Aggregations named ``__p.<stat>.<column>``; evaluated with the sink in one pass.

    Past ``WIDE_PASS_COLUMNS`` columns the pass counts rows and nulls only: thousands of
    aggregations double the CPU of the pass (10,000 columns: 1.5 s to write, 3.4 s with them),
    and the read-back that counts distinct values exactly takes the other statistics from the
    same columns (see ``add_exact_distinct``). ``distinct=False`` leaves out the estimates of
    distinct counts (a fanned-out part keeps a sketch that merges instead, profile_parts.py).
    ``nulls=False`` leaves the null counts to ``add_top_values`` too (a wide dataset write, whose
    read-back counts them on the columns it reads anyway: in the pass they cost 0.2 s of 0.9 on
    10,000 columns x 1,000 rows)."""
    # the null counts are one expression over all the columns, not one each: 10,000 of them
    # cost ~25 ms to build and more to plan. by_name takes a name such as "^a$" as it is.
    exprs: list[pl.Expr] = [pl.len().alias("__p.rows")]
    if len(schema) and nulls:
        exprs.append(cs.by_name(list(schema)).null_count().name.prefix("__p.nulls."))
    if not stats_deferred(schema):
        for name, dtype in schema.items():
            exprs.extend(_stat_exprs(name, dtype, exact_distinct=False, distinct=distinct))
    return exprs


def rows_only(exprs: list[pl.Expr]) -> bool:
    """Whether ``exprs`` count the rows and nothing else (``profile_exprs(nulls=False)`` of a
    wide schema, no checks): the writer then takes the count from the files it wrote."""
    return len(exprs) == 1 and not exprs[0].meta.has_multiple_outputs() and \
        exprs[0].meta.output_name() == "__p.rows"


WIDE_PASS_COLUMNS = 1_000


def stats_deferred(schema: pl.Schema) -> bool:
    """Whether ``profile_exprs`` leaves distinct, min, max and mean to the read-back."""
    return len(schema) > WIDE_PASS_COLUMNS


@functools.lru_cache(maxsize=256)
def _has_stats(dtype: pl.DataType) -> bool:
    """Whether ``_stat_exprs`` gives any expression for ``dtype`` (without building them: a
    wide file asks this of every column)."""
    return supported("distinct", dtype) or (supported("min", dtype) and _is_orderable(dtype)) or \
        supported("mean", dtype)


def _stat_exprs(name: str, dtype: pl.DataType, *, exact_distinct: bool, distinct: bool = True
                ) -> list[pl.Expr]:
    col = pl.col(name)
    out: list[pl.Expr] = []
    # every statistic a type cannot take is left out with its reason (profile_limits)
    if distinct and supported("distinct", dtype):
        out.append((col.drop_nulls().n_unique() if exact_distinct else col.approx_n_unique())
                   .alias(f"__p.distinct.{name}"))
    if supported("min", dtype) and _is_orderable(dtype):
        out.append(col.min().alias(f"__p.min.{name}"))
        out.append(col.max().alias(f"__p.max.{name}"))
    if supported("mean", dtype):
        out.append(col.cast(pl.Float64).mean().alias(f"__p.mean.{name}"))
    return out


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, float) and value != value:  # NaN
            return None
        return value
    return str(value)


def profile_from_stats(schema: pl.Schema, stats: dict[str, Any]) -> dict[str, Any]:
    rows = int(stats.get("__p.rows") or 0)
    columns: dict[str, Any] = {}
    for name, dtype in schema.items():
        key = f"__p.nulls.{name}"
        if key not in stats:  # left to the read-back (profile_exprs(nulls=False))
            columns[name] = {"type": str(dtype), "null_count": None, "null_share": None}
            continue
        nulls = int(stats[key] or 0)
        entry: dict[str, Any] = {"type": str(dtype), "null_count": nulls,
                                 "null_share": nulls / rows if rows else 0.0}
        _apply_stats(entry, name, stats, rows, exact=False)
        columns[name] = entry
    return bound_profile({"rows": rows, "columns": columns}, schema)


def _apply_stats(entry: dict[str, Any], name: str, stats: dict[str, Any], rows: int, *,
                 exact: bool) -> None:
    for stat in ("distinct", "min", "max", "mean"):
        key = f"__p.{stat}.{name}"
        if key in stats:
            entry["approx_distinct" if stat == "distinct" else stat] = _jsonable(stats[key])
    if entry.get("approx_distinct") is not None:
        # an estimate can overshoot; there are never more distinct values than non-null rows
        entry["distinct"] = max(0, min(int(entry["approx_distinct"]), rows - entry["null_count"]))
        entry["distinct_estimated"] = not exact


DISTINCT_BATCH_COLUMNS = 100
DISTINCT_BATCH_CELLS = 1_000_000  # values per read-back query: long columns are counted one by one


def exact_distinct_exprs(schema: pl.Schema, rows: int) -> list[pl.Expr]:
    """For a frame already in memory: the exact distinct counts ``add_exact_distinct`` would
    read, as aggregations named ``__p.exact.<column>`` to evaluate with the profile's own select
    (one query instead of three). Empty when that function would take another path (many
    columns, or more rows than are counted exactly)."""
    if rows > EXACT_DISTINCT_ROWS or stats_deferred(schema):
        return []
    return [pl.col(n).drop_nulls().n_unique().alias(f"__p.exact.{n}")
            for n, t in schema.items() if supported("distinct", t)]


def apply_exact_distinct(profile: dict[str, Any], stats: dict[str, Any]) -> None:
    """Put the counts of ``exact_distinct_exprs`` where ``add_exact_distinct`` puts them."""
    for n, col in profile["columns"].items():
        if "distinct" in col and f"__p.exact.{n}" in stats:
            col.update(distinct=int(stats[f"__p.exact.{n}"]), distinct_estimated=False)


def add_exact_distinct(profile: dict[str, Any], frame: pl.LazyFrame, on_phase: Any = None,
                       skip: Collection[str] = ()) -> None:
    """Replace the streaming pass's estimates by counts read back from the written columns.

    Up to ``EXACT_DISTINCT_ROWS`` rows every count is exact. Above, each column's values are
    sampled by hash: only values whose 64-bit hash falls under a threshold are kept and counted
    exactly, and the count is scaled up by the share the threshold keeps, chosen so about
    ``SAMPLE_DISTINCT`` distinct values are held. That is exact when a column has fewer distinct
    values than that, and otherwise off by about 1/sqrt(SAMPLE_DISTINCT) (0.2 %), where the
    HyperLogLog of the streaming pass was seen 4 % off; memory stays bounded either way.
    ``skip``: columns whose exact counts are in the profile already (``value_counts``).
    """
    rows = int(profile.get("rows") or 0)
    schema = frame.collect_schema()
    if stats_deferred(schema):
        # the pass left distinct, min, max and mean here: read them from the written columns
        # in batches, exactly where the counts are exact anyway
        _fill_deferred(profile, frame, schema, rows, on_phase)
        if rows <= EXACT_DISTINCT_ROWS:
            return
    wanted = [n for n, c in profile["columns"].items() if "distinct" in c and n not in skip]
    if not wanted:
        return
    if rows <= EXACT_DISTINCT_ROWS:
        # distinct values, nulls not among them (the null count says how many rows have none)
        # In batches of columns: Polars plans one select of k aggregations in time that grows
        # with k squared (2,000 columns took 2.7 s, 10,000 minutes), and a batch reads only its
        # own columns of the Parquet just written.
        # Long columns one or a few at a time, so the progress can say how far it got.
        step = max(1, min(DISTINCT_BATCH_COLUMNS, DISTINCT_BATCH_CELLS // max(rows, 1)))
        counts: dict[str, Any] = {}
        for i in range(0, len(wanted), step):
            if on_phase is not None and len(wanted) > step:
                on_phase(f"profile: distinct counts, {i:,} of {len(wanted):,} columns")
            batch = wanted[i:i + step]
            counts.update(frame.select([pl.col(n).drop_nulls().n_unique().alias(n) for n in batch])
                          .collect(engine="streaming").row(0, named=True))
        for n in wanted:
            profile["columns"][n].update(distinct=int(counts[n]), distinct_estimated=False)
        return
    for i, n in enumerate(wanted):
        if on_phase is not None:
            on_phase(f"profile: distinct counts, {i:,} of {len(wanted):,} columns")
        col = profile["columns"][n]
        share = min(1.0, SAMPLE_DISTINCT / max(1, int(col.get("approx_distinct") or 0)))
        limit = int(share * (2**64 - 1))
        kept = (frame.select(pl.col(n).drop_nulls().hash(seed=HASH_SEED).alias("h"))
                .filter(pl.col("h") <= limit).select(pl.col("h").n_unique())
                .collect(engine="streaming").item())
        estimate = int(round(kept / share))
        col["distinct"] = min(estimate, rows - int(col.get("null_count") or 0))
        col["distinct_estimated"] = share < 1.0


def _fill_deferred(profile: dict[str, Any], frame: pl.LazyFrame, schema: pl.Schema, rows: int,
                   on_phase: Any) -> None:
    exact = rows <= EXACT_DISTINCT_ROWS
    names = [n for n, t in schema.items() if _stat_exprs(n, t, exact_distinct=exact)]
    step = max(1, min(DISTINCT_BATCH_COLUMNS, DISTINCT_BATCH_CELLS // max(rows, 1)))
    for i in range(0, len(names), step):
        if on_phase is not None and len(names) > step:
            on_phase(f"profile: statistics, {i:,} of {len(names):,} columns")
        batch = names[i:i + step]
        stats = frame.select([e for n in batch for e in _stat_exprs(n, schema[n], exact_distinct=exact)]
                             ).collect(engine="streaming").row(0, named=True)
        for n in batch:
            _apply_stats(profile["columns"][n], n, stats, rows, exact=exact)


def add_top_values(profile: dict[str, Any], frame: pl.LazyFrame, schema: pl.Schema,
                   on_phase: Any = None) -> None:
    """Exact distinct counts (when small enough) and the top values of low-cardinality string
    columns, read back from the written Parquet.

    Parquet is columnar, so this reads only those columns, not the whole dataset again. Each
    column is a streaming group-by whose state is at most ``TOP_VALUES_MAX_DISTINCT`` keys;
    ``value_counts(...).implode()`` would hold the whole column in memory instead (on 1 GB of
    CSV: 0.5 s and +570 MiB peak RSS, against 0.13 s and +60 MiB this way).
    """
    rows = int(profile.get("rows") or 0)
    if len(profile["columns"]) > 1 and 0 < rows <= WIDE_CELLS // 16:
        # Few rows (a wide file, or a small one): read the columns back in batches of at most
        # WIDE_CELLS values (16 columns or more) and count each one eagerly. Any query that
        # names thousands of columns costs Polars time in the square of them to plan (a select
        # of n_unique, a long-form group-by), and one query per column parses the whole footer.
        _read_back_wide(profile, frame, schema, rows, on_phase)
        fill_null_counts(profile, frame)
        bound_profile(profile)  # top values are metadata: cut like every other value
        return
    fill_null_counts(profile, frame)
    if on_phase is not None:
        on_phase("profile: top values")
    # a text column the pass saw few values in: one group-by gives both its exact distinct
    # count and its top values (one read of the column instead of two)
    counted = [n for n, t in schema.items() if _is_text(t)
               if 0 < int(profile["columns"][n].get("approx_distinct") or 0) <= TOP_VALUES_MAX_DISTINCT]
    value_counts(profile, frame, counted)
    done = set(counted)
    add_exact_distinct(profile, frame, on_phase, skip=done)
    streaming_top_values(profile, frame, [n for n in _top_value_columns(profile, schema)
                                          if n not in done])


def fill_null_counts(profile: dict[str, Any], frame: pl.LazyFrame) -> None:
    """Null counts the pass left out (``profile_exprs(nulls=False)``) and the read-back did not
    take on its way, counted from the written columns in one query."""
    missing = [n for n, c in profile["columns"].items() if c.get("null_count") is None]
    if not missing:
        return
    rows = int(profile.get("rows") or 0)
    counts = frame.select(cs.by_name(missing).null_count()).collect(engine="streaming").row(0)
    for n, nulls in zip(missing, counts):
        _set_nulls(profile["columns"][n], int(nulls), rows)


def _set_nulls(entry: dict[str, Any], nulls: int, rows: int) -> None:
    entry.update(null_count=nulls, null_share=nulls / rows if rows else 0.0)


def value_counts(profile: dict[str, Any], frame: pl.LazyFrame, columns: list[str]) -> None:
    """Exact distinct counts and top values of ``columns``, which the pass estimated to hold at
    most ``TOP_VALUES_MAX_DISTINCT`` values: each one group-by over its written column whose
    every group is kept (an estimate a few per cent off keeps that a few thousand rows)."""
    if not columns:
        return
    queries = [frame.select(pl.col(n)).drop_nulls().group_by(n).agg(pl.len().alias("__count"))
               for n in columns]
    for n, counts in zip(columns, pl.collect_all(queries, engine="streaming")):
        col = profile["columns"][n]
        col.update(distinct=counts.height, distinct_estimated=False)
        if 0 < counts.height <= TOP_VALUES_MAX_DISTINCT:  # as _top_value_columns picks them
            top = _ranked(counts, n)
            col["top_values"] = _top_list(top[n], top["__count"])
    bound_profile(profile)


def streaming_top_values(profile: dict[str, Any], frame: pl.LazyFrame, wanted: list[str]) -> None:
    """Top values of the columns ``wanted``, each a streaming group-by over its written column."""
    if not wanted:
        return
    queries = [_ranked(frame.select(pl.col(n)).drop_nulls().group_by(n)
                       .agg(pl.len().alias("__count")), n)
               for n in wanted]
    tops = pl.collect_all(queries, engine="streaming")
    for n, df in zip(wanted, tops):
        profile["columns"][n]["top_values"] = _top_list(df[n], df["__count"])
    bound_profile(profile)


def _ranked(counts: Any, column: str) -> Any:
    """The ``TOP_VALUES`` most frequent of ``column``'s value counts (``__count``), eager or lazy;
    ties broken by value, so the same data always gives the same top values."""
    return counts.sort(["__count", column], descending=[True, False]).head(TOP_VALUES)


_TEXT_TYPES = (pl.String, pl.Categorical, pl.Enum)


def _is_text(dtype: pl.DataType) -> bool:
    # isinstance, not ==: a DataType's __eq__ costs ~0.5 us, asked of every column of a wide file
    if isinstance(dtype, type):  # a class where an instance was expected
        return issubclass(dtype, _TEXT_TYPES)
    return isinstance(dtype, _TEXT_TYPES)


def _top_value_columns(profile: dict[str, Any], schema: pl.Schema) -> list[str]:
    return [n for n, t in schema.items() if _is_text(t)
            if 0 < (profile["columns"][n].get("distinct") or 0) <= TOP_VALUES_MAX_DISTINCT]


def _top_list(values: pl.Series, counts: pl.Series) -> list[dict[str, Any]]:
    return [{"value": _jsonable(v), "count": int(c)} for v, c in zip(values, counts)]


def _read_back_wide(profile: dict[str, Any], frame: pl.LazyFrame, schema: pl.Schema,
                    rows: int, on_phase: Any = None) -> None:
    """Exact distinct counts and top values of every column (and, when the pass left them
    here, min, max and mean), in batches of whole columns read eagerly (memory bounded by
    WIDE_CELLS values), each column counted on its own Series."""
    columns = profile["columns"]
    deferred = stats_deferred(schema)
    names = [n for n, t in schema.items()
             if "distinct" in columns[n] or _is_text(t) or (deferred and _has_stats(t))]
    per_batch = max(1, WIDE_CELLS // rows)
    for start in range(0, len(names), per_batch):
        if on_phase is not None:
            on_phase(f"profile: distinct counts and top values, {start:,} of {len(names):,} columns")
        batch = frame.select(names[start:start + per_batch]).collect()
        distinct = _distinct_counts(batch, deferred, columns)
        for s in batch.iter_columns():
            col = columns[s.name]
            # nulls are left in: drop_nulls copies the column (~0.25 ms per column, more than
            # the statistics), and n_unique counts null as one value, taken off below
            nulls = s.null_count()
            if col.get("null_count") is None:
                _set_nulls(col, nulls, rows)
            has_null = nulls > 0
            if deferred:
                _series_stats(col, s, has_null, distinct.get(s.name))
            elif "distinct" in col:
                # distinct values, nulls not among them (the null count says how many rows have none)
                col.update(distinct=distinct[s.name] - has_null, distinct_estimated=False)
            if _is_text(s.dtype) and 0 < (col.get("distinct") or 0) <= TOP_VALUES_MAX_DISTINCT:
                vc = s.value_counts(name="__count")
                if has_null:
                    vc = vc.drop_nulls(s.name)
                top = _ranked(vc, s.name)
                col["top_values"] = _top_list(top[s.name], top["__count"])


def _distinct_counts(batch: pl.DataFrame, deferred: bool,
                     columns: dict[str, Any]) -> dict[str, int]:
    """``n_unique`` (null counted as a value) of the columns of ``batch`` that need one, in one
    eager select: a third of the time of one ``Series.n_unique`` call per column (10,000
    columns x 1,000 rows: 0.17 s against 0.52 s), the columns counted side by side."""
    at = [i for i, s in enumerate(batch.iter_columns())
          if (_which_stats(s.dtype)[0] if deferred else "distinct" in columns[s.name])]
    if not at:
        return {}
    if len(at) == batch.width:  # one expression for all: no Python object per column
        counts = batch.select(pl.all().n_unique()).row(0)
    else:  # by position: a name such as "^a.*$" given to pl.col would be read as a pattern
        counts = batch.select(pl.nth(i).n_unique() for i in at).row(0)
    names = batch.columns  # a new list on each call
    return {names[i]: n for i, n in zip(at, counts)}


def _series_stats(entry: dict[str, Any], s: pl.Series, has_null: bool,
                  n_unique: int | None = None) -> None:
    """What ``_stat_exprs`` computes, on one Series (no query to plan); ``has_null``: whether
    it holds a null, which is not a distinct value; ``n_unique``: the Series' own, when
    counted already."""
    distinct, min_max, mean = _which_stats(s.dtype)
    if distinct:
        n = (s.n_unique() if n_unique is None else n_unique) - has_null
        entry.update(approx_distinct=n, distinct=n, distinct_estimated=False)
    if min_max:
        entry["min"], entry["max"] = _jsonable(s.min()), _jsonable(s.max())
    if mean:
        entry["mean"] = _jsonable(s.cast(pl.Float64).mean())


@functools.lru_cache(maxsize=256)
def _which_stats(dtype: pl.DataType) -> tuple[bool, bool, bool]:
    """distinct, min and max, mean: which ``_stat_exprs`` computes for ``dtype`` (asked once
    per type, not once per column of a wide file)."""
    return (supported("distinct", dtype), supported("min", dtype) and _is_orderable(dtype),
            supported("mean", dtype))


def schema_dict(schema: pl.Schema, profile: dict[str, Any] | None = None) -> dict[str, Any]:
    """Names, types and nullability (from the profile's null counts when known)."""
    fields = []
    for name, dtype in schema.items():
        nullable = True
        if profile is not None and name in profile.get("columns", {}):
            nullable = profile["columns"][name]["null_count"] > 0
        fields.append({"name": name, "type": str(dtype), "nullable": nullable})
    return {"fields": fields}
