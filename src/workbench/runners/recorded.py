"""A handle on a job that runs in another process without an event stream: follow its record.

A LocalRunner job belongs to the kernel (or CLI) that runs it; its events never leave that
process. Anyone else (another kernel's ``wb.job(id)``, the HTTP API, the JupyterLab panel) sees
the job through its catalog record, which the runner updates as it goes: status, and a progress
snapshot with every heartbeat. ``RecordedJob`` turns those record changes into the same typed
events a live handle gives, polling until the job ends (or the handle is dropped).
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from ..context import Context
from ..events import Event, JobCancelled, JobFailed, JobFinished, JobStarted, Progress
from ..job_handle import Job
from ..job_record import outcome_events, step_names

POLL_INTERVAL = 0.5  # seconds between reads of the record while the job runs


def events_for(rec: dict[str, Any], seen: dict[str, Any]) -> list[Event]:
    """The events that move a view from what ``seen`` holds to the record ``rec``.

    ``seen`` is updated in place (``started``, ``progress``, ``done``), so calling this again
    with a newer record gives only what changed.
    """
    out: list[Event] = []
    job_id, status = rec["id"], rec["status"]
    if seen.get("done"):
        return out
    if status != "queued" and not seen.get("started"):
        seen["started"] = True
        steps = step_names(rec.get("spec"))
        out.append(JobStarted(job_id=job_id, name=rec.get("name"), attempt=rec.get("attempts") or 1,
                              worker=rec.get("worker"), steps=steps,
                              ts=rec.get("started_at") or rec.get("submitted_at") or time.time()))
    progress = rec.get("progress")
    if progress and progress != seen.get("progress") and status in ("running", "retrying"):
        seen["progress"] = progress
        out.append(Progress(job_id=job_id, step=progress.get("step") or "", rows=progress.get("rows") or 0,
                            bytes=progress.get("bytes") or 0, rows_total=progress.get("rows_total"),
                            bytes_total=progress.get("bytes_total"),
                            ts=rec.get("heartbeat_at") or time.time()))
    end = rec.get("finished_at") or time.time()
    seconds = end - (rec.get("started_at") or rec.get("submitted_at") or end)
    if status in ("succeeded", "failed"):
        out += outcome_events(rec, end)
    if status == "succeeded":
        out.append(JobFinished(job_id=job_id, result=rec.get("result") or {}, seconds=seconds, ts=end))
    elif status == "failed":
        out.append(JobFailed(job_id=job_id, error=rec.get("error") or {}, seconds=seconds, ts=end))
    elif status == "cancelled":
        out.append(JobCancelled(job_id=job_id, seconds=seconds, ts=end))
    if out and out[-1].terminal:
        seen["done"] = True
    return out


class RecordedJob(Job):
    """A job followed through its catalog record; ``cancel`` sets the flag its runner polls."""

    runner = "local"

    def __init__(self, job_id: str, ctx: Context, record: dict[str, Any],
                 poll_interval: float = POLL_INTERVAL) -> None:
        super().__init__(job_id)
        self._ctx = ctx
        self._seen: dict[str, Any] = {}
        for ev in events_for(record, self._seen):
            self._deliver(ev)
        if not self.done:
            _follow(weakref.ref(self), ctx, job_id, poll_interval)

    def cancel(self) -> None:
        self._ctx.catalog.request_cancel(self.id)


def _follow(ref: "weakref.ref[RecordedJob]", ctx: Context, job_id: str, interval: float) -> None:
    """Poll the record on a thread that holds the handle only weakly (a dropped handle stops it)."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(interval):
            job = ref()
            if job is None or job.done:
                return
            try:
                rec = ctx.catalog.get_job(job_id)
            except Exception:  # the catalog is away for a moment: try again next tick
                continue
            for ev in events_for(rec, job._seen):
                job._deliver(ev)
            del job

    threading.Thread(target=run, name=f"workbench-follow-{job_id[:8]}", daemon=True).start()


__all__ = ["RecordedJob", "events_for"]
