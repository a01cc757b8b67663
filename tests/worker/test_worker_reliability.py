"""Retries, dead letters and cancel on real workers (kills, poison jobs and load are in
tests/faults)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import workbench as wb
from workbench.cli import main as cli_main
from wb_cluster import storage_files, wait_for, write_csv

pytestmark = pytest.mark.services

TIMEOUT = 120


def gated_step(marker: Path, gate: Path):
    """A step that writes its process id to ``marker`` and holds the rows until the test
    creates ``gate`` (``wbtest_steps.wait_for_gate``)."""
    return wb.python("wbtest_steps:wait_for_gate", marker=str(marker), gate=str(gate))


def versions(cluster, name: str) -> list[int]:
    ctx = cluster.ctx()
    return [v.version for v in ctx.catalog.list_versions(ctx.namespace, name)]


def test_cancel_running_job_leaves_nothing(cluster, tmp_path):
    """The job is held in its step with its rows (running: it cannot end before the cancel);
    the cancel is requested, then the rows are let go: the job stops before it commits and
    leaves nothing."""
    src = write_csv(tmp_path / "in.csv", 2_000)
    marker, gate = tmp_path / "started", tmp_path / "gate"
    job = cluster.runner().submit(wb.Pipeline(source=wb.file(str(src)),
                                              steps=[gated_step(marker, gate)],
                                              sink=wb.dataset("cancelled_mid")))
    wait_for(lambda: marker.exists() and marker.read_text().split(), "the job to run", TIMEOUT)
    catalog = cluster.ctx().catalog
    assert catalog.get_job(job.id)["status"] == "running"
    job.cancel()
    record = catalog.get_job(job.id)
    assert (record["status"], bool(record["cancel_requested"])) == ("running", True)
    gate.touch()
    job.wait(TIMEOUT)
    assert job.status == "cancelled"
    assert job.events[-1].kind == "job_cancelled"
    record = catalog.get_job(job.id)
    assert (record["status"], record["attempts"]) == ("cancelled", 1)
    assert storage_files(cluster.home, "cancelled_mid") == []
    with pytest.raises(wb.NotFound):
        wb.info("cancelled_mid")


def test_transient_errors_are_retried_with_backoff(cluster, tmp_path):
    src = write_csv(tmp_path / "in.csv", 100)
    counter = tmp_path / "count"
    job = cluster.runner().submit(wb.Pipeline(
        source=wb.file(str(src)), steps=[wb.python("wbtest_steps:flaky", counter=str(counter),
                                                   failures=2)],
        sink=wb.dataset("flaky_ok"))).wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    retries = [e for e in job.events if e.kind == "retrying"]
    assert [r.attempt for r in retries] == [1, 2]
    assert all(r.delay > 0 for r in retries) and retries[0].error["type"] == "TransientError"
    assert job.state.retries == 2
    record = cluster.ctx().catalog.get_job(job.id)
    assert record["attempts"] == 3 and record["status"] == "succeeded"
    assert versions(cluster, "flaky_ok") == [1]


def test_exhausted_retries_dead_letter_then_resubmit(cluster, tmp_path, capsys):
    src = write_csv(tmp_path / "in.csv", 100)
    counter = tmp_path / "count"
    job = cluster.runner().submit(wb.Pipeline(
        source=wb.file(str(src)), steps=[wb.python("wbtest_steps:flaky", counter=str(counter),
                                                   failures=4)],
        sink=wb.dataset("flaky_dead"))).wait(TIMEOUT)
    assert job.status == "failed"
    assert job.state.error["type"] == "TransientError" and job.state.retries == 2
    record = cluster.ctx().catalog.get_job(job.id)
    assert record["attempts"] == 3 and record["error"]["type"] == "TransientError"

    assert cli_main(["dead-letters", "--json"]) == 0
    letters = json.loads(capsys.readouterr().out)["dead_letters"]
    assert any(d["job_id"] == job.id and d["attempts"] == 3 for d in letters)
    assert cli_main(["dead-letters", "resubmit", job.id, "--json"]) == 0
    again = json.loads(capsys.readouterr().out)["resubmitted_as"]
    new = cluster.runner().attach(again).wait(TIMEOUT)
    assert new.status == "succeeded", new.error  # failures 4 and 5 are behind us now
    assert versions(cluster, "flaky_dead") == [1]
    assert cli_main(["dead-letters", "--json"]) == 0
    letters = json.loads(capsys.readouterr().out)["dead_letters"]
    assert next(d for d in letters if d["job_id"] == job.id)["resubmitted_as"] == again
