"""Part statistics merged at a fan-out's commit give the profile and check counts the single
pass gives over the same rows: sums, minima, maxima and top values exactly, means to rounding,
distinct counts exact for text columns with few values and within 2 % (the promise above a
million rows; HyperLogLog with 2**16 registers is off by 0.4 % on average)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from workbench.engines import checks as checks_engine
from workbench.engines.profile import (
    add_top_values, profile_exprs, profile_from_stats,
)
from workbench.engines.profile_parts import (
    HLL_REGISTERS, apply_merged_distinct, hll_estimate, merge_part_profiles, part_profile,
)
from workbench.spec import models as m
from workbench.worker.commit import summed_checks

CHECKS = [m.NotNullCheck(columns=["city"]), m.RangeCheck(column="amount", min=0, max=900),
          m.UniqueCheck(columns=["city"]), m.RowCountCheck(min=1)]


def _frame(rows: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    cities = np.array([f"city-{i:03d}" for i in range(300)])
    return pl.DataFrame({
        "id": np.arange(rows, dtype=np.int64) + seed * rows,           # all distinct
        "city": pl.Series(cities[rng.integers(0, 300, rows)]).scatter(
            rng.integers(0, rows, rows // 50), None),                   # 300 values, ~2 % null
        "tag": pl.Series([f"t{v}" for v in rng.integers(0, 40_000, rows)]),  # too many for tops
        "amount": pl.Series(rng.normal(500, 200, rows)).scatter(
            rng.integers(0, rows, rows // 20), None),
        "day": pl.Series(dt.date(2026, 1, 1) + dt.timedelta(days=int(d))
                         for d in rng.integers(0, 700, rows)),
        "ok": pl.Series(rng.random(rows) < 0.3),
        "kind": pl.Series(["a", "b", "c"][i % 3] for i in range(rows)).cast(pl.Categorical),
    })


def _stats(df: pl.DataFrame, *, distinct: bool, checks: list = CHECKS) -> pl.DataFrame:
    exprs = profile_exprs(df.schema, distinct=distinct) + checks_engine.check_exprs(checks, df.schema)
    return df.lazy().select(exprs).collect()


@pytest.fixture(scope="module")
def parts() -> list[pl.DataFrame]:
    return [_frame(n, seed) for seed, n in enumerate([90_000, 40_000, 120_000, 1])]


def test_merged_parts_match_the_single_pass(parts):
    whole = pl.concat(parts)
    single_stats = _stats(whole, distinct=True).row(0, named=True)
    single = profile_from_stats(whole.schema, single_stats)
    add_top_values(single, whole.lazy(), whole.schema)

    summaries = [part_profile(_stats(p, distinct=False), p.lazy(), p.schema) for p in parts]
    merged = merge_part_profiles(summaries, whole.schema, summed_checks(m.Pipeline(
        source=m.FileSource(path="x.csv"), checks=CHECKS)))
    assert merged is not None
    stats, distinct = merged
    # the failing-row counts that add up do; a unique check's does not and is left out
    for key in ("__c.0", "__c.1"):
        assert stats[key] == single_stats[key]
    assert "__c.2" not in stats
    profile = profile_from_stats(whole.schema, stats)
    apply_merged_distinct(profile, distinct, whole.lazy())

    assert profile["rows"] == single["rows"] == 250_001
    for name, want in single["columns"].items():
        got = profile["columns"][name]
        assert got["null_count"] == want["null_count"], name
        for stat in ("min", "max"):
            assert got.get(stat) == want.get(stat), (name, stat)
        if "mean" in want:
            assert got["mean"] == pytest.approx(want["mean"], rel=1e-12), name
        assert got.get("top_values") == want.get("top_values"), name
        exact = whole[name].drop_nulls().n_unique()
        assert want["distinct"] == exact  # the single pass counts these exactly
        if name in ("city", "kind"):  # text with few values: the union of the parts' counts
            assert (got["distinct"], got["distinct_estimated"]) == (exact, False), name
        else:
            assert got["distinct"] == pytest.approx(exact, rel=0.02), name
            assert got["distinct_estimated"] is True
    assert profile["columns"]["tag"].get("top_values") is None  # 40,000 values: none kept


def test_parts_of_another_polars_version_are_not_merged(parts):
    summaries = [part_profile(_stats(p, distinct=False), p.lazy(), p.schema) for p in parts[:2]]
    summaries[1] = {**summaries[1], "polars": "0.0.1"}  # its hashes would differ
    assert merge_part_profiles(summaries, parts[0].schema, []) is None
    assert merge_part_profiles([summaries[0], None], parts[0].schema, []) is None


def test_long_values_are_counted_at_the_commit():
    """A text column whose values are too long for a part to carry its counts gets its top
    values from the written rows."""
    long = pl.DataFrame({"note": [("x" * 5_000) + str(i % 300) for i in range(3_000)]})
    summary = part_profile(_stats(long, distinct=False, checks=[]), long.lazy(), long.schema)
    assert "note" not in summary["values"]
    stats, distinct = merge_part_profiles([summary], long.schema, [])
    assert distinct["note"]["read_back"] is True
    profile = profile_from_stats(long.schema, stats)
    apply_merged_distinct(profile, distinct, long.lazy())
    tops = profile["columns"]["note"]["top_values"]
    assert [t["count"] for t in tops] == [10] * 5
    assert all(t["cut"] for t in tops)  # long values are cut in metadata, as on the single pass


@pytest.mark.parametrize("n", [0, 1, 1_000, 60_000, 2_000_000])
def test_hll_estimate(n):
    df = pl.DataFrame({"v": np.arange(n, dtype=np.int64)})
    summary = part_profile(_stats(df, distinct=False, checks=[]), df.lazy(), df.schema)
    stats, distinct = merge_part_profiles([summary], df.schema, [])
    assert distinct["v"]["distinct"] == pytest.approx(n, rel=0.02, abs=1)
    assert hll_estimate(np.zeros(HLL_REGISTERS, np.uint8)) == 0
