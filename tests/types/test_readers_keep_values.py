"""Readers never change a value: a number-like text with a leading zero stays text, and an
object that is always ``{}`` is kept (as the JSON text ``"{}"``), each with a note."""

from __future__ import annotations

import polars as pl

import workbench as wb


def _run(path):
    job = wb.submit(wb.Pipeline(source=wb.file(str(path))), runner="local").wait(120)
    assert job.status == "succeeded", job.error
    return job.result, [e.text for e in job.events if e.kind == "message"]


def test_zip_codes_keep_their_leading_zero(wb_home, tmp_path):
    src = tmp_path / "zip.csv"
    src.write_text("zip,n\n02134,1\n10001,2\n")
    df, notes = _run(src)
    assert df.schema == pl.Schema({"zip": pl.String, "n": pl.Int64})
    assert df["zip"].to_list() == ["02134", "10001"]
    assert any("'02134'" in n and "leading zero" in n for n in notes)


def test_a_leading_zero_far_into_the_file_keeps_the_column_text(wb_home, tmp_path):
    src = tmp_path / "fips.csv"
    lines = [f"{10000 + i},{i}" for i in range(200_000)] + ["01001,x"]
    src.write_text("fips,k\n" + "\n".join(lines) + "\n")
    df, notes = _run(src)
    assert df.schema["fips"] == pl.String and df["fips"][-1] == "01001" and df["fips"][0] == "10000"


def test_plain_numbers_and_decimals_stay_numbers(wb_home, tmp_path):
    src = tmp_path / "n.csv"
    src.write_text("a,b\n0,0.5\n10,-0.25\n")
    df, _ = _run(src)
    assert df.schema == pl.Schema({"a": pl.Int64, "b": pl.Float64})


def test_an_always_empty_object_is_kept(wb_home, tmp_path):
    src = tmp_path / "e.ndjson"
    src.write_text('{"a": 1, "o": {}}\n{"a": 2, "o": null}\n')
    ds = wb.ingest(str(src), name="empty_objects")
    back = wb.read("empty_objects").collect()
    assert back.schema["o"] == pl.String and back["o"].to_list() == ["{}", None]
    assert ds.rows == 2
    arr = tmp_path / "e.json"
    arr.write_text('[{"a": 1, "o": {}}, {"a": 2, "o": {}}]')
    assert _run(arr)[0]["o"].to_list() == ["{}", "{}"]
