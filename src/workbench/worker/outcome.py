"""How a worker ends a job: the whole-pipeline run, its time limit, and a failure decided
outside ``run_job``. ``tasks``, ``stages`` and ``fanout`` all use these, so they live below them.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from ..dataset_store import data_prefix, job_files_in_use, latest_attempt
from ..errors import Cancelled, Superseded, TimeLimitExceeded, TransientError, WorkbenchError
from ..events import JobFailed
from ..execute import run_job
from . import metrics
from .recovery import add_dead_letter, finish_if_open
from .runtime import Heartbeat, Runtime

log = logging.getLogger("workbench.worker")


def outcome(rec: dict[str, Any]) -> dict[str, Any]:
    """The small JSON a task returns (the catalog has the full record)."""
    return {"job_id": rec["id"], "status": rec["status"], "attempts": rec.get("attempts"),
            "error": rec.get("error"), "result": small_result(rec.get("result"))}


def small_result(result: dict[str, Any] | None) -> dict[str, Any] | None:
    if not result:
        return result
    return {k: v for k, v in result.items() if k in ("kind", "name", "version", "rows", "bytes",
                                                      "checksum", "uri")}


def deadline_check(should_cancel: Callable[[], bool], soft_limit: float) -> Callable[[], bool]:
    """``should_cancel`` that also ends the job cleanly at the soft time limit.

    Celery's own soft limit interrupts the task's main thread only between Python calls, which a
    long Polars pass does not make; this check runs between batches, where stopping is safe.
    """
    deadline = time.monotonic() + soft_limit

    def check() -> bool:
        if time.monotonic() > deadline:
            raise TimeLimitExceeded(f"the job ran past its time limit of {soft_limit:g}s",
                                    hint="split the input, or raise WORKBENCH_SOFT_TIME_LIMIT_* "
                                         "and WORKBENCH_HARD_TIME_LIMIT_* on the workers")
        return should_cancel()

    return check


def clean_dead_attempts(rt: Runtime, spec: dict[str, Any], job_id: str, attempts: int) -> None:
    """Files a crashed attempt was writing (temporary parts included): never visible, now gone.

    Unless a version names files of the job: an attempt that committed and then stopped before
    recording its end (frozen, killed) left a version the next run of the job reports as its
    own (``find_committed``); its files stay, and ``gc`` judges the rest."""

    sink = spec.get("sink") or {}
    if sink.get("kind") != "dataset":
        return
    if job_files_in_use(rt.ctx, sink["name"], job_id):
        log.info("files of %s kept: a version of %s names them", job_id, sink["name"])
        return
    for n in range(1, attempts + 1):
        try:
            rt.ctx.storage.delete_prefix(data_prefix(rt.ctx.namespace, sink["name"], job_id, n))
        except Exception as exc:  # gc removes it later; the new attempt writes elsewhere
            log.warning("could not remove attempt %d of %s: %s", n, job_id, exc)


def superseded(rt: Runtime, job_id: str, attempt: int) -> bool:
    """Whether a later attempt of the job has started (it took the job over from ``attempt``)."""
    return (latest_attempt(rt.ctx, job_id) or 0) > attempt


def fail_job(rt: Runtime, job_id: str, err: WorkbenchError, emit: Callable, *,
             dead_letter_task: str | None = None, attempts: int | None = None,
             clean_spec: dict[str, Any] | None = None, of_attempt: int | None = None) -> bool:
    """Record a failure decided outside ``run_job`` (poison job, bad spec, failed part).

    The dead letter is written before the job's end is announced, so whoever sees the failure
    finds the letter. An ``emit`` that records the steps (a ``job_record.StepRecorder``) leaves
    them in the record, for a view rebuilt from it. ``clean_spec``: the job's spec when its
    last attempt died writing (the stuck-job check); those files go once the failure is
    recorded (not before: a run that was only slow could still have committed them) and before
    it is announced. ``of_attempt``: the attempt failing; if a later attempt took the job over,
    nothing is recorded (that attempt owns the job). Returns whether the failure was recorded.
    """
    rec = rt.ctx.catalog.get_job(job_id)
    if rec["status"] in ("succeeded", "failed", "cancelled"):
        return False
    if of_attempt is not None and int(rec.get("attempts") or 0) != of_attempt:
        log.warning("attempt %d of job %s was taken over by attempt %s before it ended; its "
                    "failure is not recorded: %s", of_attempt, job_id, rec.get("attempts"), err)
        return False
    if dead_letter_task:
        add_dead_letter(rt.ctx, rec, task=dead_letter_task, error=err.to_dict(),
                        attempts=attempts if attempts is not None else rec.get("attempts") or 0)
    kept = getattr(emit, "kept", None)
    if finish_if_open(rt.ctx, job_id, "failed", error=err.to_dict(),
                      result=kept(failed=True) if kept is not None else None,
                      attempt=of_attempt):
        if clean_spec is not None:
            clean_dead_attempts(rt, clean_spec, job_id, int(rec.get("attempts") or 0))
        emit(JobFailed(job_id=job_id, error=err.to_dict()))
        return True
    return False


def run_whole(task: Any, rt: Runtime, pipeline: Any, job_id: str, attempt: int, me: str,
               publish: Callable, cancel_check: Callable[[], bool] | None = None,
               ) -> tuple[str, dict[str, Any]]:
    """Run the job in this task. ``cancel_check``: the task's own ``rt.cancel_check(job_id)``
    when it has one already (its catalog reads are spaced out across the whole task)."""
    # heavy optional dependency: imported on first use
    from celery.exceptions import SoftTimeLimitExceeded

    cfg = rt.cfg
    final = attempt >= cfg.max_attempts
    delays: list[float] = []

    def delay(n: int) -> float:
        delays.append(cfg.retry_delay(n))
        return delays[-1]

    soft = (task.soft_time_limit or cfg.time_limits["pipeline"][0])
    should_cancel = deadline_check(cancel_check or rt.cancel_check(job_id), soft)

    def emit(ev: Any) -> None:
        if final and ev.kind == "job_failed" and WorkbenchError.from_dict(ev.error).retryable:
            # Retries are exhausted: a dead letter, written before the failure is announced.
            add_dead_letter(rt.ctx, rt.ctx.catalog.get_job(job_id), task="run_pipeline",
                            error=ev.error, attempts=attempt)
        publish(ev)

    with Heartbeat(rt.ctx.catalog, job_id, cfg.heartbeat_interval):
        try:
            result = run_job(pipeline, job_id=job_id, ctx=rt.ctx, emit=emit,
                             should_cancel=should_cancel, final_attempt=final, worker=me,
                             runner="celery", retry_delay=delay)
        except Cancelled:
            return "cancelled", outcome(rt.ctx.catalog.get_job(job_id))
        except Superseded as exc:  # the attempt that took the job over records its outcome
            log.warning("%s", exc)
            return "superseded", outcome(rt.ctx.catalog.get_job(job_id))
        except SoftTimeLimitExceeded:
            err = TimeLimitExceeded(f"the job ran past its time limit of {soft:g}s")
            fail_job(rt, job_id, err, publish)
            raise err from None
        except TransientError as err:
            if not final and delays:
                metrics.record_retry(rt.redis, rt.ctx.namespace, "run_pipeline")
                log.info("transient error, retry in %.1fs: %s", delays[-1], err)
                raise task.retry(countdown=delays[-1], max_retries=None) from None
            raise  # run_job recorded the failure and ``emit`` the dead letter
    result.pop("_frame", None)
    metrics.record_rows(rt.redis, rt.ctx.namespace, int(result.get("rows") or 0),
                        int(result.get("bytes_in") or sum(int(i.get("size") or 0)
                                                          for i in result.get("inputs") or [])))
    # what run_job has just recorded: no read of the record back
    return "succeeded", outcome({"id": job_id, "status": "succeeded", "attempts": attempt,
                                 "error": None, "result": result})
