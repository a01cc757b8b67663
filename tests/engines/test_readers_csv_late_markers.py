"""A null marker first met past every sampled part of a CSV (the 4 MiB marker head, the 64 KiB
windows) in a column read as dates: the marker is a null, the column stays a Date."""

from __future__ import annotations

import datetime as dt

import polars as pl
from test_readers_helpers import fixed_width_csv, run_local, unsampled_rows

ROWS = 60_000


def _late_csv(tmp_path, late: list[str]) -> tuple[str, list[int]]:
    """6 MB of fixed-width lines of dates; ``late`` values at rows no sampled byte reaches."""
    rows = unsampled_rows(ROWS, len(late))
    days = [(dt.date(2000, 1, 1) + dt.timedelta(days=i % 9000)).isoformat() for i in range(ROWS)]
    for r, value in zip(rows, late):
        days[r] = value
    path = fixed_width_csv(tmp_path / "late.csv", "id,day,pad",
                           [f"{i},{d}," for i, d in enumerate(days)])
    return path, rows


def test_a_late_na_in_a_date_column_is_a_null(wb_home, tmp_path):
    path, rows = _late_csv(tmp_path, ["NA", "NULL"])
    job = run_local(path)
    df = job.result
    assert df.schema["day"] == pl.Date and df.height == ROWS
    assert df["day"].null_count() == 2
    assert df.filter(pl.col("day").is_null())["id"].to_list() == rows
    assert df["day"][0] == dt.date(2000, 1, 1)
    assert any("null markers first met past the sampled part" in m and "'NA'" in m
               and "'NULL'" in m for m in job.state.messages), job.state.messages


def test_a_late_na_beside_a_late_word_keeps_the_column_text(wb_home, tmp_path):
    path, rows = _late_csv(tmp_path, ["NA", "soon"])
    job = run_local(path)
    df = job.result
    assert df.schema["day"] == pl.String
    assert df["day"][rows[0]] == "NA" and df["day"][rows[1]] == "soon"  # nothing changed
    assert any("'day': a value further into the file is not an ISO date" in m
               for m in job.state.messages), job.state.messages
