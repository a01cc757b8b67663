"""What a dead kernel job leaves behind, removed: its staged files, temp folder and open record.

Called when a job's process dies, and once per kernel at the first submit for the jobs of kernels
that died (their record still says ``running`` and their process is gone, or their heartbeat is
older than ``WORKBENCH_STALE_AFTER``). A job that managed to commit before it died keeps its
version: its record is completed instead.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any

import sqlalchemy as sa

from ..catalog import job_from_row, jobs
from ..context import Context
from ..dataset_store import Dataset, find_committed, job_data_prefix
from ..errors import ProcessDied, WorkbenchError
from ..storage.disk import sweep_dead_temp
from ..worker.runtime import owner_alive

_SWEPT: set[str] = set()


def stale_after() -> float:
    try:
        return float(os.environ.get("WORKBENCH_STALE_AFTER") or 60.0)
    except ValueError:
        return 60.0


def remove_job_files(ctx: Context, job_id: str, spec: dict[str, Any]) -> Dataset | None:
    """Remove every attempt's staged files of a job that did not commit; returns the version
    it committed, if it did (then nothing is removed: the version is visible and whole)."""
    sink = spec.get("sink") or {}
    if sink.get("kind") != "dataset":
        return None
    done = find_committed(ctx, sink["name"], job_id)
    if done is not None:
        return done
    # every attempt's files, the temporary ``.part`` files of a write cut short included
    ctx.storage.delete_prefix(job_data_prefix(ctx.namespace, sink["name"], job_id))
    return None


def _owner_gone(worker: str | None, beat: float, now: float) -> bool:
    if str(worker or "").endswith(f" pid {os.getpid()})"):
        return False  # a job of this very kernel, running on a thread here
    alive = owner_alive(worker)
    return alive is False or (alive is None and now - beat > stale_after())


def sweep_dead_kernel_jobs(ctx: Context, *, force: bool = False) -> list[str]:
    """Settle the jobs of kernels (or kernel job processes) that died; returns their ids."""
    key = f"{ctx.settings.catalog_url}|{ctx.namespace}"
    if key in _SWEPT and not force:
        return []
    _SWEPT.add(key)
    now = time.time()
    settled: list[str] = []
    q = sa.select(jobs).where(jobs.c.namespace == ctx.namespace, jobs.c.runner == "local",
                              jobs.c.status.in_(("queued", "running", "retrying")))
    for rec in [job_from_row(r) for r in ctx.catalog.rows(q)]:
        worker = rec.get("worker")
        beat = rec.get("heartbeat_at") or rec.get("started_at") or rec.get("submitted_at") or 0
        if not str(worker or "").startswith("kernel (") or not _owner_gone(worker, beat, now):
            continue
        try:
            committed = remove_job_files(ctx, rec["id"], rec.get("spec") or {})
            if committed is not None:
                ctx.catalog.finish_job(rec["id"], "succeeded", result=committed.to_dict())
            else:
                err = ProcessDied(f"the job's process ({worker}) stopped without an outcome; "
                                  "its files were removed", hint="run the job again")
                ctx.catalog.finish_job(rec["id"], "failed", error=err.to_dict())
            shutil.rmtree(ctx.settings.home / "tmp" / f"job-{rec['id']}", ignore_errors=True)
            settled.append(rec["id"])
        except WorkbenchError:
            continue
    _remove_orphan_temp(ctx)
    return settled


def _remove_orphan_temp(ctx: Context) -> None:
    """Temp folders of kernel jobs whose record is final (or gone), and the reader copies and
    DuckDB spill of processes that died."""
    sweep_dead_temp(ctx.settings.home)
    base = ctx.settings.home / "tmp"
    if not base.is_dir():
        return
    for entry in base.glob("job-*"):
        job_id = entry.name[4:]
        try:
            rec = ctx.catalog.get_job(job_id)
            open_ = rec["status"] in ("queued", "running", "retrying")
        except WorkbenchError:
            open_ = False
        if not open_:
            shutil.rmtree(entry, ignore_errors=True)
