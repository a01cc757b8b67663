"""A job attempt that a later attempt took over (its heartbeat had gone stale, so a worker ran the
job again) commits nothing and records nothing when it comes back to life: the job, its record and
its data belong to the later attempt. The takeover is what a worker's claim does to the record
(``start_attempt``), done by the test while the first attempt is held in a step."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

import workbench as wb
from workbench.context import Context
from workbench.dataset_store import check_attempt_current, commit_version
from workbench.errors import Superseded
from workbench.execute import run_job
from workbench.worker.outcome import clean_dead_attempts

from test_store_branches import _csv, _until


def hold_at_build(frame: pl.LazyFrame, gate: str, marker: str) -> pl.LazyFrame:
    """A step that holds the job while its plan is built (before any file is written)."""
    Path(marker).touch()
    while not os.path.exists(gate):
        time.sleep(0.02)
    return frame


def _in_thread(fn) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run() -> None:
        try:
            out["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    return t, out


def _files(ctx: Context, name: str) -> list[str]:
    return sorted(o.key for o in ctx.storage.list(f"{ctx.namespace}/datasets/{name}/"))


def test_an_attempt_taken_over_while_held_commits_nothing(wb_home, tmp_path):
    """``run_job`` as a worker's task runs it, in a thread of this process."""
    gate, marker = tmp_path / "gate", tmp_path / "marker"
    pipeline = wb.Pipeline(
        source=wb.file(_csv(tmp_path / "a.csv", "x\n1\n2\n")),
        steps=[wb.python("test_store_branches:hold", gate=str(gate), marker=str(marker))],
        sink=wb.dataset("taken"))
    ctx = Context.from_settings()
    events: list = []
    outcome: dict = {}

    def attempt_one() -> None:
        try:
            run_job(pipeline, job_id="job1", ctx=ctx, emit=events.append, worker="worker-1",
                    runner="celery")
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            outcome["error"] = exc

    t = threading.Thread(target=attempt_one)
    t.start()
    try:
        _until(marker.exists, "the first attempt's rows reached the held step")
        assert ctx.catalog.start_attempt("job1", "worker-2") == 2  # what a worker's claim does
    finally:
        gate.touch()
        t.join(120)
    err = outcome.get("error")
    assert type(err) is Superseded, err
    assert err.message == ("attempt 1 of job job1 was taken over by attempt 2 while it ran (its "
                           "heartbeat had gone stale); it committed nothing")
    with pytest.raises(wb.NotFound):
        wb.info("taken")
    assert _files(ctx, "taken") == []  # neither a manifest nor the held attempt's parts
    rec = ctx.catalog.get_job("job1")
    assert (rec["status"], rec["attempts"], rec["worker"]) == ("running", 2, "worker-2")
    assert rec["error"] is None and rec["finished_at"] is None
    assert [e.kind for e in events if e.kind.startswith("job_")] == ["job_started"]


def test_the_fence_and_the_record_update_of_a_superseded_attempt(wb_home, tmp_path):
    ctx = Context.from_settings()
    ctx.catalog.create_job(job_id="j1", namespace=ctx.namespace, spec={}, runner="celery",
                           name="n")
    assert ctx.catalog.start_attempt("j1", "w1") == 1
    check_attempt_current(ctx, "j1", 1)  # the latest attempt passes
    check_attempt_current(ctx, "no-such-job", 1)  # a write outside any job has no later attempt
    assert ctx.catalog.start_attempt("j1", "w2") == 2
    with pytest.raises(Superseded, match="attempt 1 of job j1 was taken over by attempt 2"):
        check_attempt_current(ctx, "j1", 1)
    with pytest.raises(Superseded):
        commit_version(ctx, name="never", job_id="j1", files=[], rows=0, schema={}, profile={},
                       spec=None, inputs=[], bytes_in=0, checks=[], mode="overwrite", attempt=1)
    assert _files(ctx, "never") == []
    assert ctx.catalog.finish_job("j1", "failed", attempt=1) is False
    assert ctx.catalog.get_job("j1")["status"] == "running"
    assert ctx.catalog.finish_job("j1", "succeeded", attempt=2) is True
    assert ctx.catalog.get_job("j1")["status"] == "succeeded"



def test_a_taken_over_attempt_leaves_the_later_attempts_files(wb_home, tmp_path):
    """Attempt 1 is held before it writes anything; attempt 2 runs the job whole and commits
    v1. Attempt 1, released, clears only its own folder (it used to clear the job's, v1's files
    with it) and stops at its commit: v1 stays whole."""
    gate, marker = tmp_path / "gate", tmp_path / "marker"
    src = _csv(tmp_path / "a.csv", "x\n1\n2\n3\n")
    held = wb.Pipeline(source=wb.file(src), sink=wb.dataset("kept"), steps=[wb.python(
        "test_takeover:hold_at_build", gate=str(gate), marker=str(marker))])
    ctx = Context.from_settings()
    t, out = _in_thread(lambda: run_job(held, job_id="job2", ctx=ctx, worker="worker-1",
                                        runner="celery"))
    try:
        _until(marker.exists, "attempt 1 to be held before its write")
        # attempt 2, the same job run whole by another worker
        result = run_job(wb.Pipeline(source=wb.file(src), sink=wb.dataset("kept")),
                         job_id="job2", ctx=ctx, worker="worker-2", runner="celery")
        assert (result["version"], result["rows"]) == (1, 3)
    finally:
        gate.touch()
        t.join(120)
    assert type(out.get("error")) is Superseded, out
    assert wb.read("kept").collect()["x"].to_list() == [1, 2, 3]
    data = [k for k in _files(ctx, "kept") if "/data/" in k]
    assert data and all("/data/job2/a2/" in k for k in data), data
    rec = ctx.catalog.get_job("job2")
    assert (rec["status"], rec["attempts"], rec["worker"]) == ("succeeded", 2, "worker-2")


def test_a_takeover_keeps_the_files_of_a_version_the_job_committed(wb_home, tmp_path):
    """An attempt that committed and stopped before recording its end: the next attempt's clean-up
    of dead attempts keeps the files the version names (that attempt then reports the version)."""
    src = _csv(tmp_path / "a.csv", "x\n1\n")
    p = wb.Pipeline(source=wb.file(src), sink=wb.dataset("committed"))
    ctx = Context.from_settings()
    run_job(p, job_id="job3", ctx=ctx, worker="worker-1", runner="celery")
    before = _files(ctx, "committed")
    clean_dead_attempts(SimpleNamespace(ctx=ctx), p.model_dump(mode="json"), "job3", 1)
    assert _files(ctx, "committed") == before
    assert wb.read("committed").collect()["x"].to_list() == [1]
