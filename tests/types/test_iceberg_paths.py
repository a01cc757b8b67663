"""file → dataset → the version's Iceberg snapshot, read by pyiceberg (``scan().to_arrow()``)
and by ``pl.scan_iceberg``, against ``wb.read`` of the same version, type by type.

Iceberg v2 has no unsigned, 128-bit, Time, Duration or nanosecond types: a version with such a
column gets no snapshot, and the dataset says why (``snapshot_note``); workbench still reads it
whole. A datetime in a zone other than UTC is stored as its UTC instant (Iceberg's timestamptz):
other engines read it in UTC, ``wb.read`` in its own zone. Enum and Array are stored as String
and List, which other engines read; ``wb.read`` gives them back as Enum and Array. Every other type arrives equal or as docs/types.md's Iceberg
table says (tests/iceberg/ covers versions, modes and storage)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "iceberg"))  # ice_helpers
os.environ.setdefault("POLARS_ICEBERG_PLANNER", "pyiceberg")  # no plugin warning

import workbench as wb  # noqa: E402
from ice_helpers import by_polars, by_pyiceberg, table  # noqa: E402
from typecases import polars_cases  # noqa: E402

# read back equal by both engines
EQUAL = ["boolean", "float32", "float64", "string", "binary", "date", "int32", "int64",
         "decimal_1_0", "decimal_9_2", "decimal_18_4", "decimal_19_0", "decimal_38_10",
         "decimal_38_0", "list_int", "list_str", "struct_nested", "datetime_us",
         "datetime_us_UTC"]
# the same values, in Iceberg's wider type: name -> what both engines give
WIDENED = {"int8": pl.Int32, "int16": pl.Int32, "uint8": pl.Int32, "uint16": pl.Int32,
           "datetime_ms": pl.Datetime("us"), "datetime_ms_UTC": pl.Datetime("us", "UTC")}
# no snapshot: the note names the column's type
NO_SNAPSHOT = {"null": "Null type", "time": "time64", "uint32": "uint32", "uint64": "uint64",
               "int128": "more than 64 bits", "uint128": "more than 64 bits",
               "duration_ms": "duration[ms]", "duration_us": "duration[us]",
               "duration_ns": "duration[ns]", "datetime_ns": "'ns' timestamp precision",
               "datetime_ns_UTC": "'ns' timestamp precision",
               **{f"datetime_ns_{tz}": "'ns' timestamp precision"
                  for tz in ("Europe/Paris", "America/St_Johns")}}
# zones other than UTC: the same instants in UTC for other engines
ZONED = [f"datetime_{u}_{tz}" for u in ("ms", "us") for tz in ("Europe/Paris", "America/St_Johns")]


def _dataset(tmp_path, name: str, frame: pl.DataFrame):
    path = tmp_path / f"{name}.parquet"
    frame.write_parquet(path)
    ds = wb.ingest(str(path), name=name)
    return ds, wb.read(name, version=ds.version).collect()


def test_every_type_is_covered():
    handled = set(EQUAL) | set(WIDENED) | set(NO_SNAPSHOT) | set(ZONED) | {
        "categorical", "enum", "array", "list_of_struct"}
    assert handled == set(polars_cases())


def test_snapshot_of_representable_types(wb_home, tmp_path):
    cases = polars_cases()
    names = EQUAL + list(WIDENED) + ["categorical", "list_of_struct"]
    want = pl.DataFrame([cases[n].alias(n) for n in names])
    ds, ours = _dataset(tmp_path, "every_iceberg_type", want)
    assert ours.equals(want) and ours.schema == want.schema
    assert ds.snapshot_id is not None and ds.snapshot_note is None
    tbl = table("every_iceberg_type")
    ice = by_pyiceberg(tbl, ds.snapshot_id)
    pol = by_polars(tbl, ds.snapshot_id)
    for got in (ice, pol):
        assert got.columns == names
        for n in EQUAL:
            assert got.select(n).equals(ours.select(n)), n
        for n, dtype in WIDENED.items():
            assert got.schema[n] == dtype, n
            assert got.select(n).equals(ours.select(pl.col(n).cast(dtype))), n
    # Categorical: pyiceberg keeps the dictionary, pl.scan_iceberg gives String
    assert ice.select("categorical").equals(ours.select("categorical"))
    assert pol.select("categorical").equals(ours.select(pl.col("categorical").cast(pl.String)))
    # List of Struct: Polars equal; pyiceberg 0.12 reads the null list as an empty one
    assert pol.select("list_of_struct").equals(ours.select("list_of_struct"))
    assert ice["list_of_struct"].to_list() == [
        [{"k": "a", "v": 1}], [], [], [{"k": None, "v": None}]]
    assert ours["list_of_struct"].to_list()[1] is None


def test_zoned_datetimes_are_utc_instants_for_iceberg_and_keep_their_zone_in_workbench(
        wb_home, tmp_path):
    cases = polars_cases()
    want = pl.DataFrame([cases[n].alias(n) for n in ZONED])
    ds, ours = _dataset(tmp_path, "zoned", want)
    assert ours.equals(want) and ours.schema == want.schema  # wb.read: the original zones
    assert ds.snapshot_id is not None and ds.snapshot_note is None
    tbl = table("zoned")
    utc = want.select(pl.col(n).dt.convert_time_zone("UTC").dt.cast_time_unit("us") for n in ZONED)
    for got in (by_pyiceberg(tbl, ds.snapshot_id), by_polars(tbl, ds.snapshot_id)):
        assert got.equals(utc), got
    assert wb.info("zoned").schema == ds.schema
    # appending in the same zone, and upsert reading the old rows back in their zone
    more = want.with_columns(pl.col(n).dt.offset_by("1d") for n in ZONED)
    path = tmp_path / "more.parquet"
    more.write_parquet(path)
    wb.ingest(str(path), name="zoned", mode="append")
    assert wb.read("zoned").collect().equals(pl.concat([want, more]))


@pytest.mark.parametrize("name", ["enum", "array"])
def test_enum_and_array_are_stored_as_string_and_list_and_read_back_as_they_were(
        wb_home, tmp_path, name):
    s = polars_cases()[name]
    ds, ours = _dataset(tmp_path, name, s.alias(name).to_frame())
    assert ours.equals(s.alias(name).to_frame()) and ours.schema[name] == s.dtype  # wb.read
    assert ds.snapshot_id is not None
    tbl = table(name)
    general = pl.String if name == "enum" else pl.List(pl.Int32)
    want = ours.select(pl.col(name).cast(general))
    for got in (by_pyiceberg(tbl, ds.snapshot_id), by_polars(tbl, ds.snapshot_id)):
        assert got.schema[name] == general and got.equals(want), got
    # append and upsert read the old rows back in their type
    more = s.alias(name).to_frame().head(1)
    path = tmp_path / "more.parquet"
    more.write_parquet(path)
    wb.ingest(str(path), name=name, mode="append")
    assert wb.read(name).collect().equals(pl.concat([ours, more]))


@pytest.mark.parametrize("name", sorted(NO_SNAPSHOT))
def test_types_iceberg_v2_cannot_hold_get_no_snapshot_and_say_why(wb_home, tmp_path, name):
    s = polars_cases()[name]
    ident = name.lower().replace("/", "_")
    ds, ours = _dataset(tmp_path, ident, s.alias(name).to_frame())
    assert ours.equals(s.alias(name).to_frame())  # workbench reads it whole
    assert ds.snapshot_id is None and table(ident) is None
    assert ds.snapshot_note.startswith("Iceberg v2 cannot hold these columns")
    assert NO_SNAPSHOT[name] in ds.snapshot_note, ds.snapshot_note
    assert wb.info(ident).snapshot_note == ds.snapshot_note


def test_an_array_of_lists_is_written_as_it_is_and_reads_back_equal(wb_home, tmp_path):
    frame = pl.DataFrame({
        "a": pl.Series([[[1], [2, 3]], None], dtype=pl.Array(pl.List(pl.Int8), 2)),
        "e": pl.Series(["x", "y"], dtype=pl.Enum(["y", "x"]))})
    _ds, ours = _dataset(tmp_path, "array_of_lists", frame)
    assert ours.equals(frame) and ours.schema == frame.schema
