"""A job on a real worker shows what the same job shows in the kernel: progress that never
stands still while it works, and, reattached from its record once its event stream is gone
(``wb.job(id)`` after a kernel restart, a day later), the same steps, rows and checks."""

from __future__ import annotations

import polars as pl
import pytest

import workbench as wb
from progress_gaps import assert_never_still
from workbench.job_handle import JobState
from workbench.notebook import model
from workbench.worker import keys

pytestmark = pytest.mark.services

ROWS = 2_000_000  # with a 0.9 s pause per batch before and after the SQL step: 10 s or more


@pytest.mark.timeout(600)
@pytest.mark.parametrize("stages", [False, True], ids=["one task", "stage chain"])
def test_no_bar_stands_still_in_a_long_job_on_a_worker(cluster, tmp_path, stages):
    path = tmp_path / "big.csv"
    pl.DataFrame({"x": range(ROWS), "s": [f"name-{i % 9973}" for i in range(ROWS)]}).write_csv(path)
    job = cluster.runner(stages=stages).submit(wb.Pipeline(
        name="worker phases", source=wb.file(str(path)),
        steps=[wb.python("wbtest_steps:crawl", delay=0.9),
               wb.sql("SELECT x, s, x * 2 AS y FROM input", name="double"),
               wb.python("wbtest_steps:crawl", delay=0.9)],
        sink=wb.dataset(f"worker_phases_{int(stages)}"))).wait(600)
    assert job.status == "succeeded", job.state.error
    events = job.events
    started = next(e.ts for e in events if e.kind == "job_started")
    finished = next(e.ts for e in events if e.kind == "job_finished")
    assert finished - started >= 10, "the job is meant to run 10 s or more"
    assert_never_still(events)
    first = next(e for e in events if e.kind == "progress")
    assert (first.step, first.rows, first.phase) == ("read", 0, "reading big.csv")
    rows = {e.step: e.rows for e in events if e.kind == "step_finished"}
    assert rows["read"] == rows["double"] == rows["write"] == ROWS  # each stage its own rows


def shown(state: JobState) -> tuple:
    """What a view shows of the steps and checks (names, marks, rows and seconds as drawn)."""
    vm = model.view_model(state)
    return ([(s.name, s.mark, s.detail) for s in vm.steps],
            [{k: c.get(k) for k in ("name", "column", "passed", "severity", "failed_rows",
                                    "examples", "message")} for c in vm.checks])


@pytest.mark.parametrize("stages", [False, True], ids=["one task", "stage chain"])
def test_reattached_from_the_record_shows_the_live_steps_rows_and_checks(cluster, tmp_path, stages):
    path = tmp_path / "sales.csv"
    pl.DataFrame({"region": ["north", "south", "east", None] * 500, "qty": list(range(2000))}
                 ).write_csv(path)
    job = cluster.runner(stages=stages).submit(wb.Pipeline(
        name="kept", source=wb.file(str(path)),
        steps=[wb.filter("qty >= 100"),
               wb.sql("SELECT region, count(*) AS n FROM input GROUP BY 1")],
        checks=[wb.not_null("region", severity="warn")],
        sink=wb.dataset(f"kept_{int(stages)}"))).wait(120)
    assert job.status == "succeeded", job.state.error
    live = shown(job.state)
    assert [c["passed"] for c in live[1]] == [False] and live[1][0]["examples"]
    cluster.redis().delete(keys.events("default", job.id))  # the stream expired
    again = cluster.runner().attach(job.id).wait(60)
    assert again.status == "succeeded"
    assert shown(again.state) == live


def test_a_failed_job_reattached_from_the_record_marks_the_failed_step(cluster, tmp_path):
    path = tmp_path / "sales.csv"
    pl.DataFrame({"region": ["north", None] * 1000, "qty": list(range(2000))}).write_csv(path)
    job = cluster.runner().submit(wb.Pipeline(
        name="failing", source=wb.file(str(path)), steps=[wb.filter("qty >= 100")],
        checks=[wb.not_null("region")], sink=wb.dataset("failing_check"))).wait(120)
    assert job.status == "failed" and job.state.error["step"] == "check"
    live = shown(job.state)
    cluster.redis().delete(keys.events("default", job.id))
    again = cluster.runner().attach(job.id).wait(60)
    assert again.status == "failed"
    assert shown(again.state) == live
    assert "written" not in model.view_model(again.state).bytes_text  # nothing it wrote is kept


def test_a_fanned_out_job_reattached_from_the_record_shows_the_live_steps(cluster, tmp_path):
    parts = tmp_path / "parts"
    parts.mkdir()
    for k in range(3):
        pl.DataFrame({"region": ["north", None] * 100, "qty": list(range(k * 200, k * 200 + 200))}
                     ).write_csv(parts / f"p{k}.csv")
    job = cluster.runner().submit(wb.Pipeline(
        name="fanned", source=wb.file(str(parts / "*.csv"), parallel=True),
        steps=[wb.filter("qty >= 100")], checks=[wb.not_null("region", severity="warn")],
        sink=wb.dataset("fanned_kept"))).wait(120)
    assert job.status == "succeeded", job.state.error
    assert any("split into 3 tasks" in m for m in job.state.messages)
    live = shown(job.state)
    # the parts' rows summed: read before the filter, then what the filter kept and was written
    assert [d.split(" · ")[0] for _n, _m, d in live[0]] == ["600 rows", "500 rows", "", "500 rows"]
    cluster.redis().delete(keys.events("default", job.id))
    again = cluster.runner().attach(job.id).wait(60)
    assert shown(again.state) == live
