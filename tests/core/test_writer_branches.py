"""Branches of the dataset writer that the pipeline tests left unvisited (found by coverage)."""

from __future__ import annotations

import polars as pl
import pytest

import workbench as wb


def _frame_csv(path, frame: pl.DataFrame):
    frame.write_csv(path)
    return str(path)


def test_append_names_every_kind_of_schema_difference(wb_home, tmp_path):
    wb.ingest(_frame_csv(tmp_path / "a.csv", pl.DataFrame({"id": [1], "name": ["a"], "n": [1]})),
              name="s")
    other = pl.DataFrame({"id": ["x"], "n": [2], "colour": ["red"]})  # id text, name gone, colour new
    with pytest.raises(wb.InputError) as err:
        wb.ingest(_frame_csv(tmp_path / "b.csv", other), name="s", mode="append")
    assert err.value.message == ("cannot append to 's': the schema differs (missing ['name']; "
                                 "new ['colour']; changed types id: Int64 -> String)")
    assert wb.info("s").version == 1  # nothing appended


def test_a_sink_naming_a_missing_column_writes_nothing(wb_home, tmp_path):
    src = _frame_csv(tmp_path / "a.csv", pl.DataFrame({"id": [1, 2], "region": ["n", "s"]}))
    for sink in (wb.dataset("parts", partition_by=["country"]),
                 wb.dataset("keyed", mode="upsert", keys=["code"])):
        job = wb.submit(wb.Pipeline(source=wb.file(src), sink=sink)).wait(60)
        missing = sink.partition_by[0] if sink.partition_by else sink.keys[0]
        assert job.status == "failed"
        assert (type(job.error).__name__, job.error.message, job.error.column, job.error.step) == (
            "InputError", f"sink names a column that does not exist: {missing}", missing, "write")
    assert [d.name for d in wb.list_datasets()] == []


def test_upsert_into_a_new_dataset_creates_it(wb_home, tmp_path):
    src = _frame_csv(tmp_path / "a.csv", pl.DataFrame({"id": [1, 2, 2], "v": [1, 2, 3]}).unique(
        "id", keep="last", maintain_order=True))
    ds = wb.run(wb.Pipeline(source=wb.file(src), sink=wb.dataset("fresh", mode="upsert",
                                                                 keys=["id"])))
    assert (ds.name, ds.version, ds.rows) == ("fresh", 1, 2)
    assert wb.read("fresh").sort("id").collect().rows() == [(1, 1), (2, 3)]
