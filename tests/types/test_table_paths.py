"""Dataset → table sink → query source, on PostgreSQL and SQLite: every type the type map
lists arrives as docs/types.md says (``sinks/typemap.py`` holds the map), and the types it does
not list are refused before anything is written, naming the column."""

from __future__ import annotations

import polars as pl
import pytest

import workbench as wb
from typecases import polars_frame

pytestmark = pytest.mark.services

NOT_MAPPED = ["int128", "uint128", "null", "list_int", "list_str", "array", "struct_nested",
              "list_of_struct"]


def mappable_frame() -> pl.DataFrame:
    df = polars_frame().drop(NOT_MAPPED).with_row_index("rid").with_columns(pl.col("rid").cast(pl.Int64))
    # SQLite's INTEGER is 64-bit signed: the map says UInt64 above 2^63-1 fails (tested below)
    return df.with_columns(pl.Series("uint64", [0, None, 5, 2 ** 63 - 1], dtype=pl.UInt64))


def sqlite_expected(s: pl.Series) -> pl.Series:
    """What SQLite gives back for a column (the SQLite column of the map)."""
    t = s.dtype
    if t == pl.Boolean or t.is_integer():
        return s.cast(pl.Int64)
    if t.is_float():
        return s.cast(pl.Float64).fill_nan(None)  # SQLite stores NaN as NULL (noted)
    if isinstance(t, (pl.Categorical, pl.Enum)) or isinstance(t, pl.Decimal):
        return s.cast(pl.String)
    if t == pl.Date:
        return s.dt.strftime("%Y-%m-%d")
    if t == pl.Time:
        return s.dt.strftime("%H:%M:%S.%9f")
    if isinstance(t, pl.Datetime):
        if t.time_zone:
            s = s.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return s.dt.cast_time_unit("us").dt.strftime("%Y-%m-%dT%H:%M:%S.%6f")
    if isinstance(t, pl.Duration):
        return s.dt.total_microseconds()
    return s


def postgres_expected(s: pl.Series) -> pl.Series:
    """What PostgreSQL gives back for a column (the PostgreSQL column of the map)."""
    t = s.dtype
    ints = {pl.Int8: pl.Int16, pl.Int16: pl.Int16, pl.UInt8: pl.Int16, pl.Int32: pl.Int32,
            pl.UInt16: pl.Int32, pl.Int64: pl.Int64, pl.UInt32: pl.Int64,
            pl.UInt64: pl.Decimal(20, 0)}
    for k, v in ints.items():
        if t == k:
            return s.cast(v)
    if isinstance(t, (pl.Categorical, pl.Enum)):
        return s.cast(pl.String)
    if isinstance(t, pl.Datetime):
        if t.time_zone:
            s = s.dt.convert_time_zone("UTC")
        return s.dt.cast_time_unit("us")
    if isinstance(t, pl.Duration):
        return s.dt.cast_time_unit("us")
    return s


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'wh.db'}"
    return request.getfixturevalue("postgres_url")


def _run(pipeline: wb.Pipeline):
    job = wb.submit(pipeline, runner="local").wait(180)
    assert job.status == "succeeded", job.error
    return job


def test_every_mapped_type_through_a_table_and_back(wb_home, tmp_path, db):
    want = mappable_frame()
    src = tmp_path / "every.parquet"
    want.write_parquet(src)
    wb.ingest(str(src), name="every_mapped")
    load = _run(wb.Pipeline(source=wb.from_dataset("every_mapped"),
                            sink=wb.table("every", db=db, mode="create")))
    notes = [e.text for e in load.events if e.kind == "message"]
    got = _run(wb.Pipeline(source=wb.query("SELECT * FROM every ORDER BY rid", db=db))).result
    expected = sqlite_expected if db.startswith("sqlite") else postgres_expected
    assert got.columns == want.columns
    for c in want.columns:
        exp = expected(want[c])
        assert got.schema[c] == exp.dtype, (c, got.schema[c], exp.dtype)
        assert got[c].equals(exp), (c, got[c].to_list(), exp.to_list())
    nan_notes = [n for n in notes if "NaN" in n]
    if db.startswith("sqlite"):  # said, not silent: one NaN in each float column
        assert sorted(n.split("'")[1] for n in nan_notes) == ["float32", "float64"], notes
    else:
        assert nan_notes == []


@pytest.mark.parametrize("column", NOT_MAPPED + ["map"])
def test_types_the_map_does_not_list_are_refused_by_name(wb_home, tmp_path, db, column):
    src = tmp_path / f"{column}.parquet"
    if column == "map":
        pl.DataFrame({"boolean": [True], "map": pl.Series([[{"key": "k", "value": 1}]],
                                                          dtype=pl.Map(pl.String, pl.Int64))}
                     ).write_parquet(src)
    else:
        polars_frame().select("boolean", column).write_parquet(src)
    job = wb.submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.table("t", db=db, mode="create")),
                    runner="local").wait(120)
    assert job.status == "failed" and type(job.error).__name__ == "InputError"
    assert repr(column) in str(job.error) and "cast it first" in str(job.error)


def test_uint64_past_sqlite_integers_is_refused_with_the_value(wb_home, tmp_path):
    src = tmp_path / "u.parquet"
    pl.DataFrame({"u": pl.Series([1, 2 ** 64 - 1], dtype=pl.UInt64)}).write_parquet(src)
    job = wb.submit(wb.Pipeline(source=wb.file(str(src)),
                                sink=wb.table("t", db=f"sqlite:///{tmp_path / 'u.db'}",
                                              mode="create")), runner="local").wait(120)
    assert job.status == "failed" and "18446744073709551615" in str(job.error)
