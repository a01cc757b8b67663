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


def _mixed() -> pl.DataFrame:
    import datetime as dt

    return pl.DataFrame({
        "s": ["x", "y", "y", None, "z", "x", "y"],
        "i": [3, None, 1, 4, 1, 5, 9],
        "f": [0.5, 1.5, None, float("nan"), 2.0, -1.0, 0.0],
        "b": [True, False, None, True, True, False, True],
        "d": [dt.date(2024, 1, i) for i in range(1, 8)],
        "t": [dt.datetime(2024, 1, 1, i) for i in range(7)],
        "c": pl.Series(["u", "v", "u", "u", "v", None, "w"], dtype=pl.Categorical),
        "e": pl.Series([None] * 7, dtype=pl.String),
        "l": [[1], [2], None, [3], [], [1], [2]],
    })


def _comparable(prof: dict) -> dict:
    return {n: {k: v for k, v in c.items() if k != "approx_distinct"} for n, c in prof["columns"].items()}


def test_statistics_left_to_the_read_back_equal_the_pass_ones(monkeypatch):
    df = _mixed()
    in_pass = _profile(df)
    monkeypatch.setattr(profile, "WIDE_PASS_COLUMNS", 0)  # every frame counts as wide
    assert profile.stats_deferred(df.schema)
    stats_keys = df.lazy().select(profile_exprs(df.schema)).collect().columns
    assert not [k for k in stats_keys if k.startswith(("__p.min.", "__p.distinct."))]
    eager = _profile(df)  # few rows: whole columns read back and counted per Series
    monkeypatch.setattr(profile, "WIDE_CELLS", 1)  # the streaming read-back, in batches
    streamed = _profile(df)
    assert _comparable(eager) == _comparable(in_pass)
    assert _comparable(streamed) == _comparable(in_pass)
    assert eager["columns"]["s"]["distinct"] == 3 and eager["columns"]["i"]["min"] == 1
    assert eager["columns"]["s"]["approx_distinct"] == 3  # exact, as the panel shows it


def test_a_wide_csv_finds_leading_zeros_in_the_right_columns(tmp_path):
    cols = 3000
    header = ",".join(f"c{i}" for i in range(cols))
    rows = [",".join(str(i + r) for i in range(cols)) for r in range(3)]
    # a leading zero in a middle column and in the last one, on different rows
    rows[1] = ",".join("007" if i == 1234 else str(i) for i in range(cols))
    rows[2] = ",".join("0123" if i == cols - 1 else str(i) for i in range(cols))
    f = write(tmp_path / "zeros.csv", header + "\n" + "\n".join(rows) + "\n")
    df, scan = read(f)
    assert df.schema["c1234"] == pl.String and df.schema[f"c{cols - 1}"] == pl.String
    assert df["c1234"].to_list() == ["1234", "007", "1234"]
    assert df[f"c{cols - 1}"].to_list()[2] == "0123"
    assert sum(dtype == pl.String for dtype in df.schema.values()) == 2
    assert any("'007'" in n for n in scan.notes) and any("'0123'" in n for n in scan.notes)


def test_null_counts_left_to_the_read_back_equal_the_pass_ones(monkeypatch):
    """A wide dataset write leaves the null counts to the read-back (profile_exprs(nulls=False)):
    the columns it reads give theirs on the way, the others (a list column) one query."""
    df = _mixed()
    in_pass = _profile(df)
    monkeypatch.setattr(profile, "WIDE_PASS_COLUMNS", 0)

    def without_nulls() -> dict:
        stats = df.lazy().select(profile_exprs(df.schema, nulls=False)).collect().row(0, named=True)
        assert not [k for k in stats if k.startswith("__p.nulls.")]
        prof = profile_from_stats(df.schema, stats)
        assert prof["columns"]["i"]["null_count"] is None  # not yet known, never taken as 0
        add_top_values(prof, df.lazy(), df.schema)
        return prof

    eager = without_nulls()
    monkeypatch.setattr(profile, "WIDE_CELLS", 1)  # the streaming read-back
    streamed = without_nulls()
    assert _comparable(eager) == _comparable(in_pass) == _comparable(streamed)
    assert eager["columns"]["l"]["null_count"] == 1 and eager["columns"]["e"]["null_count"] == 7
    assert eager["columns"]["i"]["null_share"] == 1 / 7


def test_a_wide_ingest_counts_every_columns_nulls(tmp_path, monkeypatch):
    """The whole path: a dataset of more columns than the pass takes statistics for."""
    import workbench as wb

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WORKBENCH_LOCAL_ISOLATION", "thread")
    monkeypatch.setattr(profile, "WIDE_PASS_COLUMNS", 2)
    f = write(tmp_path / "n.csv", "a,b,c,d\n1,,x,\n,2,,\n3,4,y,\n")
    ds = wb.ingest(str(f), name="nulls")
    got = {n: (c["null_count"], c["null_share"]) for n, c in ds.profile["columns"].items()}
    assert got == {"a": (1, 1 / 3), "b": (1, 1 / 3), "c": (1, 1 / 3), "d": (3, 1.0)}
    assert {f["name"]: f["nullable"] for f in ds.schema["fields"]} == {
        "a": True, "b": True, "c": True, "d": True}


def test_a_leading_zero_and_a_misfit_in_one_type_are_told_apart(tmp_path):
    cols = 2000
    header = ",".join(f"c{i}" for i in range(cols))
    rows = [",".join(str(i) for i in range(cols)) for _ in range(3)]
    rows[1] = ",".join("0042" if i == 5 else ("2.5" if i == 7 else str(i)) for i in range(cols))
    f = write(tmp_path / "both.csv", header + "\n" + "\n".join(rows) + "\n")
    df, scan = read(f)
    assert df.schema["c5"] == pl.String and df["c5"].to_list()[1] == "0042"
    assert df.schema["c7"] == pl.Float64 and df["c7"].to_list()[1] == 2.5
    assert sum(t != pl.Int64 for t in df.schema.values()) == 2
    zero_notes = [n for n in scan.notes if "leading zero" in n]
    assert len(zero_notes) == 1 and "'c5'" in zero_notes[0]


def test_a_wide_write_takes_its_row_count_from_the_files_it_wrote(tmp_path, monkeypatch):
    """Past WIDE_PASS_COLUMNS with no checks the pass only writes (profile.rows_only): the rows
    come from the written files' footers, one file or many, none or some."""
    import workbench as wb

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WORKBENCH_LOCAL_ISOLATION", "thread")
    monkeypatch.setattr(profile, "WIDE_PASS_COLUMNS", 2)
    f = write(tmp_path / "p.csv", "k,a,b\nx,1,\ny,2,3\nx,,4\nz,5,6\n")
    assert profile.rows_only(profile_exprs(pl.Schema({"k": pl.String, "a": pl.Int64, "b": pl.Int64}),
                                           nulls=False))
    parts = wb.ingest(str(f), name="parts", partition_by=["k"])
    assert parts.rows == 4 and sorted(p["rows"] for p in parts.files) == [1, 1, 2]
    assert parts.profile["columns"]["a"]["null_count"] == 1
    one = wb.ingest(str(f), name="one")
    assert one.rows == 4 and [p["rows"] for p in one.files] == [4]
    empty = wb.ingest(str(write(tmp_path / "e.csv", "k,a,b\n")), name="empty")
    assert empty.rows == 0
    checked = wb.run(wb.Pipeline(source=wb.file(str(f)), checks=[wb.not_null("k")],
                                 sink=wb.dataset("checked")))
    assert checked.rows == 4 and checked.profile["columns"]["b"]["null_count"] == 1
