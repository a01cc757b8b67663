"""End to end through the LocalRunner on the embedded default: results, checks, modes, events."""

from __future__ import annotations

import polars as pl
import pytest

import workbench as wb
from workbench.context import Context


@pytest.fixture
def orders(wb_home, tmp_path):
    folder = tmp_path / "orders"
    folder.mkdir()
    pl.DataFrame({"id": [1, 2, 3], "region": ["n", "s", "n"], "amount": [10.0, 20.0, 5.5]}).write_csv(folder / "a.csv")
    pl.DataFrame({"id": [4, 5], "region": ["s", None], "amount": [1.0, 2.0]}).write_csv(folder / "b.csv")
    return folder


def _run(p: wb.Pipeline) -> wb.Job:
    return wb.submit(p, runner="local").wait(60)


def test_issue_example_glob_sql_checks_sink(orders):
    p = wb.Pipeline(
        source=wb.file(str(orders / "*.csv")),
        steps=[wb.sql("SELECT region, sum(amount) AS total FROM input WHERE region IS NOT NULL "
                      "GROUP BY region ORDER BY region")],
        checks=[wb.not_null("region"), wb.row_count(min=1)],
        sink=wb.dataset("totals", mode="overwrite"),
    )
    job = _run(p)
    assert job.status == "succeeded", job.error
    ds = job.result
    assert isinstance(ds, wb.Dataset) and ds.name == "totals" and ds.version == 1 and ds.rows == 2
    assert wb.read("totals").collect().to_dict(as_series=False) == {"region": ["n", "s"], "total": [15.5, 21.0]}
    assert len(ds.inputs) == 2 and all(len(i["sha256"]) == 64 for i in ds.inputs)
    assert all(len(f["sha256"]) == 64 for f in ds.files)
    kinds = [e.kind for e in job.events]
    assert kinds[0] == "job_started" and kinds[-1] == "job_finished"
    assert kinds.count("check_result") == 2


def test_ingest_outputs_schema_profile_checksums(orders):
    ds = wb.ingest(str(orders / "a.csv"), name="a")
    fields = {f["name"]: f for f in ds.schema["fields"]}
    assert fields["id"]["type"] == "Int64" and fields["id"]["nullable"] is False
    col = ds.profile["columns"]["amount"]
    assert col["min"] == 5.5 and col["max"] == 20.0 and col["null_count"] == 0
    assert abs(col["mean"] - 35.5 / 3) < 1e-9
    assert ds.profile["columns"]["region"]["top_values"][0] == {"value": "n", "count": 2}
    assert ds.bytes_in == (orders / "a.csv").stat().st_size and ds.bytes > 0
    import hashlib

    assert ds.inputs[0]["sha256"] == hashlib.sha256((orders / "a.csv").read_bytes()).hexdigest()
    storage = Context.from_settings().storage
    for f in ds.files:
        assert hashlib.sha256(storage.get_bytes(f["key"])).hexdigest() == f["sha256"]


def test_polars_steps(orders):
    p = wb.Pipeline(
        source=wb.file(str(orders / "*.csv")),
        steps=[wb.filter("amount > 1.5"), wb.with_columns(cents="CAST(amount * 100 AS INTEGER)"),
               wb.rename({"region": "area"}), wb.cast({"id": "int32"}), wb.drop("amount"),
               wb.drop_nulls("area"), wb.unique("area", keep="first"), wb.sort("id", descending=True),
               wb.limit(5)],
        sink=wb.dataset("steps"),
    )
    job = _run(p)
    assert job.status == "succeeded", job.error
    df = wb.read("steps").collect()
    assert df.columns == ["id", "area", "cents"]
    assert df.schema["id"] == pl.Int32
    assert df["area"].to_list() == ["s", "n"]


def test_python_step(orders, monkeypatch, tmp_path):
    (tmp_path / "wb_user_steps.py").write_text(
        "import polars as pl\n"
        "def double(lf, factor=2):\n    return lf.with_columns(pl.col('amount') * factor)\n"
        "def boom(lf):\n    raise ValueError('no good')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    job = _run(wb.Pipeline(source=wb.file(str(orders / "a.csv")),
                           steps=[wb.python("wb_user_steps:double", factor=3)], sink=wb.dataset("py")))
    assert job.status == "succeeded", job.error
    assert wb.read("py").collect()["amount"].to_list() == [30.0, 60.0, 16.5]
    bad = _run(wb.Pipeline(source=wb.file(str(orders / "a.csv")),
                           steps=[wb.python("wb_user_steps:boom")], sink=wb.dataset("py")))
    assert bad.status == "failed"
    assert bad.error.step == "1:python" and "no good" in bad.error.message
    assert wb.read("py").collect()["amount"].to_list() == [30.0, 60.0, 16.5]  # v1 untouched


def test_sql_over_catalog_datasets_by_name(orders):
    wb.ingest(str(orders / "a.csv"), name="regions_src")
    job = _run(wb.Pipeline(
        source=wb.file(str(orders / "b.csv")),
        steps=[wb.sql("SELECT i.id, r.amount AS other FROM input i JOIN regions_src r ON i.region = r.region")],
        sink=wb.dataset("joined")))
    assert job.status == "succeeded", job.error
    assert sorted(wb.read("joined").collect()["other"].to_list()) == [20.0]


def test_every_check_kind_passes_and_fails(orders):
    src = wb.file(str(orders / "*.csv"))
    good = [wb.not_null("id"), wb.is_unique("id"), wb.accepted_values("region", ["n", "s"]),
            wb.in_range("amount", min=0, max=100), wb.matches("region", "^[ns]$"),
            wb.row_count(min=5, max=5), wb.column_types({"id": "int", "amount": "float64"}),
            wb.check_sql("amount >= 1")]
    job = _run(wb.Pipeline(source=src, checks=good, sink=wb.dataset("checked")))
    assert job.status == "succeeded", job.error
    assert all(c["passed"] for c in job.state.checks) and len(job.state.checks) == len(good)
    bad = [wb.not_null("region"), wb.is_unique("region"), wb.accepted_values("region", ["n"]),
           wb.in_range("amount", max=10), wb.matches("region", "^n$"), wb.row_count(max=2),
           wb.column_types({"id": "string"}), wb.check_sql("amount > 100")]
    for check in bad:
        job = _run(wb.Pipeline(source=src, checks=[check], sink=wb.dataset("checked")))
        assert job.status == "failed", check
        assert job.error.__class__.__name__ == "CheckFailed" and job.error.step == "check"
        result = job.state.checks[0]
        assert not result["passed"]
        if check.check not in ("row_count", "column_types"):
            assert 1 <= len(result["examples"]) <= 5
    assert wb.info("checked").version == 1  # no failed run made a version


def test_warn_check_does_not_fail(orders):
    job = _run(wb.Pipeline(source=wb.file(str(orders / "*.csv")),
                           checks=[wb.not_null("region", severity="warn")], sink=wb.dataset("w")))
    assert job.status == "succeeded"
    assert job.state.checks[0]["passed"] is False and job.state.checks[0]["severity"] == "warn"


def test_modes_create_overwrite_append_upsert(orders):
    a, b = str(orders / "a.csv"), str(orders / "b.csv")
    wb.ingest(a, name="m", mode="create")
    with pytest.raises(wb.AlreadyExists):
        wb.ingest(a, name="m", mode="create")
    assert wb.ingest(b, name="m", mode="overwrite").version == 2
    assert wb.read("m").collect().height == 2
    ds = wb.ingest(a, name="m", mode="append")
    assert ds.version == 3 and ds.rows == 5 and wb.read("m").collect().height == 5
    assert wb.read("m", version=1).collect().height == 3
    up = wb.run(wb.Pipeline(source=wb.file(b), steps=[wb.with_columns(amount="amount + 100")],
                            sink=wb.dataset("m", mode="upsert", keys=["id"])))
    df = wb.read("m").collect().sort("id")
    assert up.version == 4 and df["id"].to_list() == [1, 2, 3, 4, 5]
    assert df.filter(pl.col("id") == 4)["amount"].item() == 101.0


def test_append_with_other_schema_is_refused(orders, tmp_path):
    wb.ingest(str(orders / "a.csv"), name="s")
    other = tmp_path / "other.csv"
    pl.DataFrame({"id": [1], "colour": ["red"]}).write_csv(other)
    with pytest.raises(wb.InputError, match="schema differs"):
        wb.ingest(str(other), name="s", mode="append")


def test_partitioned_write(orders):
    ds = wb.ingest(str(orders / "*.csv"), name="parts", partition_by=["region"])
    assert len(ds.files) == 3 and any("region=n" in f["key"] for f in ds.files)
    assert sum(f["rows"] for f in ds.files) == 5
    assert wb.read("parts").collect().height == 5


def test_sinkless_pipeline_returns_rows(orders):
    job = _run(wb.Pipeline(source=wb.file(str(orders / "a.csv")), steps=[wb.select("id")]))
    assert job.status == "succeeded"
    assert job.result["id"].to_list() == [1, 2, 3]


def test_preview_writes_nothing(orders):
    df = wb.preview(wb.Pipeline(source=wb.file(str(orders / "*.csv")), sink=wb.dataset("never")), rows=2)
    assert df.height == 2
    assert wb.list_datasets() == []


def _slow_job(tmp_path, monkeypatch, module: str) -> wb.Job:
    """A job over 3M rows with a step that sleeps on every batch, so it can be cancelled midway."""
    (tmp_path / f"{module}.py").write_text(
        "import time\n"
        "def slow(lf):\n"
        "    def f(df):\n        time.sleep(0.05)\n        return df\n"
        "    return lf.map_batches(f, streamable=True)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    big = tmp_path / "big.csv"
    pl.DataFrame({"x": range(3_000_000)}).write_csv(big)
    return wb.submit(wb.Pipeline(source=wb.file(str(big)), steps=[wb.python(f"{module}:slow")],
                                 sink=wb.dataset("big")), runner="local")


def test_cancel_between_batches_leaves_nothing(wb_home, tmp_path, monkeypatch):
    job = _slow_job(tmp_path, monkeypatch, "wb_slow_steps")
    for ev in job:
        if ev.kind == "progress" and ev.rows > 0:
            job.cancel()
            break
    job.wait(60)
    assert job.status == "cancelled"
    storage = Context.from_settings().storage
    assert list(storage.list("default/datasets/big/")) == []
    with pytest.raises(wb.NotFound):
        wb.info("big")
    assert Context.from_settings().catalog.get_job(job.id)["status"] == "cancelled"


def test_rerun_of_a_committed_job_returns_the_same_version(orders):
    from workbench.execute import run_job

    ctx = Context.from_settings()
    p = wb.Pipeline(source=wb.file(str(orders / "a.csv")), sink=wb.dataset("idem"))
    first = run_job(p, job_id="job-idem-1", ctx=ctx)
    second = run_job(p, job_id="job-idem-1", ctx=ctx)
    assert first["version"] == second["version"] == 1
    assert [v.version for v in ctx.catalog.list_versions("default", "idem")] == [1]


def test_manifest_without_catalog_row_is_finished_by_the_retry(orders):
    """A run that died between the manifest and the catalog row: the retry completes the commit."""
    import json

    from workbench.dataset_store import manifest_key
    from workbench.execute import run_job

    ctx = Context.from_settings()
    p = wb.Pipeline(source=wb.file(str(orders / "a.csv")), sink=wb.dataset("half"))
    run_job(p, job_id="job-half-1", ctx=ctx)
    manifest = json.loads(ctx.storage.get_bytes(manifest_key("default", "half", 1)))
    with ctx.catalog.engine.begin() as conn:  # simulate the crash: the row never got written
        from workbench.catalog import versions

        conn.execute(versions.delete())
    with pytest.raises(wb.NotFound):
        wb.info("half")
    again = run_job(p, job_id="job-half-1", ctx=ctx)
    assert again["version"] == 1 and again["checksum"] == manifest["checksum"]
    assert wb.info("half").version == 1


def _late_value_job(tmp_path, monkeypatch, column: str, value, late: str, name: str) -> wb.Job:
    """Ingest 260k rows whose row 150,000 holds ``late`` in ``column``, a value no sample sees
    (window sampling off), so only the rerun after the failed pass can deal with it."""
    from workbench.engines import read_csv_sample

    monkeypatch.setattr(read_csv_sample, "SAMPLE_WINDOWS", 0)
    rows = [f"id,{column}"] + [f"{i},{value(i)}" for i in range(260_000)]
    rows[150_001] = f"150000,{late}"
    path = tmp_path / f"{name}.csv"
    path.write_text("\n".join(rows) + "\n")
    return wb.submit(wb.Pipeline(source=wb.file(str(path)), sink=wb.dataset(name)),
                     runner="local").wait(60)


def test_value_past_every_sample_widens_the_column_and_reruns(wb_home, tmp_path, monkeypatch):
    """A value the sampling never saw makes the pass fail; execute widens and runs it again."""
    job = _late_value_job(tmp_path, monkeypatch, "qty", lambda i: i % 7, "2.5", "late")
    assert job.status == "succeeded", job.error
    df = wb.read("late").collect()
    assert df.schema["qty"] == pl.Float64 and df.height == 260_000
    assert df.filter(pl.col("id") == 150_000)["qty"].to_list() == [2.5]
    assert any("qty" in m for m in job.state.messages)
    assert len(Context.from_settings().catalog.list_versions("default", "late")) == 1


def test_cancel_through_the_catalog_stops_a_local_job(wb_home, tmp_path, monkeypatch):
    """`workbench cancel` or the jobs table only set the catalog flag: the local job honours it."""
    job = _slow_job(tmp_path, monkeypatch, "wb_slow_steps2")
    assert wb.job(job.id) is job  # the live handle, not a snapshot
    for ev in job:
        if ev.kind == "progress" and ev.rows > 0:
            Context.from_settings().catalog.request_cancel(job.id)
            break
    job.wait(60)
    assert job.status == "cancelled"
    with pytest.raises(wb.NotFound):
        wb.info("big")


def test_a_late_value_that_is_not_an_iso_date_keeps_the_column_as_text(wb_home, tmp_path, monkeypatch):
    job = _late_value_job(tmp_path, monkeypatch, "day", lambda i: f"2026-01-{1 + i % 28:02d}",
                          "31/01/2026", "days")
    assert job.status == "succeeded", job.error
    df = wb.read("days").collect()
    assert df.schema["day"] == pl.String and df.height == 260_000
    assert "31/01/2026" in df["day"].to_list()
    assert any("not an ISO date" in m for m in job.state.messages)
