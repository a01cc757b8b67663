"""Beat's tasks run on the workers: cleanup of soft-deleted data, notebook schedules."""

from __future__ import annotations

import time

import pytest

import workbench as wb

pytestmark = pytest.mark.services


def _two_versions_first_deleted(cluster, tmp_path, name: str, text: str):
    """Two versions of ``name`` written on the workers, then version 1 soft-deleted; the context."""
    from workbench.maintenance import soft_delete

    src = tmp_path / "in.csv"
    src.write_text(text)
    runner = cluster.runner()
    for _ in range(2):
        assert runner.submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset(name))
                             ).wait(120).status == "succeeded"
    ctx = cluster.ctx()
    soft_delete(ctx, name, 1)
    return ctx


def test_cleanup_task_purges_soft_deleted_versions(cluster, tmp_path):
    ctx = _two_versions_first_deleted(cluster, tmp_path, "to_purge", "a\n1\n2\n")
    first = ctx.catalog.list_versions(ctx.namespace, "to_purge", include_deleted=True)[0]
    # the catalog is shared by the session's tests: every soft-deleted version goes, ours included
    doomed = ctx.catalog.deleted_before(time.time() + 1)
    assert ("to_purge", 1) in {(v.name, v.version) for v in doomed}
    report = cluster.app.send_task("workbench.cleanup", kwargs={"retention_seconds": 0},
                                   queue="maintenance").get(timeout=120)
    assert report["versions_purged"] == len(doomed) and not report["errors"]
    assert [v.version for v in ctx.catalog.list_versions(ctx.namespace, "to_purge",
                                                         include_deleted=True)] == [2]
    assert not ctx.storage.exists(first.manifest_key)
    assert wb.read("to_purge").collect().height == 2


def test_cleanup_from_beat_keeps_what_was_deleted_within_the_default_week(cluster, tmp_path):
    """Beat sends cleanup without a retention: 7 days, so a version deleted a moment ago stays."""
    ctx = _two_versions_first_deleted(cluster, tmp_path, "kept_a_week", "a\n1\n")
    report = cluster.app.send_task("workbench.cleanup", queue="maintenance").get(timeout=120)
    assert not report["errors"]
    assert [(v.version, v.deleted_at is not None) for v in ctx.catalog.list_versions(
        ctx.namespace, "kept_a_week", include_deleted=True)] == [(1, True), (2, False)]


def test_due_notebook_schedule_runs_on_the_notebooks_queue(cluster, tmp_path):
    import nbformat

    from workbench.scheduling import get_schedule, list_runs, schedule_notebook

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("region = 'all'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("print('report for', region)")]
    path = tmp_path / "report.ipynb"
    nbformat.write(nb, str(path))
    ctx = cluster.ctx()
    sched = schedule_notebook(ctx, path, "* * * * *", {"region": "north"})
    from workbench.scheduling import due_schedules

    due = due_schedules(ctx, time.time() + 120)  # the session's catalog: others' may be due too
    assert sched["id"] in {s["id"] for s in due}
    fired = cluster.app.send_task("workbench.run_due_schedules", kwargs={"now": time.time() + 120},
                                  queue="maintenance").get(timeout=120)
    assert fired["fired"] == len(due) == len(fired["tasks"])
    run_task = fired["tasks"][[s["id"] for s in due].index(sched["id"])]
    out = cluster.app.AsyncResult(run_task).get(timeout=180)
    assert out["status"] == "succeeded", out
    runs = list_runs(ctx, schedule_id=sched["id"])
    assert runs and runs[0]["status"] == "succeeded" and runs[0]["parameters"] == {"region": "north"}
    assert get_schedule(ctx, sched["id"])["last_status"] == "succeeded"
