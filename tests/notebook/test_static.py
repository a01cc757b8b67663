"""What a job view leaves behind without a kernel, which step it marks failed, and how it words
progress: the view as Python objects, fed events."""

from __future__ import annotations

import re
import time

from workbench.events import (
    CheckResult, JobFailed, JobFinished, JobStarted, Progress, StepStarted,
)
from workbench.notebook import model
from workbench.notebook.static import WIDGET_VIEW
from workbench.notebook.view import JobView

STEPS = ["read", "1:sql", "check", "write"]
# a colour written out (#fdd, white, rgb(…)) is right in one theme and wrong in the other
LITERAL_COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}\b|(?<![-\w])(white|black)(?![-\w])|rgba?\(",
                            re.IGNORECASE)


def rows_result(columns: dict) -> dict:
    """A sinkless job's result as a job sends it (its rows inline as Arrow IPC)."""
    import base64

    import polars as pl

    from workbench.results import to_ipc

    df = pl.DataFrame(columns)
    return {"kind": "rows", "rows": df.height, "columns": df.columns,
            "arrow": base64.b64encode(to_ipc(df)).decode("ascii")}


def run_to(job, *events):
    t0 = time.time() - 2.0
    job._deliver(JobStarted(job_id=job.id, name="sales", steps=STEPS, ts=t0))
    for step in ("read", "1:sql", "write"):
        job._deliver(StepStarted(job_id=job.id, step=step, ts=t0))
    for ev in events:
        job._deliver(ev)


def failed_check(job):
    examples = [{"order_id": i, "amount": -1.5 * i, "region": "north"} for i in range(1, 8)]
    run_to(job,
           CheckResult(job_id=job.id, name="range(amount)", column="amount", passed=False,
                       severity="warn", failed_rows=7, examples=examples[:5],
                       message="7 of 200000 rows fail range(amount)"),
           CheckResult(job_id=job.id, name="not_null(region)", column="region", passed=False,
                       severity="error", failed_rows=2, examples=[{"order_id": 9, "region": None}],
                       message="2 of 200000 rows fail not_null(region)"),
           JobFailed(job_id=job.id, error={"type": "CheckFailed", "step": "check", "column": "region",
                                           "message": "check not_null(region) failed",
                                           "hint": "fix the data or mark the check severity='warn'"}))


def test_a_failed_check_marks_the_check_step_and_not_read_or_write(job):
    failed_check(job)
    assert [(s.name, s.status) for s in job.state.steps] == [
        ("read", "done"), ("1:sql", "done"), ("check", "failed"), ("write", "stopped")]


def test_a_sql_error_marks_only_the_sql_step(job):
    run_to(job, JobFailed(job_id=job.id, error={"type": "SQLError", "step": "1:sql",
                                                "message": "syntax error at or near \"FORM\""}))
    assert [(s.name, s.status) for s in job.state.steps] == [
        ("read", "stopped"), ("1:sql", "failed"), ("check", "pending"), ("write", "stopped")]


def test_an_error_naming_no_step_marks_the_running_one(job):
    t0 = time.time()
    job._deliver(JobStarted(job_id=job.id, steps=STEPS, ts=t0))
    job._deliver(StepStarted(job_id=job.id, step="read", ts=t0))
    job._deliver(JobFailed(job_id=job.id, error={"type": "InternalError", "message": "boom"}))
    assert [s.status for s in job.state.steps] == ["failed", "pending", "pending", "pending"]


def test_check_examples_show_as_tables_for_warnings_and_errors(job):
    view = JobView(job)
    failed_check(job)
    view.flush()
    html = view.checks.value
    assert html.count('class="wb-table wb-rows"') == 2  # the warning's rows too
    assert "first 5 offending rows" in html and "first 1 offending row<" in html
    assert ">-7.50</td>" in html  # numbers for people, right-aligned
    assert "{'order_id'" not in html + view.summary.value  # no Python dicts
    box = view.summary.value
    assert "step <b" in box and ">check</b> failed" in box
    assert "Hint: fix the data" in box


def test_static_copy_while_running_and_after_the_end(job):
    view = JobView(job)
    run_to(job, Progress(job_id=job.id, step="write", rows=50_000, rows_total=200_000,
                         bytes=1_000_000, bytes_total=4_000_000))
    view.flush()
    live = view.static_bundle(live=True)
    assert live[WIDGET_VIEW]["model_id"] == view.widget.model_id
    assert "running" in live["text/html"] and "25%" in live["text/html"]
    assert live["text/plain"].startswith(f"job {job.id} sales: running")
    assert "VBox" not in live["text/plain"]
    job._deliver(JobFinished(job_id=job.id, result=rows_result(
        {"region": ["north", "south"], "total": [58381.812, 2_500_000.0]})))
    view.flush()
    final = view.static_bundle(live=False)
    assert WIDGET_VIEW not in final  # nothing left that needs the kernel
    html, text = final["text/html"], final["text/plain"]
    assert "wb-status-succeeded" in html and "100%" in html and "running" not in html
    assert ">58,381.81</td>" in html and ">2.50 M</td>" in html
    assert ": succeeded" in text and "north" in text and "58,381.81" in text


def test_no_colour_is_written_out(job):
    view = JobView(job)
    failed_check(job)
    view.flush()
    html = view.static_bundle(live=False)["text/html"]
    assert "var(--jp-error-color1)" in html
    assert not LITERAL_COLOUR.search(html), LITERAL_COLOUR.search(html)


def test_throughput_is_a_recent_rate_and_a_dash_when_stalled(job):
    from workbench.notebook.render import stats_html

    base = time.time() - 60
    job._deliver(JobStarted(job_id=job.id, steps=STEPS, ts=base))
    # fast at first, then 100 rows/s over the last seconds: the rate is the recent one
    job._deliver(Progress(job_id=job.id, step="read", rows=1_000_000, ts=base + 10))
    for i in range(1, 7):
        job._deliver(Progress(job_id=job.id, step="read", rows=1_000_000 + 100 * i, ts=base + 20 + i))
    assert round(job.state.rows_per_s) == 100
    assert not job.state.stalled(base + 27)
    # then nothing moves, though progress events still come: no rate drifting down, a dash
    for i in range(1, 5):
        job._deliver(Progress(job_id=job.id, step="read", rows=1_000_600, ts=base + 26 + i))
    assert job.state.stalled(base + 30)
    vm = model.view_model(job.state)
    assert vm.throughput_text == ""
    assert "throughput</span> –" in stats_html(vm)
    from workbench.textview import progress_line

    assert "– rows/s" in progress_line(job.state)  # the text line says the same
    # the tail after the rows (profiling, the commit) is named, not a bar standing still
    job._deliver(StepStarted(job_id=job.id, step="read"))
    job._deliver(Progress(job_id=job.id, step="read", rows=1_000_600, phase="profile: top values"))
    assert "read (profile: top values)" in progress_line(job.state)
    assert "profile: top values" in " ".join(s.detail for s in model.view_model(job.state).steps)


def test_numbers_for_people():
    from workbench.textview import human_count, human_number

    assert human_number(58381.8123) == "58,381.81"
    assert human_number(2_500_000) == "2.50 M" and human_number(2_500_000.0) == "2.50 M"
    assert human_number(1204) == "1,204" and human_number("1204") == "1204"
    assert human_number(None) == "null" and human_number(True) == "True"
    assert human_count(5482) == "5,482" and human_count(205_731) == "205,731"
    assert human_count(1_250_000_000) == "1.25 bn"


def test_the_write_phase_shows_the_bytes_written(job):
    run_to(job, Progress(job_id=job.id, step="write", rows=120_000, rows_total=200_000,
                         bytes=6_000_000, bytes_total=10_000_000, bytes_out=2_500_000))
    vm = model.view_model(job.state)
    assert vm.bytes_text == "6.0 MB of 10.0 MB read · 2.5 MB written"
    (write,) = [s for s in vm.steps if s.name == "write"]
    assert "2.5 MB written" in write.detail and "120,000 rows so far" in write.detail
    # written bytes moving count as work going on: no stall while only the sink advances
    t = job.state.last_event_ts
    job._deliver(Progress(job_id=job.id, step="write", rows=120_000, rows_total=200_000,
                          bytes=6_000_000, bytes_total=10_000_000, bytes_out=3_000_000, ts=t + 1.5))
    assert job.state.moved_at == t + 1.5
