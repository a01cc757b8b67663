"""A ``parallel=True`` fan-out checks its steps against the planned columns before it splits: every
column of the files, whatever its type, not only those a spec type name can declare (List,
Struct, Duration, Categorical have no such name)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import workbench as wb
from workbench.runners.local import LocalRunner

pytestmark = pytest.mark.services

TIMEOUT = 180


def _parts(folder, n: int = 3, rows: int = 40) -> None:
    folder.mkdir()
    for k in range(n):
        ids = list(range(k * rows, (k + 1) * rows))
        pl.DataFrame({
            "id": ids,
            "tags": [[i, i + 1] for i in ids],
            "attrs": [{"code": f"c{i % 3}", "weight": i / 2} for i in ids],
            "wait": [dt.timedelta(milliseconds=i) for i in ids],
            "kind": [("red", "blue")[i % 2] for i in ids],
        }, schema_overrides={"wait": pl.Duration("ms"), "kind": pl.Categorical}
        ).write_parquet(folder / f"p{k}.parquet")


# Each step touches the columns that have no spec type name.
STEPS = {
    "select": [wb.select("id", "tags", "attrs", "wait", "kind")],
    "rename": [wb.rename({"tags": "labels", "attrs": "meta", "wait": "delay", "kind": "colour"})],
    "filter": [wb.filter("kind = 'red'"), wb.drop("tags")],
    "drop_nulls": [wb.drop_nulls("tags", "attrs", "wait", "kind")],
}


@pytest.mark.parametrize("case", list(STEPS))
def test_a_fanout_step_on_columns_without_a_type_name(cluster, tmp_path, case):
    folder = tmp_path / "parts"
    _parts(folder)
    name = f"fanout_types_{case}"
    p = wb.Pipeline(source=wb.file(str(folder / "*.parquet"), parallel=True), steps=STEPS[case],
                    sink=wb.dataset(name))
    job = cluster.runner().submit(p).wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    # it really fanned out: one task per file
    assert "split into 3 tasks, one per file" in job.state.messages
    # the same rows as one process reading the files together
    local = LocalRunner().submit(wb.Pipeline(
        source=wb.file(str(folder / "*.parquet")), steps=STEPS[case],
        sink=wb.dataset(f"{name}_local"))).wait(TIMEOUT)
    assert local.status == "succeeded", local.error
    got, want = wb.read(name).collect(), wb.read(f"{name}_local").collect()
    assert got.schema == want.schema
    assert_frame_equal(got.sort("id" if "id" in got.columns else got.columns[0]),
                       want.sort("id" if "id" in want.columns else want.columns[0]),
                       categorical_as_str=True)
    assert got.height == (60 if case == "filter" else 120)
