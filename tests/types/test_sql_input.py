"""Every type as the input of a SQL step (DuckDB), streamed (one scan) and through the Parquet
copy an input read twice goes through: equal, or the conversion docs/types.md promises."""

from __future__ import annotations

import polars as pl
import pytest

import workbench as wb
from typecases import polars_frame


def sql_expected(dtype: pl.DataType) -> pl.DataType:
    """What a column of ``dtype`` arrives as after ``SELECT * FROM input`` (docs/types.md)."""
    if isinstance(dtype, (pl.Categorical, pl.Enum)):
        return pl.String()  # DuckDB reads the Arrow dictionary's labels
    if isinstance(dtype, pl.Duration):
        return pl.Duration("us")  # INTERVAL: microseconds
    if isinstance(dtype, pl.Datetime) and dtype.time_zone:
        return pl.Datetime("ns" if dtype.time_unit == "ns" else "us", "UTC")  # TIMESTAMPTZ
    return dtype


QUERIES = {
    "streamed": "SELECT * FROM input ORDER BY rid",
    "read twice": "SELECT * FROM input WHERE rid >= (SELECT min(rid) FROM input) ORDER BY rid",
}


@pytest.mark.parametrize("how", list(QUERIES))
def test_every_type_as_sql_input(wb_home, every_type_parquet, tmp_path, how):
    want = pl.read_parquet(every_type_parquet).with_row_index("rid")
    src = tmp_path / "in.parquet"
    want.write_parquet(src)
    job = wb.submit(wb.Pipeline(source=wb.file(str(src)), steps=[wb.sql(QUERIES[how])]),
                    runner="local").wait(120)
    assert job.status == "succeeded", job.error
    got = job.result
    assert got.columns == want.columns
    for c in want.columns:
        expected = sql_expected(want.schema[c])
        assert got.schema[c] == expected, (c, got.schema[c], expected)
        assert got[c].equals(want[c].cast(expected)), c


def test_hugeint_inside_lists_and_structs_in_and_out(wb_home, tmp_path):
    df = pl.DataFrame({
        "h": pl.Series([2 ** 126, None, -(2 ** 127)], dtype=pl.Int128),
        "u": pl.Series([2 ** 128 - 1, None, 0], dtype=pl.UInt128),
        "l": pl.Series([[2 ** 126], None, []], dtype=pl.List(pl.Int128)),
        "s": pl.Series([{"a": 2 ** 127 - 1, "d": 1.5}, None, {"a": 1, "d": None}],
                       dtype=pl.Struct({"a": pl.Int128, "d": pl.Float64})),
        "ar": pl.Series([[2 ** 128 - 1, 1], None, [0, None]], dtype=pl.Array(pl.UInt128, 2)),
    })
    src = tmp_path / "h.parquet"
    df.write_parquet(src)

    def run(sql: str) -> pl.DataFrame:
        job = wb.submit(wb.Pipeline(source=wb.file(str(src)), steps=[wb.sql(sql)]),
                        runner="local").wait(120)
        assert job.status == "succeeded", job.error
        return job.result

    same = run("SELECT * FROM input")
    assert same.schema == df.schema and same.equals(df)
    out = run("SELECT h + 1 AS h1, [h, 1::HUGEINT] AS lh, {'x': u} AS su, s.a AS sa, l "
              "FROM input WHERE h IS NULL OR h >= (SELECT min(h) FROM input)")
    assert out.schema == pl.Schema({"h1": pl.Int128, "lh": pl.List(pl.Int128),
                                    "su": pl.Struct({"x": pl.UInt128}), "sa": pl.Int128,
                                    "l": pl.List(pl.Int128)})
    assert sorted(out["h1"].drop_nulls().to_list()) == [-(2 ** 127) + 1, 2 ** 126 + 1]
    assert {r["x"] for r in out["su"].to_list()} == {2 ** 128 - 1, None, 0}


def test_a_map_column_through_a_dataset_and_as_sql_input(wb_home, tmp_path):
    df = pl.DataFrame({"rid": [1, 2, 3],
                       "m": pl.Series([[{"key": "k1", "value": 1}, {"key": "k2", "value": None}],
                                       None, []],
                                      dtype=pl.Map(pl.String, pl.Int32))})
    src = tmp_path / "m.parquet"
    df.write_parquet(src)
    wb.ingest(str(src), name="maps")
    back = wb.read("maps").collect()
    assert back.schema == df.schema and back.equals(df)
    for sql in QUERIES.values():
        job = wb.submit(wb.Pipeline(source=wb.from_dataset("maps"), steps=[wb.sql(sql)]),
                        runner="local").wait(120)
        assert job.status == "succeeded", job.error
        assert job.result.schema == df.schema and job.result.equals(df)
