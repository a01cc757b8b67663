"""The same pipelines through the LocalRunner and the CeleryRunner give equal datasets."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import workbench as wb
from workbench.runners.celery_runner import CeleryJob
from workbench.runners.local import LocalRunner
from wb_cluster import storage_files

pytestmark = pytest.mark.services

TIMEOUT = 120


def _source(data_dir, kind: str):
    if kind == "glob":
        return wb.file(str(data_dir / "parts" / "*.csv"), parallel=True)
    return wb.file(str(data_dir / "sales.csv"))


CASES = {
    "ingest": dict(steps=[], checks=[wb.not_null("id"), wb.is_unique("id")]),
    "steps": dict(steps=[wb.filter("amount > 100"), wb.with_columns(total="amount * qty"),
                         wb.cast({"qty": "int32"}), wb.rename({"note": "comment"}),
                         wb.drop("day"), wb.sort("id")],
                  checks=[wb.in_range("amount", min=100)]),
    "sql": dict(steps=[wb.sql("SELECT region, count(*) AS n, sum(amount) AS total, "
                              "avg(qty) AS avg_qty FROM input GROUP BY region ORDER BY region")],
                checks=[wb.row_count(min=4, max=4)]),
    "partitioned": dict(steps=[wb.select("id", "region", "amount")], checks=[],
                        sink_options={"partition_by": ["region"]}),
    "fanout": dict(source="glob", steps=[wb.filter("qty > 2"), wb.with_columns(x="amount / 2")],
                   checks=[wb.is_unique("id"), wb.not_null("region")]),
    "fanout_partitioned": dict(source="glob", steps=[wb.drop("note")], checks=[],
                               sink_options={"partition_by": ["region"]}),
}


def _pipeline(data_dir, case: str, name: str, **overrides) -> wb.Pipeline:
    c = {**CASES[case], **overrides}
    return wb.Pipeline(name=f"{case} {name}", source=_source(data_dir, c.get("source", "file")),
                       steps=c["steps"], checks=c["checks"],
                       sink=wb.dataset(name, **c.get("sink_options", {})))


def _frame(name: str) -> pl.DataFrame:
    df = wb.read(name).collect()
    return df.sort(df.columns)


@pytest.mark.parametrize("case", list(CASES))
def test_same_dataset_local_and_celery(cluster, data_dir, case):
    local = LocalRunner().submit(_pipeline(data_dir, case, f"{case}_local")).wait(TIMEOUT)
    remote = cluster.runner().submit(_pipeline(data_dir, case, f"{case}_celery")).wait(TIMEOUT)
    assert isinstance(remote, CeleryJob)
    assert local.status == "succeeded", local.error
    assert remote.status == "succeeded", remote.error
    a, b = local.result, remote.result
    assert (a.rows, a.columns) == (b.rows, b.columns)
    assert a.schema["fields"] == b.schema["fields"]
    fa, fb = _frame(a.name), _frame(b.name)
    assert fa.schema == fb.schema
    if case == "sql":  # a parallel float sum is not bitwise repeatable, even run twice locally
        assert_frame_equal(fa, fb, rel_tol=1e-12)
    else:
        assert fa.equals(fb)
        assert fa.hash_rows().sum() == fb.hash_rows().sum()
    for col in a.profile["columns"]:
        pa, pb = a.profile["columns"][col], b.profile["columns"][col]
        for k in ("null_count", "min", "max"):
            same = pytest.approx(pa.get(k), rel=1e-12) if isinstance(pa.get(k), float) else pa.get(k)
            assert pb.get(k) == same, (col, k)
    assert [c["passed"] for c in local.state.checks] == [c["passed"] for c in remote.state.checks]
    # The job handle looks the same: the same steps, all done, the same kind of events.
    assert [s.name for s in local.state.steps] == [s.name for s in remote.state.steps]
    assert all(s.status == "done" for s in remote.state.steps)
    assert remote.state.fraction == 1.0
    kinds = [e.kind for e in remote.events]
    assert kinds[0] == "job_started" and kinds[-1] == "job_finished"
    # Exactly the files the manifest names (plus the manifest), nothing else.
    named = sorted(f["key"].split(f"/datasets/{b.name}/", 1)[1] for f in b.files)
    assert storage_files(cluster.home, b.name) == sorted(named + ["v000001.manifest.json"])


def test_fanout_runs_one_task_per_file(cluster, data_dir):
    job = cluster.runner().submit(_pipeline(data_dir, "fanout", "fanout_split")).wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    assert "split into 4 tasks, one per file" in job.state.messages
    assert len({f["key"].rsplit("/", 1)[1][:10] for f in job.result.files}) == 4
    assert len(job.result.inputs) == 4 and all(i["sha256"] for i in job.result.inputs)


def test_fanout_falls_back_to_one_task_when_steps_need_all_rows(cluster, data_dir):
    p = wb.Pipeline(source=wb.file(str(data_dir / "parts" / "*.csv"), parallel=True),
                    steps=[wb.unique("region")], sink=wb.dataset("fanout_unique"))
    job = cluster.runner().submit(p).wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    assert any("needs all rows at once" in m for m in job.state.messages)
    assert job.result.rows == 4


def test_stages_give_the_same_dataset(cluster, data_dir):
    p = _pipeline(data_dir, "sql", "stages_local")
    q = _pipeline(data_dir, "sql", "stages_celery")
    local = LocalRunner().submit(p).wait(TIMEOUT)
    staged = cluster.runner(stages=True).submit(q).wait(TIMEOUT)
    assert local.status == "succeeded", local.error
    assert staged.status == "succeeded", staged.error
    assert_frame_equal(_frame("stages_local"), _frame("stages_celery"), rel_tol=1e-12)
    assert staged.result.inputs[0]["path"].endswith("sales.csv")  # lineage names the real input
    assert not (cluster.home / "storage" / "default" / "staging" / staged.id).exists()


def test_rows_result_without_sink(cluster, data_dir):
    p = wb.Pipeline(source=wb.file(str(data_dir / "sales.csv")),
                    steps=[wb.sql("SELECT region, count(*) AS n, min(id) AS first FROM input "
                                  "GROUP BY region ORDER BY region")])
    local = LocalRunner().submit(p).wait(TIMEOUT)
    remote = cluster.runner().submit(p).wait(TIMEOUT)
    assert remote.status == "succeeded", remote.error
    assert local.result.equals(remote.result)


def test_append_twice(cluster, data_dir):
    runner = cluster.runner()
    for _ in range(2):
        p = wb.Pipeline(source=wb.file(str(data_dir / "parts" / "p0.csv")),
                        sink=wb.dataset("appended", mode="append"))
        job = runner.submit(p).wait(TIMEOUT)
        assert job.status == "succeeded", job.error
    assert job.result.version == 2 and job.result.rows == 10_000


# ----------------------------------------------------------------------------- bad input
def _both(cluster, make) -> tuple:
    local = LocalRunner().submit(make("local")).wait(TIMEOUT)
    remote = cluster.runner().submit(make("celery")).wait(TIMEOUT)
    return local, remote


def test_failed_check_is_the_same_error_and_writes_nothing(cluster, data_dir):
    local, remote = _both(cluster, lambda n: wb.Pipeline(
        source=wb.file(str(data_dir / "sales.csv")), checks=[wb.not_null("note")],
        sink=wb.dataset(f"badcheck_{n}")))
    assert local.status == remote.status == "failed"
    assert remote.error.to_dict() == local.error.to_dict()
    assert type(remote.error).__name__ == "CheckFailed"
    assert remote.state.error["column"] == "note"
    assert storage_files(cluster.home, "badcheck_celery") == []
    record = cluster.ctx().catalog.get_job(remote.id)
    assert record["attempts"] == 1  # an input error is never retried


def test_unknown_column_fails_with_step_and_hint(cluster, data_dir):
    local, remote = _both(cluster, lambda n: wb.Pipeline(
        source=wb.file(str(data_dir / "sales.csv")), steps=[wb.select("id", "nope")],
        sink=wb.dataset(f"badstep_{n}")))
    assert remote.status == "failed"
    err = remote.state.error
    assert (err["type"], err["column"], err["step"]) == ("StepError", "nope", "1:select")
    assert err["hint"] and err == local.state.error


def test_bad_row_is_located_by_file_row_and_column(cluster, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,amount\n1,2.5\n2,oops\n3,4\n")
    local, remote = _both(cluster, lambda n: wb.Pipeline(
        source=wb.file(str(path), schema_overrides={"amount": "float64"}),
        sink=wb.dataset(f"badrow_{n}")))
    assert remote.status == "failed"
    err = remote.state.error
    assert err == local.state.error
    assert (err["file"], err["row"], err["column"]) == (str(path), 2, "amount")


def test_fanout_with_one_bad_file_fails_whole_and_leaves_nothing(cluster, data_dir, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for k in range(3):
        (folder / f"f{k}.csv").write_text("id,amount\n" + "".join(
            f"{k * 100 + i},{i}.5\n" for i in range(50)))
    (folder / "f3.csv").write_text("id,amount\n1,2.5\n2,not-a-number\n")
    p = wb.Pipeline(source=wb.file(str(folder / "*.csv"), parallel=True,
                                   schema_overrides={"amount": "float64"}),
                    sink=wb.dataset("fanout_bad"))
    job = cluster.runner().submit(p).wait(TIMEOUT)
    assert job.status == "failed"
    err = job.state.error
    assert err["file"] == str(folder / "f3.csv") and err["column"] == "amount"
    with pytest.raises(wb.NotFound):
        wb.info("fanout_bad")
    assert storage_files(cluster.home, "fanout_bad") == []
    # The next job runs fine.
    ok = cluster.runner().submit(wb.Pipeline(source=wb.file(str(folder / "f0.csv")),
                                             sink=wb.dataset("fanout_bad"))).wait(TIMEOUT)
    assert ok.status == "succeeded" and ok.result.version == 1


def test_parallel_with_python_step_runs_in_one_task_and_retries(cluster, data_dir, tmp_path):
    counter = tmp_path / "count"
    p = wb.Pipeline(source=wb.file(str(data_dir / "parts" / "*.csv"), parallel=True),
                    steps=[wb.python("wbtest_steps:flaky", counter=str(counter), failures=2)],
                    sink=wb.dataset("fanout_flaky"))
    # A Python step is row-wise only if it says so: this pipeline runs in one task, retried.
    job = cluster.runner().submit(p).wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    assert job.state.retries == 2 and job.result.rows == 20_000
    assert any("read in one task" in m for m in job.state.messages)
    assert [v.version for v in cluster.ctx().catalog.list_versions("default", "fanout_flaky")] == [1]


def test_fanout_cancel_leaves_nothing(cluster, tmp_path):
    from wb_cluster import write_csv

    folder = tmp_path / "many"
    folder.mkdir()
    for k in range(6):
        write_csv(folder / f"f{k}.csv", 150_000, start=k * 150_000, seed=k)
    p = wb.Pipeline(source=wb.file(str(folder / "*.csv"), parallel=True),
                    steps=[wb.filter("qty >= 0")], sink=wb.dataset("fanout_cancel"))
    job = cluster.runner().submit(p)
    # Cancel as soon as the job says it split: the parts are queued or running then.
    job.subscribe(lambda ev: job.cancel() if ev.kind == "message" and "split" in ev.text else None)
    job.wait(TIMEOUT)
    assert job.status == "cancelled"
    assert job.events[-1].kind == "job_cancelled"
    assert storage_files(cluster.home, "fanout_cancel") == []
    with pytest.raises(wb.NotFound):
        wb.info("fanout_cancel")


def test_named_sources_and_sql_reading_them_twice_on_workers(cluster, data_dir):
    """Several named sources travel in the signed spec; a query reading a source twice (a scalar
    subquery, a self-join) gives the same rows on a worker as in the kernel."""
    p = wb.Pipeline(
        sources={"sales": wb.file(str(data_dir / "sales.csv")),
                 "parts": wb.file(str(data_dir / "parts" / "*.csv"))},
        steps=[wb.sql("SELECT s.region, count(*) AS n, count(p2.id) AS with_next FROM sales s "
                      "JOIN parts p USING (id) LEFT JOIN sales p2 ON p2.id = s.id + 1 "
                      "WHERE s.amount > (SELECT avg(amount) FROM sales) GROUP BY 1 ORDER BY 1")])
    local = LocalRunner().submit(p).wait(TIMEOUT)
    remote = cluster.runner().submit(p).wait(TIMEOUT)
    assert local.status == "succeeded", local.error
    assert remote.status == "succeeded", remote.error
    assert local.result.equals(remote.result) and local.result.height == 4


def test_fanout_of_the_primary_source_with_other_named_sources(cluster, data_dir):
    p = wb.Pipeline(
        sources={"parts": wb.file(str(data_dir / "parts" / "*.csv"), parallel=True),
                 "sales": wb.file(str(data_dir / "sales.csv"))},
        steps=[wb.filter("qty > 2")], sink=wb.dataset("fanout_named"))
    job = cluster.runner().submit(p).wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    assert "split into 4 tasks, one per file" in job.state.messages
    local = LocalRunner().submit(p.model_copy(update={"sink": wb.dataset("fanout_named_local")})).wait(TIMEOUT)
    assert local.status == "succeeded", local.error
    assert _frame("fanout_named").equals(_frame("fanout_named_local"))


def test_stages_with_several_sources_run_in_one_task(cluster, data_dir):
    p = wb.Pipeline(
        sources={"sales": wb.file(str(data_dir / "sales.csv")),
                 "parts": wb.file(str(data_dir / "parts" / "*.csv"))},
        steps=[wb.sql("SELECT s.region, count(*) AS n FROM sales s JOIN parts p USING (id) GROUP BY 1")],
        sink=wb.dataset("stages_named"))
    job = cluster.runner(stages=True).submit(p).wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    assert "stages=True: a pipeline with several sources runs in one task" in job.state.messages
    assert sorted(i["source"] for i in job.result.inputs) == ["parts"] * 4 + ["sales"]


def test_a_big_fanout_merges_its_parts_statistics(cluster, tmp_path):
    """Past the rows whose distinct counts are exact (2 M), a fanned-out job's commit adds up
    the statistics each part kept instead of reading every part back in one process; its
    profile and check counts match the one task's over the same files (distinct counts of many
    values within 2 %)."""
    import numpy as np

    from workbench.engines.profile import EXACT_DISTINCT_ROWS

    folder = tmp_path / "big"
    folder.mkdir()
    per_file = EXACT_DISTINCT_ROWS // 4 + 10_000
    cities = np.array([f"city-{i:03d}" for i in range(300)])
    for k in range(4):
        rng = np.random.default_rng(k)
        pl.DataFrame({
            "id": np.arange(per_file) + k * per_file,
            "city": pl.Series(cities[rng.integers(0, 300, per_file)]).scatter(
                rng.integers(0, per_file, 500), None),
            "amount": np.round(rng.normal(500, 200, per_file), 3),
        }).write_csv(folder / f"f{k}.csv")
    checks = [wb.not_null("city", severity="warn"), wb.in_range("amount", min=0, severity="warn"),
              wb.is_unique("id")]

    def pipeline(name: str, parallel: bool) -> wb.Pipeline:
        return wb.Pipeline(source=wb.file(str(folder / "*.csv"), parallel=parallel),
                           checks=checks, sink=wb.dataset(name))

    one = LocalRunner().submit(pipeline("merged_one", False)).wait(600)
    fan = cluster.runner().submit(pipeline("merged_fan", True)).wait(600)
    assert one.status == "succeeded", one.error
    assert fan.status == "succeeded", fan.error
    assert any(e.kind == "progress" and e.phase == "profile: merging the statistics of 4 parts"
               for e in fan.events)
    assert fan.result.rows == one.result.rows == 4 * per_file
    assert [(c["name"], c["failed_rows"]) for c in fan.result.checks] == \
        [(c["name"], c["failed_rows"]) for c in one.result.checks]
    assert [c["failed_rows"] for c in fan.result.checks][:2] != [0, 0]  # counts that add up
    want, got = one.result.profile["columns"], fan.result.profile["columns"]
    for name in ("id", "city", "amount"):
        for stat in ("null_count", "min", "max", "top_values"):
            assert got[name].get(stat) == want[name].get(stat), (name, stat)
    for name in ("id", "amount"):
        assert got[name]["mean"] == pytest.approx(want[name]["mean"], rel=1e-9)
    assert (got["city"]["distinct"], got["city"]["distinct_estimated"]) == (300, False)
    assert got["id"]["distinct"] == pytest.approx(4 * per_file, rel=0.02)
    assert got["amount"]["distinct"] == pytest.approx(want["amount"]["distinct"], rel=0.02)


def test_fanout_drops_blank_lines_like_one_task(cluster, tmp_path):
    """The fan-out's plan reads only the types (no search for blank lines); each part still
    drops its file's blank lines, and keeps a record of empty fields, as one task does."""
    folder = tmp_path / "blank"
    folder.mkdir()
    for k in range(3):
        (folder / f"f{k}.csv").write_text(
            "id,name\n" + "".join(f"{k * 10 + i},n{i}\n" + ("\n" if i % 3 == 0 else "")
                                  for i in range(9)) + ",\n")
    runs = {}
    for parallel, runner in ((False, LocalRunner()), (True, cluster.runner())):
        name = f"blank_{int(parallel)}"
        job = runner.submit(wb.Pipeline(source=wb.file(str(folder / "*.csv"), parallel=parallel),
                                        sink=wb.dataset(name))).wait(TIMEOUT)
        assert job.status == "succeeded", job.error
        assert parallel == any("split into" in m for m in job.state.messages)
        runs[parallel] = wb.read(name).collect().sort("id", nulls_last=True)
    assert runs[True].height == 3 * 10  # 9 records and one of empty fields per file
    assert_frame_equal(runs[False], runs[True])
