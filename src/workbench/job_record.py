"""What a job's catalog record keeps of its view, and the events that rebuild the view from it.

Whoever runs a job (the LocalRunner through ``run_job``, a worker's whole run, its stage chain or
its fan-out commit) feeds its events through a ``StepRecorder``; the recorder's ``kept()`` goes
into the record with the job's end. A view rebuilt from the record (``wb.job(id)`` after a kernel
restart, a Celery job whose event stream expired, another process following the record) replays
``outcome_events(record)``: each step with its own rows and seconds, the checks with their rows,
the failed step marked, as the live view showed them.
"""

from __future__ import annotations

import time
from typing import Any

from .errors import WorkbenchError
from .events import CheckResult, Emit, Event, Progress, StepFinished, StepStarted
from .spec.io import pipeline_from_dict

CHECK_FIELDS = ("name", "column", "passed", "severity", "failed_rows", "examples", "message")
PROGRESS_FIELDS = ("step", "rows", "bytes", "rows_total", "bytes_total", "bytes_out")


class StepRecorder:
    """An emit that remembers, for the job record, where each step and the checks ended."""

    def __init__(self, emit: Emit, steps: dict[str, Any] | None = None) -> None:
        self._emit = emit
        # a stage chain hands the steps its earlier stages recorded to the next stage
        self.steps: dict[str, dict[str, Any]] = dict(steps or {})
        self.checks: list[dict[str, Any]] = []
        self.progress: dict[str, Any] | None = None

    def record(self, event: Event) -> None:
        kind = event.kind
        if kind == "check_result":
            self.checks.append({k: getattr(event, k) for k in CHECK_FIELDS})
        elif kind == "step_finished":
            # the event's own seconds (rounded once, in the event): live and reattached agree
            ev: Any = event
            self.steps[ev.step] = {"rows": ev.rows, "bytes": ev.bytes, "seconds": ev.seconds}
        elif kind == "progress":
            self.progress = {k: getattr(event, k) for k in PROGRESS_FIELDS}

    def __call__(self, event: Event) -> None:
        self.record(event)
        self._emit(event)

    def kept(self, *, failed: bool = False) -> dict[str, Any]:
        """The part of the record's ``result`` that rebuilds the view. A failed job's written
        bytes are left out: nothing it wrote is visible, so none of it counts as written."""
        out: dict[str, Any] = {"steps": self.steps}
        if self.progress:
            out["progress"] = {**self.progress, "bytes_out": 0} if failed else self.progress
        if self.checks:  # with their offending rows, as shown (a manifest keeps no examples)
            out["checks"] = self.checks
        return out


def step_names(spec: Any) -> list[str]:
    try:
        return pipeline_from_dict(spec).step_names()
    except (WorkbenchError, TypeError, ValueError):  # an old or foreign spec: no step list
        return []


def outcome_events(rec: dict[str, Any], end: float | None = None) -> list[Event]:
    """What the record keeps of a finished job besides its status: the checks' results and where
    the steps stood, so a view rebuilt from it (after a kernel restart) shows what the live one
    did: the failed step marked, the others in their true state, the checks with their rows."""
    end = end if end is not None else (rec.get("finished_at") or time.time())
    job_id, names = rec["id"], step_names(rec.get("spec"))
    result = rec.get("result") or {}
    out: list[Event] = [
        CheckResult(job_id=job_id, ts=end, **{k: c[k] for k in c if k in CHECK_FIELDS})
        for c in result.get("checks") or [] if isinstance(c, dict)]
    last = result.get("progress")
    if isinstance(last, dict):  # the last figures the live view showed
        out.append(Progress(job_id=job_id, ts=end, step=last.get("step") or "",
                            rows=last.get("rows") or 0, bytes=last.get("bytes") or 0,
                            rows_total=last.get("rows_total"), bytes_total=last.get("bytes_total"),
                            bytes_out=(last.get("bytes_out") or 0) if rec["status"] == "succeeded"
                            else 0))
    steps = result.get("steps") if isinstance(result.get("steps"), dict) else {}

    def finished(n: str) -> StepFinished:
        return StepFinished(job_id=job_id, step=n, rows=steps[n].get("rows"),
                            bytes=steps[n].get("bytes"), seconds=steps[n].get("seconds") or 0.0,
                            ts=end)

    if rec["status"] == "succeeded" and steps:  # each step with its own rows, as they were shown
        out += [finished(n) for n in names if n in steps]
    elif rec["status"] == "succeeded" and names:
        out.append(StepFinished(job_id=job_id, step=names[-1], rows=result.get("rows"),
                                bytes=result.get("bytes"), ts=end))
    failed = (rec.get("error") or {}).get("step")
    if rec["status"] == "failed" and failed in names:
        # the steps up to the failed one had started; a check runs on the whole pass, so all had
        upto = len(names) if failed == "check" else names.index(failed) + 1
        out += [StepStarted(job_id=job_id, step=n, ts=end) for n in names[:upto]]
        out += [finished(n) for n in names[:upto] if n in steps and n != failed]
    return out


__all__ = ["StepRecorder", "outcome_events", "step_names"]
