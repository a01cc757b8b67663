"""Column profiles: the aggregations of the streaming pass and the top values read back."""

from __future__ import annotations

import polars as pl

from workbench.engines.profile import (
    TOP_VALUES, TOP_VALUES_MAX_DISTINCT, add_top_values, profile_exprs, profile_from_stats,
)


def _profile(df: pl.DataFrame) -> dict:
    stats = df.lazy().select(profile_exprs(df.schema)).collect(engine="streaming").row(0, named=True)
    return profile_from_stats(df.schema, stats)


def test_top_values_are_exact_counts_in_order_with_ties_broken_by_value() -> None:
    values = ["b"] * 3 + ["a"] * 3 + ["c"] * 5 + ["d", "e", "f", "g"] + [None] * 4
    df = pl.DataFrame({"s": values, "n": list(range(len(values)))})
    profile = _profile(df)
    add_top_values(profile, df.lazy(), df.schema)
    tops = profile["columns"]["s"]["top_values"]
    assert tops[:3] == [{"value": "c", "count": 5}, {"value": "a", "count": 3},
                        {"value": "b", "count": 3}]
    assert len(tops) == TOP_VALUES
    assert [t["value"] for t in tops[3:]] == ["d", "e"]  # count 1 each: smallest values first
    assert "top_values" not in profile["columns"]["n"]  # numbers get min/max/mean instead


def test_top_values_skip_high_cardinality_and_all_null_columns() -> None:
    n = TOP_VALUES_MAX_DISTINCT * 2
    df = pl.DataFrame({"id": [f"k{i}" for i in range(n)], "empty": pl.Series([None] * n, dtype=pl.String),
                       "low": ["x", "y"] * (n // 2)})
    profile = _profile(df)
    add_top_values(profile, df.lazy(), df.schema)
    assert "top_values" not in profile["columns"]["id"]
    assert profile["columns"]["empty"].get("top_values", []) == []  # nulls are not values
    assert profile["columns"]["low"]["top_values"] == [{"value": "x", "count": n // 2},
                                                       {"value": "y", "count": n // 2}]


def test_top_values_of_categorical_columns() -> None:
    df = pl.DataFrame({"c": ["u", "v", "u"]}, schema={"c": pl.Categorical})
    profile = _profile(df)
    add_top_values(profile, df.lazy(), df.schema)
    assert profile["columns"]["c"]["top_values"] == [{"value": "u", "count": 2},
                                                     {"value": "v", "count": 1}]


def test_distinct_counts_are_exact_and_never_above_the_rows(wb_home, tmp_path, monkeypatch):
    """5,000 names over 200,000 rows: exact counts (an estimate said 5,482 and 205.7k); above the
    exact limit an estimate, marked so, within 2 % and capped at the non-null rows. (The limits
    are lowered here so a small file takes the path a large one would.)"""
    import workbench as wb
    from workbench.engines import profile as profile_mod

    n = 200_000
    path = tmp_path / "people.csv"
    pl.DataFrame({"id": range(n), "name": [f"name{i % 5000}" for i in range(n)],
                  "note": [None if i % 4 else f"n{i}" for i in range(n)]}).write_csv(path)
    cols = wb.ingest(str(path), name="people").profile["columns"]
    assert (cols["id"]["distinct"], cols["name"]["distinct"]) == (n, 5000)
    assert cols["note"]["distinct"] == n // 4 and cols["note"]["null_count"] == 3 * n // 4
    assert not any(c["distinct_estimated"] for c in cols.values())
    # above the exact limit (lowered here, in this process, so a small frame takes the path a
    # large one would; jobs run in a child process, so this is the engine function itself)
    monkeypatch.setattr(profile_mod, "EXACT_DISTINCT_ROWS", 1000)
    monkeypatch.setattr(profile_mod, "SAMPLE_DISTINCT", 20_000)
    df = pl.read_csv(path)
    profile = profile_mod.profile_from_stats(
        df.schema, df.select(profile_mod.profile_exprs(df.schema)).row(0, named=True))
    profile_mod.add_exact_distinct(profile, df.lazy())
    cols = profile["columns"]
    assert cols["id"]["distinct_estimated"] and n * 0.98 <= cols["id"]["distinct"] <= n
    # fewer distinct values than the sample holds: every one is kept, so the count is exact
    assert (cols["name"]["distinct"], cols["name"]["distinct_estimated"]) == (5000, False)
    assert cols["note"]["distinct_estimated"] and n // 4 * 0.98 <= cols["note"]["distinct"] <= n // 4
    assert cols["note"]["distinct"] <= n // 4


def test_exact_distinct_counts_hold_across_column_batches(wb_home, tmp_path):
    """Distinct counts are taken in batches of columns (one select of thousands is slow to plan):
    every column of a frame wider than a batch still gets its exact count."""
    import workbench as wb
    from workbench.engines.profile import DISTINCT_BATCH_COLUMNS

    width = DISTINCT_BATCH_COLUMNS * 2 + 7
    df = pl.DataFrame({f"c{i}": [j % (i % 5 + 1) for j in range(20)] for i in range(width)})
    path = tmp_path / "wide.parquet"
    df.write_parquet(path)
    ds = wb.ingest(str(path), name="wide")
    cols = ds.profile["columns"]
    assert [cols[f"c{i}"]["distinct"] for i in range(width)] == [i % 5 + 1 for i in range(width)]


def test_distinct_counts_at_full_size_keep_the_readmes_promise(wb_home, tmp_path):
    """README: exact up to 2 million rows; above, estimated (``distinct_estimated``) from a hash
    sample of 250,000 values of the written column, about 0.2 % off on average (the sample's
    standard error) and rarely more than 0.6 %. Datasets of 2,000,000 and 3,000,000 rows, at the
    product's own limits, whose every column's true count is known by construction."""
    import math

    import workbench as wb
    from workbench.engines.profile import EXACT_DISTINCT_ROWS, SAMPLE_DISTINCT

    assert (EXACT_DISTINCT_ROWS, SAMPLE_DISTINCT) == (2_000_000, 250_000)  # what README says
    n = 3_000_000
    i = pl.int_range(n)
    counts = [n, n, 2_900_000, 2_500_000, 2_000_000, 1_500_000, 1_000_000, 700_000, 400_000]
    exprs = [((i % d) * (k + 1) + k * 10**8).alias(f"i{k}") for k, d in enumerate(counts)]
    texts = [n, 2_000_000, 600_000]
    exprs += [pl.format("v{}-{}", pl.lit(k), i % d).alias(f"s{k}") for k, d in enumerate(texts)]
    exprs += [(i.cast(pl.Float64) / 7).alias("f"),
              pl.when(i % 4 == 0).then(i).alias("quarter"),  # 3/4 null: n/4 values
              (i % 5000).alias("few")]
    df = pl.select(exprs)
    path = tmp_path / "big.parquet"

    def truth(rows: int) -> dict[str, int]:
        out = {f"i{k}": min(d, rows) for k, d in enumerate(counts)}
        out.update({f"s{k}": min(d, rows) for k, d in enumerate(texts)})
        out.update(f=rows, quarter=(rows + 3) // 4, few=min(5000, rows))
        return out

    # up to 2 million rows: exact, every column
    df.head(EXACT_DISTINCT_ROWS).write_parquet(path)
    cols = wb.ingest(str(path), name="two_million").profile["columns"]
    assert {c: (v["distinct"], v["distinct_estimated"]) for c, v in cols.items()} == {
        c: (t, False) for c, t in truth(EXACT_DISTINCT_ROWS).items()}

    # above: estimated within the stated bounds, never above the non-null rows
    df.write_parquet(path)
    cols = wb.ingest(str(path), name="three_million").profile["columns"]
    want = truth(n)
    # a column with fewer distinct values than the sample holds keeps every one: exact
    assert (cols["few"]["distinct"], cols["few"]["distinct_estimated"]) == (5000, False)
    off = {}
    for c, t in want.items():
        if c == "few":
            continue
        col = cols[c]
        assert col["distinct_estimated"] is True, c
        assert col["distinct"] <= n - col["null_count"], c
        off[c] = (col["distinct"] - t) / t
    worst = max(off, key=lambda c: abs(off[c]))
    assert abs(off[worst]) <= 0.006, (worst, off[worst])
    rms = math.sqrt(sum(e * e for e in off.values()) / len(off))
    assert rms <= 0.002, off


def test_text_columns_with_few_values_are_counted_exactly_in_one_read(monkeypatch):
    """A text column the pass estimated to hold at most TOP_VALUES_MAX_DISTINCT values gets its
    exact distinct count and its top values from one group-by (``value_counts``), and is left
    out of the distinct read-back; a column with more values takes that read-back as before.
    300,000 rows: past the few-rows path, so the written-columns path is the one taken."""
    from workbench.engines import profile as profile_mod

    n = 300_000
    i = pl.int_range(n)
    df = pl.select(
        pl.format("r{}", i % 12).alias("region"),
        pl.format("sku-{}", (i * 7919) % 5000).alias("sku"),
        pl.when(i % 3 == 0).then(pl.format("n{}", i % 40)).alias("sparse"),
        pl.format("k{}", i % 20_000).alias("many"),
        (i % 9).alias("num"),
    )
    skipped = []
    real = profile_mod.add_exact_distinct

    def spy(profile, frame, on_phase=None, skip=()):
        skipped.append(set(skip))
        return real(profile, frame, on_phase, skip=skip)

    monkeypatch.setattr(profile_mod, "add_exact_distinct", spy)
    profile = _profile(df)
    add_top_values(profile, df.lazy(), df.schema)
    cols = profile["columns"]
    assert skipped == [{"region", "sku", "sparse"}]
    for name in ("region", "sku", "sparse", "many", "num"):
        assert (cols[name]["distinct"], cols[name]["distinct_estimated"]) == \
            (df[name].drop_nulls().n_unique(), False), name
    for name in ("region", "sku", "sparse"):
        counts = df[name].drop_nulls().value_counts().sort(["count", name], descending=[True, False])
        assert cols[name]["top_values"] == [{"value": v, "count": c}
                                            for v, c in counts.head(TOP_VALUES).iter_rows()]
    assert cols["sparse"]["null_count"] == df["sparse"].null_count() == n - n // 3
    assert "top_values" not in cols["many"] and "top_values" not in cols["num"]
