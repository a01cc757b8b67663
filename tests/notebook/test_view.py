"""The job view as Python objects: feed events, read what it shows."""

from __future__ import annotations

import io
import time

import pytest

from workbench.events import (
    CheckResult, JobCancelled, JobFailed, JobFinished, JobStarted, Message, Progress, Retrying,
    StepFinished, StepStarted,
)
from workbench.notebook import model
from workbench.notebook.view import JobView, show_job

STEPS = ["read", "1:sql", "check", "write"]


def start(job, t0=None):
    t0 = time.time() - 1.0 if t0 is None else t0
    job._deliver(JobStarted(job_id=job.id, name="sales", steps=STEPS, ts=t0))
    job._deliver(StepStarted(job_id=job.id, step="read", index=0, ts=t0))


def test_progress_value_and_texts_follow_events(job):
    view = JobView(job)
    start(job)
    t0 = job.state.started_at
    job._deliver(Progress(job_id=job.id, step="read", rows=250_000, bytes=10_000_000,
                          rows_total=1_000_000, bytes_total=40_000_000, ts=t0 + 1.0))
    view.flush()
    assert view.bar.value == pytest.approx(0.25)
    assert view.percent.value == "25%"
    assert view.vm.current_step == "read"
    assert view.vm.rows_text == "250,000 of 1.00 M rows"
    assert view.vm.bytes_text == "10.0 MB of 40.0 MB read"
    # 250k rows in the first second: the throughput the state computed, shown as text
    assert view.vm.throughput_text == "250,000 rows/s · 10.0 MB/s"
    assert "250,000 rows/s" in view.stats.value
    assert [(s.name, s.status) for s in view.vm.steps] == [
        ("read", "running"), ("1:sql", "pending"), ("check", "pending"), ("write", "pending")]
    assert 'wb-step-running' in view.steps.value
    # a quarter done after about a second: three times the elapsed time is left
    eta = float(view.vm.eta_text.split()[0])
    assert 3.0 <= eta < 3.0 * (time.time() - t0) + 0.1


def test_step_states_through_a_successful_job(job, wb_home):
    view = JobView(job)
    start(job)
    job._deliver(StepFinished(job_id=job.id, step="read", rows=10, seconds=0.5, ts=1001.0))
    job._deliver(StepStarted(job_id=job.id, step="1:sql", index=1, ts=1001.0))
    view.flush()
    assert [s.status for s in view.vm.steps] == ["done", "running", "pending", "pending"]
    assert view.vm.steps[0].detail == "10 rows · 0.5 s"
    job._deliver(CheckResult(job_id=job.id, name="not_null(region)", passed=True, ts=1002.0))
    job._deliver(CheckResult(job_id=job.id, name="range(amount)", passed=False, severity="warn",
                             failed_rows=3, message="3 rows outside [0, 100]", ts=1002.0))
    import base64

    import polars as pl

    from workbench.results import to_ipc

    rows = base64.b64encode(to_ipc(pl.DataFrame({"a": [1, 2], "b": ["x", "y"]}))).decode()
    job._deliver(JobFinished(job_id=job.id, result={"kind": "rows", "rows": 2, "columns": ["a", "b"],
                                                     "arrow": rows}, ts=1003.0))
    view.flush()
    assert view.bar.value == 1.0 and view.bar.bar_style == "success"
    assert [s.status for s in view.vm.steps] == ["done"] * 4
    assert "not_null(region)" in view.checks.value and "3 rows outside [0, 100]" in view.checks.value
    assert view.cancel_button.disabled
    # the final summary carries a preview table with the result's rows and schema
    assert "wb-preview" in view.summary.value and "<table" in view.summary.value
    assert '">y</td>' in view.summary.value and ">str</div>" in view.summary.value


def test_dataset_result_preview_reads_first_rows(job, wb_home, tmp_path):
    import polars as pl

    import workbench as wb

    src = tmp_path / "t.parquet"
    pl.DataFrame({"region": ["north", "south"], "amount": [1.5, 2.5]}).write_parquet(src)
    ds = wb.ingest(str(src), name="sales")
    view = JobView(job)
    start(job)
    job._deliver(JobFinished(job_id=job.id, result=ds.to_dict(), ts=1002.0))
    view.flush()
    assert "sales</b> v1" in view.summary.value
    assert "north" in view.summary.value and "f64" in view.summary.value


def test_error_with_hint_is_shown(job):
    view = JobView(job)
    start(job)
    job._deliver(JobFailed(job_id=job.id, error={
        "type": "SourceError", "message": "cannot parse 'abc' as a number", "file": "sales.csv",
        "row": 17, "column": "amount", "step": "read", "hint": "declare --type amount=string"},
        ts=1002.0))
    view.flush()
    assert view.vm.status == "failed" and view.bar.bar_style == "danger"
    assert "SourceError" in view.summary.value
    assert "row 17" in view.summary.value and "column amount" in view.summary.value
    assert "Hint: declare --type amount=string" in view.summary.value
    assert [s.status for s in view.vm.steps][0] == "failed"


def test_cancel_button_calls_job_cancel_and_view_ends_cancelled(job):
    view = JobView(job)
    start(job)
    view.flush()
    assert not view.cancel_button.disabled
    view.cancel_button.click()
    assert job.cancel_calls == 1
    assert view.cancel_button.disabled and view.cancel_button.description == "Cancelling…"
    job._deliver(JobCancelled(job_id=job.id, ts=1002.0))
    view.flush()
    assert view.vm.status == "cancelled"
    assert "Cancelled after" in view.summary.value
    assert view.cancel_button.description == "Cancelled"
    assert view.cancel_button.layout.display == "none"


def test_retries_and_messages_are_shown(job):
    view = JobView(job)
    start(job)
    job._deliver(Retrying(job_id=job.id, attempt=1, delay=2.0,
                          error={"type": "StorageUnavailable", "message": "503 from storage"}))
    job._deliver(Message(job_id=job.id, level="warning", text="column amount widened to f64"))
    view.flush()
    assert "retried 1×" in view.notes.value and "503 from storage" in view.notes.value
    assert "widened to f64" in view.notes.value


def test_reattached_view_replays_past_events(job):
    start(job)
    job._deliver(Progress(job_id=job.id, step="read", rows=5, rows_total=10, ts=1001.0))
    view = JobView(job)  # built after the events, as after a kernel restart
    assert view.bar.value == pytest.approx(0.5)
    assert view.vm.rows_text == "5 of 10 rows"


def test_redraw_thread_updates_view_from_a_background_feed(job):
    import threading

    view = JobView(job)
    drawn = threading.Event()
    original = view.draw

    def draw():
        original()
        if view.vm.status == "succeeded":
            drawn.set()

    view.draw = draw  # observe the background thread's draws
    feeder = threading.Thread(target=lambda: (start(job), job._deliver(
        JobFinished(job_id=job.id, result={"kind": "rows", "rows": 0}, ts=1001.0))))
    feeder.start()
    feeder.join()
    assert drawn.wait(10), "the redraw thread never drew the finished job"
    assert view.bar.value == 1.0
    assert len(view.latencies) >= 3


def test_indeterminate_progress_without_totals(job):
    view = JobView(job)
    start(job)
    job._deliver(Progress(job_id=job.id, step="read", rows=42, ts=1001.0))
    view.flush()
    assert view.vm.fraction is None and view.percent.value == "…"
    assert view.vm.rows_text == "42 rows"


def test_text_mode_prints_compact_lines(job):
    start(job)
    job._deliver(JobFailed(job_id=job.id, error={"type": "SQLError", "message": "no column x",
                                                  "step": "1:sql", "hint": "check the name"}))
    out = io.StringIO()
    assert show_job(job, mode="text", stream=out) is None
    text = out.getvalue()
    assert text.startswith(f"job {job.id} sales")
    assert "failed: SQLError: no column x (step 1:sql)" in text
    assert "hint: check the name" in text


def test_human_seconds():
    assert model.human_seconds(3.5) == "3.5 s"
    assert model.human_seconds(75) == "1m 15s"
    assert model.human_seconds(3 * 3600 + 120) == "3h 02m"


def test_finished_job_shows_its_average_throughput(job):
    t0 = time.time() - 10.0
    start(job, t0)
    job._deliver(Progress(job_id=job.id, step="read", rows=1_000_000, bytes=50_000_000,
                          rows_total=1_000_000, ts=t0 + 2.0))
    job._deliver(Progress(job_id=job.id, step="read", rows=1_000_010, bytes=50_000_000,
                          rows_total=1_000_010, ts=t0 + 3.0))  # a last, nearly empty sample
    job._deliver(JobFinished(job_id=job.id, result={"kind": "rows", "rows": 1_000_010}, ts=t0 + 4.0))
    view = JobView(job)
    assert view.vm.throughput_text == "250,002 rows/s · 12.5 MB/s"  # 1M rows, 50 MB in 4 s


def test_running_view_keeps_ticking_without_events(job):
    """Elapsed time moves on while a slow step sends nothing; a finished view stops ticking."""
    start(job)
    view = JobView(job)
    first = view.draws
    deadline = time.monotonic() + 30  # an upper bound, not a speed requirement
    while view.draws < first + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert view.draws >= first + 2
    job._deliver(JobCancelled(job_id=job.id))
    while view.vm.status != "cancelled" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert view.vm.status == "cancelled"
    from workbench.notebook.redraw import redrawer

    assert id(view) not in redrawer()._due  # nothing more planned for it


def test_the_read_step_names_the_source_while_it_is_opened(job):
    start(job)
    job._deliver(Progress(job_id=job.id, step="read", phase="reading sales.csv · 2 s"))
    read = model.view_model(job.state).steps[0]
    assert read.status == "running" and "reading sales.csv · 2 s" in read.detail
