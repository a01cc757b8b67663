"""Metadata does not grow with the data, and every statistic handles every type or says why not.

A 100 MB text field once made a manifest of 600 MB and a catalog of 1.2 GB: profile values are
now cut at MAX_VALUE_CHARS and marked, like Parquet's statistics, and so are check examples.
"""

from __future__ import annotations

import dataclasses
import json

import duckdb
import polars as pl
import pytest

import workbench as wb
from workbench.context import Context
from workbench.engines.profile import add_top_values, profile_exprs, profile_from_stats
from workbench.engines.profile_limits import MAX_VALUE_CHARS, STATS
from typecases import NON_BMP, polars_frame

MB = 1_000_000


def _every_type_frame() -> pl.DataFrame:
    extra = pl.from_arrow(duckdb.sql("SELECT MAP {'k': 1} AS map, {'a': 1}::VARIANT AS variant_ext "
                                     "FROM range(4)").to_arrow_table())
    return pl.concat([polars_frame(), extra], how="horizontal")


def test_every_statistic_handles_every_type_or_names_the_reason():
    df = _every_type_frame()
    stats = df.lazy().select(profile_exprs(df.schema)).collect(engine="streaming").row(0, named=True)
    profile = profile_from_stats(df.schema, stats)
    add_top_values(profile, df.lazy(), df.schema)
    for name, entry in profile["columns"].items():
        assert entry["null_count"] == df[name].null_count(), name
        for stat in STATS:
            key = "approx_distinct" if stat == "distinct" else stat
            reason = entry.get("not_computed", {}).get(stat)
            assert (key in entry) != bool(reason), (name, stat, entry)
    assert profile["columns"]["map"]["not_computed"]["min"].startswith("not computed for nested")
    assert "extension type" in profile["columns"]["variant_ext"]["not_computed"]["distinct"]
    assert profile["columns"]["binary"]["not_computed"] == {
        "min": "bytes have no order worth reporting", "max": "bytes have no order worth reporting",
        "mean": "not a number"}
    assert profile["columns"]["int128"]["max"] == 2 ** 127 - 1
    assert len(json.dumps(profile)) < 100_000


def test_every_type_ingests_into_a_dataset_and_reads_back_equal(wb_home, every_type_parquet):
    """file → dataset → wb.read: every Polars type equal, dtypes included."""
    ds = wb.ingest(str(every_type_parquet), name="every_type")
    back = wb.read("every_type").collect()
    want = polars_frame()
    assert back.schema == want.schema
    for name in want.columns:
        assert back.select(name).equals(want.select(name)), name
    assert ds.rows == 4 and ds.profile["columns"]["string"]["max"] == NON_BMP  # the emoji sorts last
    assert {t["value"][:5]: t.get("cut", False) for t in ds.profile["columns"]["string"]["top_values"]
            } == {"": False, NON_BMP[:5]: False, "xxxxx": True}


@pytest.fixture(scope="module")
def huge_field(tmp_path_factory):
    """A Parquet file whose second row holds a 100 MB text field (and a 100 MB binary)."""
    path = tmp_path_factory.mktemp("huge") / "huge.parquet"
    big = "z" * (100 * MB)
    pl.DataFrame({"id": [1, 2, 3], "text": ["a", big, "a"],
                  "blob": [b"x", big.encode(), None]}).write_parquet(path)
    return path


def _size(obj) -> int:
    return len(json.dumps(obj, default=str).encode())


def test_a_100_mb_field_keeps_manifest_and_catalog_row_under_1_mb(wb_home, huge_field):
    ds = wb.ingest(str(huge_field), name="huge")
    ctx = Context.from_settings()
    record = ctx.catalog.get_version(ctx.namespace, "huge", ds.version)
    manifest = ctx.storage.get_bytes(record.manifest_key)
    assert len(manifest) < MB
    assert _size(dataclasses.asdict(record)) < MB
    text = ds.profile["columns"]["text"]
    assert text["max"] == "z" * MAX_VALUE_CHARS and text["max_cut"] is True
    assert text["min"] == "a" and "min_cut" not in text
    tops = {t["value"]: t for t in text["top_values"]}
    assert tops["a"]["count"] == 2 and "cut" not in tops["a"]
    assert tops["z" * MAX_VALUE_CHARS]["cut"] is True
    # the data itself is whole
    assert wb.read("huge").select(pl.col("text").str.len_bytes().max()).collect().item() == 100 * MB


def test_a_100_mb_field_in_a_sinkless_job_and_a_failed_check(wb_home, huge_field):
    job = wb.submit(wb.Pipeline(source=wb.file(str(huge_field)))).wait(300)
    assert job.status == "succeeded", job.error
    assert job.result["text"][1] == "z" * (100 * MB)
    ctx = Context.from_settings()
    assert _size(ctx.catalog.get_job(job.id)) < MB
    failing = wb.submit(wb.Pipeline(source=wb.file(str(huge_field)),
                                    checks=[wb.accepted_values("text", ["a"])],
                                    sink=wb.dataset("huge_checked"))).wait(300)
    assert failing.status == "failed"
    assert len(str(failing.error)) < 10_000
    assert _size(ctx.catalog.get_job(failing.id)) < MB
