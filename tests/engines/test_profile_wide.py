"""Wide inputs: the batched top-value path gives what the per-column path gives, and the CSV
reader's type sampling checks every column in long form."""

from __future__ import annotations

import polars as pl

from test_readers_helpers import read, write
from workbench.engines import profile
from workbench.engines.profile import add_top_values, profile_exprs, profile_from_stats


def _profile(df: pl.DataFrame) -> dict:
    stats = df.lazy().select(profile_exprs(df.schema)).collect().row(0, named=True)
    prof = profile_from_stats(df.schema, stats)
    add_top_values(prof, df.lazy(), df.schema)
    return prof


def test_batched_top_values_equal_the_per_column_ones(monkeypatch):
    df = pl.DataFrame({
        "a": ["x", "y", "y", None, "z", "x", "y"],
        "b": ["q", "q", "r", "r", None, None, "s"],  # a tie between q and r: broken by value
        "c": pl.Series(["u", "v", "u", "u", "v", None, "w"], dtype=pl.Categorical),
        "n": [1, 2, 3, 4, 5, 6, 7],
        "e": pl.Series([None] * 7, dtype=pl.String),
    })
    batched = _profile(df)
    monkeypatch.setattr(profile, "WIDE_CELLS", 1)  # one batch per column: the per-column path
    single = _profile(df)
    tops = {n: c.get("top_values") for n, c in batched["columns"].items()}
    assert tops == {n: c.get("top_values") for n, c in single["columns"].items()}
    distinct = {n: (c.get("distinct"), c.get("distinct_estimated")) for n, c in batched["columns"].items()}
    assert distinct == {n: (c.get("distinct"), c.get("distinct_estimated"))
                        for n, c in single["columns"].items()}
    assert distinct["a"] == (3, False) and distinct["n"] == (7, False)
    assert tops["b"] == [{"value": "q", "count": 2}, {"value": "r", "count": 2},
                         {"value": "s", "count": 1}]
    assert tops["c"][0] == {"value": "u", "count": 3}
    assert tops["n"] is None  # a number column has none


def test_a_wide_csv_keeps_every_column_typed_and_widens_only_the_misfits(tmp_path):
    cols = 3000
    header = ",".join(f"c{i}" for i in range(cols))
    row = ",".join(str(i) for i in range(cols))
    late = ",".join("2.5" if i == 7 else ("w" if i == 11 else str(i)) for i in range(cols))
    f = write(tmp_path / "wide.csv", header + "\n" + (row + "\n") * 3 + late + "\n")
    df, scan = read(f)
    assert df.width == cols and df.height == 4
    assert df.schema["c7"] == pl.Float64 and df.schema["c11"] == pl.String
    assert df.schema["c0"] == pl.Int64 and df.schema[f"c{cols - 1}"] == pl.Int64
