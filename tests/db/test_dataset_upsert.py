"""Parquet datasets take mode="upsert" like tables: merge on keys into a new version."""

from __future__ import annotations

import polars as pl

import workbench as wb
from db_helpers import run


def _write(tmp_path, df: pl.DataFrame, name: str) -> str:
    path = tmp_path / name
    df.write_parquet(path)
    return str(path)


def test_upsert_merges_on_keys_into_a_new_version(tmp_path) -> None:
    v1 = pl.DataFrame({"id": [1, 2, 3], "region": ["n", "s", "n"], "amount": [10, 20, 30]})
    assert run(wb.Pipeline(source=wb.file(_write(tmp_path, v1, "a.parquet")),
                           sink=wb.dataset("sales", mode="upsert", keys=["id", "region"]))).status == "succeeded"
    change = pl.DataFrame({"id": [2, 3, 4], "region": ["s", "s", "e"], "amount": [21, 31, 40]})
    job = run(wb.Pipeline(source=wb.file(_write(tmp_path, change, "b.parquet")),
                          sink=wb.dataset("sales", mode="upsert", keys=["id", "region"])))
    assert job.status == "succeeded", job.error
    assert job.result.version == 2 and job.result.rows == 5
    merged = wb.read("sales").sort("id", "region").collect()
    # (2, s) updated; (3, s) and (4, e) new; (1, n) and (3, n) kept
    assert merged.rows() == [(1, "n", 10), (2, "s", 21), (3, "n", 30), (3, "s", 31), (4, "e", 40)]
    assert wb.read("sales", version=1).sort("id").collect().equals(v1)


def test_upsert_into_a_dataset_of_another_schema_is_refused(tmp_path) -> None:
    v1 = pl.DataFrame({"id": [1], "amount": [10]})
    run(wb.Pipeline(source=wb.file(_write(tmp_path, v1, "a.parquet")), sink=wb.dataset("s")))
    other = pl.DataFrame({"id": [1], "amount": ["ten"]})
    job = run(wb.Pipeline(source=wb.file(_write(tmp_path, other, "b.parquet")),
                          sink=wb.dataset("s", mode="upsert", keys=["id"])))
    assert job.status == "failed" and job.error.column == "amount"
    missing = run(wb.Pipeline(source=wb.file(_write(tmp_path, v1, "c.parquet")),
                              sink=wb.dataset("s", mode="upsert", keys=["nope"])))
    assert missing.status == "failed" and missing.error.column == "nope"
    assert wb.info("s").version == 1
