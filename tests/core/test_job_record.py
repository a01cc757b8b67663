"""What a job record keeps of its view, and the view rebuilt from it (after a kernel restart)."""

from __future__ import annotations

import threading

import polars as pl

import workbench as wb
from workbench.context import Context
from workbench.events import CheckResult, JobFailed, JobFinished, JobStarted, Progress, StepFinished
from workbench.job_handle import JobState
from workbench.job_record import StepRecorder, outcome_events
from workbench.monitor import Monitor
from workbench.notebook import model
from workbench.runners.recorded import RecordedJob
from workbench.spec.io import pipeline_from_dict


def details(state: JobState) -> list[tuple[str, str, str]]:
    return [(s.name, s.mark, s.detail) for s in model.view_model(state).steps]


def test_step_seconds_are_one_value_live_and_reattached():
    """Seconds that round differently at 3 places and at a tenth (0.0496 s drew "0.0 s" live and
    "0.1 s" from a record that kept 0.05) are rounded once, in the event."""
    spec = wb.Pipeline(source=wb.file("x.csv"), steps=[wb.sql("SELECT * FROM input", name="q")],
                       sink=wb.dataset("d")).model_dump(mode="json")
    names = pipeline_from_dict(spec).step_names()
    live = JobState("j")
    recorder = StepRecorder(live.apply)
    recorder(JobStarted(job_id="j", steps=names))
    for name, seconds in zip(names, (0.0496, 0.1496, 0.2496)):
        recorder(StepFinished(job_id="j", step=name, rows=7, seconds=seconds))
    recorder(JobFinished(job_id="j", result={"rows": 7}))
    rec = {"id": "j", "status": "succeeded", "spec": spec, "finished_at": 1.0,
           "result": {"rows": 7, **recorder.kept()}}
    again = JobState("j")
    again.apply(JobStarted(job_id="j", steps=names))
    for ev in outcome_events(rec):
        again.apply(ev)
    assert details(again) == details(live)
    assert [s.seconds for s in live.steps] == [0.05, 0.15, 0.25]


def test_a_failed_job_shows_no_bytes_as_written(wb_home, tmp_path):
    """The check fails after every byte reached the sink's temporary files: nothing is visible,
    so neither the live view, nor the record, nor a view rebuilt from it calls them written."""
    path = tmp_path / "s.csv"
    pl.DataFrame({"region": ["north", None] * 50_000, "qty": range(100_000)}).write_csv(path)
    job = wb.submit(wb.Pipeline(source=wb.file(str(path)), checks=[wb.not_null("region")],
                                sink=wb.dataset("never")), runner="local").wait(120)
    assert job.status == "failed"
    assert max(e.bytes_out for e in job.events if e.kind == "progress") > 0  # it did write
    assert "written" not in model.view_model(job.state).bytes_text
    rec = Context.from_settings().catalog.get_job(job.id)
    assert rec["result"]["progress"]["bytes_out"] == 0 and rec["progress"]["bytes_out"] == 0
    again = RecordedJob(job.id, Context.from_settings(), rec)
    assert again.status == "failed"
    assert "written" not in model.view_model(again.state).bytes_text
    assert details(again.state) == details(job.state)


def test_a_failed_events_state_drops_the_bytes_written():
    state = JobState("j")
    state.apply(JobStarted(job_id="j", steps=["read", "write"]))
    state.apply(Progress(job_id="j", step="write", rows=10, bytes_out=4096))
    assert "written" in model.view_model(state).bytes_text
    state.apply(CheckResult(job_id="j", name="not_null", passed=False))
    state.apply(JobFailed(job_id="j", error={"message": "x", "step": "check"}))
    assert "written" not in model.view_model(state).bytes_text


def test_opening_a_source_is_named_at_once_and_counts_its_seconds():
    """No rows move while a source is opened; the view says what happens and for how long.
    The opening here is held on a gate until the count has moved on (no sleep decides it)."""
    seen: list[Progress] = []
    moved = threading.Event()

    def emit(ev):
        seen.append(ev)
        if ev.phase.endswith("· 1 s"):
            moved.set()

    monitor = Monitor("j", emit)
    with monitor.opening("reading big.csv", interval=0.05):
        assert seen and seen[0].phase == "reading big.csv" and seen[0].rows == 0
        assert moved.wait(60), "the opening's seconds never moved"
    assert all(e.step == "read" and e.rows == 0 for e in seen)
