"""Celery task bodies. Each is a plain function taking the bound task first; ``app.py`` registers
them from the ``TASKS`` table (name -> function, kind), where the kind picks the queue and the
time limits.

Every task is idempotent by job id: it claims the job in the catalog before running (see
``recovery``), so a redelivered or duplicated message never runs a finished job again, and a
dataset is committed once per job whatever happens to the worker in between.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable

from .. import maintenance
from ..catalog import FINAL_STATES, jobs
from ..catalog_identity import catalog_id
from ..catalog_retry import CatalogUnavailable
from ..context import Context
from ..errors import AccessDenied, ConfigError, InternalError, NotFound, WorkbenchError
from ..events import JobCancelled, JobFailed, Message
from ..masking import mask_text
from ..scheduling import finish_scheduled_run
from ..scheduling import run_due_schedules as due
from ..scheduling import run_notebook as run_nb
from . import fanout, keys, metrics, stages
from .fanout_commit import run_commit
from .fanout_parts import run_part
from .guard import check_job_id, check_namespace, check_pipeline
from .logs import set_field, task_context
from .outcome import clean_dead_attempts, fail_job, outcome, run_whole
from .recovery import claim, finish_if_open, open_celery_jobs
from .runtime import Runtime, owner_alive, runtime, worker_id
from .stream import redis_errors
from .submit import send_run

log = logging.getLogger("workbench.worker")


# ----------------------------------------------------------------------------- helpers
def _ensure_record(rt: Runtime, job_id: str, spec: dict[str, Any]) -> None:
    """A message can outlive its job record only if the catalog was reset; recreate it."""
    rt.ctx.catalog.create_job(job_id=job_id, namespace=rt.ctx.namespace, spec=spec, runner="celery",
                              name=spec.get("name"))


def _has_record(rt: Runtime, job_id: str) -> bool:
    try:
        rt.ctx.catalog.get_job(job_id, namespace=rt.ctx.namespace)
    except NotFound:
        return False
    return True


def _drop_queued_marker(rt: Runtime, job_id: str) -> None:
    try:
        rt.redis.delete(keys.queued(rt.ctx.namespace, job_id))
    except redis_errors():
        pass


# ----------------------------------------------------------------------------- run_pipeline
def run_pipeline(task: Any, job_id: str, spec: dict[str, Any],
                 options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run a whole pipeline (or plan its fan-out / stage chain) for one job."""
    rt = runtime()
    options = options or {}
    me = worker_id(task.request.hostname)
    t0 = time.monotonic()
    state = "skipped"
    with task_context(job_id=job_id, task_id=task.request.id, task="run_pipeline", worker=me):
        try:
            state, out = _run_pipeline(task, rt, job_id, spec, options, me)
            return out
        except CatalogUnavailable as exc:
            # The job's final state could not be written: never acknowledge that as done. A new
            # message runs the job again once the catalog is back (the claim sees the dead run).
            state = "retry"
            log.warning("catalog unavailable, task retried in %.0fs: %s",
                        rt.cfg.retry_backoff_max, exc)
            raise task.retry(countdown=rt.cfg.retry_backoff_max, max_retries=None) from None
        except Exception as exc:
            # heavy optional dependency: imported on first use
            from celery.exceptions import Retry

            state = "retry" if isinstance(exc, Retry) else "failed"
            raise
        finally:
            seconds = time.monotonic() - t0
            metrics.record_task(rt.redis, rt.ctx.namespace, "run_pipeline", state, seconds)
            log.info("task %s", state, extra={"state": state, "duration": round(seconds, 4)})


def _run_pipeline(task: Any, rt: Runtime, job_id: str, spec: dict[str, Any],
                  options: dict[str, Any], me: str) -> tuple[str, dict[str, Any]]:
    cfg = rt.cfg
    check_job_id(job_id)  # before any record, key or folder is named after it
    sent_from = options.get("catalog")
    if sent_from and sent_from != catalog_id(rt.ctx.catalog):
        return _refuse_other_catalog(rt, job_id, me)
    try:
        checked = check_pipeline(spec, rt.ctx.settings)
    except WorkbenchError as err:
        # Refused before anything ran. The client made the job's record: fail it, so the user
        # sees why. A message with no record gets none.
        log.error("refused job %s: %s", job_id, err)
        if _has_record(rt, job_id):
            publish = rt.publisher(job_id)
            try:
                fail_job(rt, job_id, err, publish)
            finally:
                publish.close()
            return "failed", outcome(rt.ctx.catalog.get_job(job_id))
        return "refused", {"job_id": job_id, "status": "refused", "attempts": 0,
                           "error": err.to_dict(), "result": None}
    try:
        c = claim(rt.ctx, job_id, me, cfg)
    except NotFound:  # the record is made at submit; a write per job only when it is not there
        _ensure_record(rt, job_id, spec)
        c = claim(rt.ctx, job_id, me, cfg)
    # the queued marker goes once the catalog has answered for the job; with Redis away by
    # then, it is left to expire (the stuck check reads it only for a job still queued)
    _drop_queued_marker(rt, job_id)
    if c.decision == "skip":
        log.info("job already %s; not run again", c.record["status"])
        return "skipped", outcome(c.record)
    if c.decision == "wait":
        # Another process is running this job and is alive: come back when it would be stale.
        log.info("job held by %s; checking again in %.0fs", c.record.get("worker"), c.wait_seconds)
        raise task.retry(countdown=c.wait_seconds, max_retries=None)

    rec = c.record
    done_attempts = int(rec.get("attempts") or 0)
    set_field(attempt=done_attempts + 1)
    publish = rt.publisher(job_id)
    try:
        if c.crashed:
            publish(Message(job_id=job_id, level="warning",
                            text=f"attempt {done_attempts} ended without an outcome (its worker "
                                 f"{rec.get('worker') or '?'} stopped); running the job again"))
            clean_dead_attempts(rt, spec, job_id, done_attempts)
        if done_attempts >= cfg.max_attempts:
            err = InternalError(
                f"the job stopped its worker process {done_attempts} times without an outcome "
                "(killed, out of memory, or a crash in native code); it was moved to the dead letters",
                hint="`workbench dead-letters` lists it; fix the cause, then "
                     f"`workbench dead-letters resubmit {job_id}`")
            fail_job(rt, job_id, err, publish, dead_letter_task="run_pipeline",
                     attempts=done_attempts)
            return "dead_letter", outcome(rt.ctx.catalog.get_job(job_id))
        pipeline = checked
        cancel_check = rt.cancel_check(job_id, seen=rec)
        if cancel_check():
            if finish_if_open(rt.ctx, job_id, "cancelled"):
                publish(JobCancelled(job_id=job_id))
            return "cancelled", outcome(rt.ctx.catalog.get_job(job_id))

        plan = fanout.plan(pipeline, rt.ctx)
        if plan.files is not None:
            return fanout.start(task, rt, pipeline, job_id, plan, me, publish)
        if plan.note:
            publish(Message(job_id=job_id, level="info", text=plan.note))
        if options.get("stages") and len(pipeline.named_sources()) > 1:
            publish(Message(job_id=job_id, level="info",
                            text="stages=True: a pipeline with several sources runs in one task"))
        elif options.get("stages"):

            return stages.start(task, rt, pipeline, job_id, me, publish)
        return run_whole(task, rt, pipeline, job_id, done_attempts + 1, me, publish, cancel_check)
    finally:
        publish.close()


def _refuse_other_catalog(rt: Runtime, job_id: str, me: str) -> tuple[str, dict[str, Any]]:
    """The job's record was made in another catalog than this worker's: running it here would
    record it, and write its data, where its submitter never looks. Nothing is written to this
    worker's catalog or storage; the refusal goes to the job's event stream, where the submitter
    sees it (and its kernel records it)."""
    err = ConfigError(
        f"job {job_id} was not run: it was submitted with another catalog than this worker's "
        f"({me}): two deployments share one broker database",
        hint="give each deployment a broker database of its own (WORKBENCH_BROKER_URL "
             "redis://host:6379/<n>), or give this worker the submitter's WORKBENCH_CATALOG_URL "
             "and WORKBENCH_STORAGE_URL")
    log.error("refused job %s: %s", job_id, err)
    publish = rt.publisher(job_id)
    try:
        publish(JobFailed(job_id=job_id, error=err.to_dict()))
    finally:
        publish.close()
    return "refused", {"job_id": job_id, "status": "refused", "attempts": 0,
                       "error": err.to_dict(), "result": None}


# ----------------------------------------------------------------------------- health & maintenance
def health_check(task: Any) -> dict[str, Any]:
    """What this worker can reach: the catalog, storage and Redis (for ``workbench workers``)."""
    rt = runtime()
    out: dict[str, Any] = {"worker": worker_id(task.request.hostname), "time": time.time(),
                           "role": rt.ctx.settings.role,
                           "signs_with": "worker" if task.app.conf.security_key.endswith(
                               "worker.key") else "client"}
    checks: dict[str, Any] = {}
    for name, probe in (("catalog", lambda: rt.ctx.catalog.list_jobs(limit=1)),
                        ("storage", lambda: list(rt.ctx.storage.list(f"{rt.ctx.namespace}/health/"))),
                        ("redis", lambda: rt.redis.ping())):
        t = time.monotonic()
        try:
            probe()
            checks[name] = {"ok": True, "ms": round((time.monotonic() - t) * 1000, 2)}
        except Exception as exc:
            checks[name] = {"ok": False, "error": mask_text(f"{type(exc).__name__}: {exc}")}
    out["checks"] = checks
    out["ok"] = all(c["ok"] for c in checks.values())
    return out


def cleanup(task: Any, retention_seconds: float | None = None) -> dict[str, Any]:
    """Daily: remove soft-deleted versions and dead writes past the retention (maintenance.gc)."""

    rt = runtime()
    retention = retention_seconds if retention_seconds is not None else float(
        os.environ.get("WORKBENCH_RETENTION_SECONDS", 7 * 86400))
    with task_context(task="cleanup", task_id=task.request.id):
        report = maintenance.gc(rt.ctx, retention_seconds=retention, all_namespaces=True)
        log.info("cleanup done", extra={"report": report})
    return report


def detect_stuck_jobs(task: Any) -> dict[str, Any]:
    """Every 30 min: find jobs whose worker is gone or whose message was lost, and act on each.

    A running job whose heartbeat stopped (or whose process is gone) is re-queued while it has
    attempts left, else failed into the dead letters; a queued job whose message Redis no longer
    holds (a Redis restart) is queued again. The reason goes to the job's events.
    """

    rt = runtime()
    cfg = rt.cfg
    now = time.time()
    report: dict[str, list[str]] = {"requeued": [], "failed": [], "lost_messages": []}
    with task_context(task="detect_stuck_jobs", task_id=task.request.id):
        for rec in open_celery_jobs(rt.ctx):
            job_id = rec["id"]
            status = rec["status"]
            try:
                if status == "queued":
                    if now - rec["submitted_at"] < cfg.stale_after:
                        continue
                    if rt.redis.exists(keys.queued(rt.ctx.namespace, job_id)):
                        continue
                    reason = "its queue message was lost (Redis restarted without persistence)"
                    report["lost_messages"].append(job_id)
                else:

                    beat = rec.get("heartbeat_at") or rec.get("started_at") or rec["submitted_at"]
                    limit = cfg.stale_after + (cfg.retry_backoff_max if status == "retrying" else 0)
                    alive = owner_alive(rec.get("worker")) if status == "running" else None
                    if now - beat < limit and alive is not False:
                        continue
                    reason = (f"its worker {rec.get('worker') or '?'} stopped "
                              f"(last heartbeat {now - beat:.0f}s ago)")
                    if int(rec.get("attempts") or 0) >= cfg.max_attempts:
                        pub = rt.publisher(job_id)
                        try:
                            fail_job(rt, job_id, InternalError(
                                f"the job was stuck: {reason}, after {rec.get('attempts')} attempts; "
                                "it was moved to the dead letters",
                                hint=f"`workbench dead-letters resubmit {job_id}` runs it again"),
                                pub, dead_letter_task="run_pipeline",
                                clean_spec=rec.get("spec") or {})
                        finally:
                            pub.close()
                        report["failed"].append(job_id)
                        continue
                    report["requeued"].append(job_id)
                requeue(rt, rec, reason, task.app)
            except redis_errors() as exc:
                log.warning("stuck check of %s skipped: %s", job_id, exc)
        log.info("stuck jobs checked", extra={"report": report})
    return report


def requeue(rt: Runtime, rec: dict[str, Any], reason: str, app: Any) -> None:
    """Send the job again on ``app`` (the Celery app of the task that found it stuck)."""
    pub = rt.publisher(rec["id"])
    try:
        pub(Message(job_id=rec["id"], level="warning", text=f"re-queued: {reason}"))
    finally:
        pub.close()
    send_run(app, rt.redis, rt.ctx.namespace, rec["id"], rec.get("spec") or {},
             {"catalog": catalog_id(rt.ctx.catalog)})


def expire_streams(task: Any) -> dict[str, Any]:
    """Hourly: give every event stream a TTL (a stream of a finished job keeps one day)."""
    # heavy optional dependency: imported on first use
    import sqlalchemy as sa

    rt = runtime()
    fixed = shortened = 0
    finished_ttl = min(rt.cfg.stream_ttl, 86400)
    with task_context(task="expire_streams", task_id=task.request.id):
        batch: list[str] = []
        for key in rt.redis.scan_iter(match=keys.events_pattern(), count=1000):
            batch.append(key)
        for i in range(0, len(batch), 500):
            chunk = batch[i:i + 500]
            ids = {k.rsplit(":", 1)[-1]: k for k in chunk}
            q = sa.select(jobs.c.id, jobs.c.status, jobs.c.finished_at).where(jobs.c.id.in_(list(ids)))
            ended = {r.id: r.finished_at for r in rt.ctx.catalog.rows(q) if r.status in FINAL_STATES}
            pipe = rt.redis.pipeline(transaction=False)
            for k in chunk:
                pipe.ttl(k)
            ttls = pipe.execute()
            pipe = rt.redis.pipeline(transaction=False)
            for k, ttl in zip(chunk, ttls):
                job = k.rsplit(":", 1)[-1]
                if ttl == -1:
                    pipe.expire(k, rt.cfg.stream_ttl)
                    fixed += 1
                # a finished job's stream keeps at least a minute; one already within its
                # time runs out (with a stream TTL under a minute, putting it back to the
                # minute on every run kept it for ever)
                if job in ended and (ttl == -1 or ttl > max(60, finished_ttl)):
                    left = max(60, int(finished_ttl - (time.time() - (ended[job] or 0))))
                    pipe.expire(k, left)
                    shortened += 1
            pipe.execute()
    return {"streams": len(batch), "ttl_set": fixed, "shortened": shortened}


def run_due_schedules(task: Any, now: float | None = None) -> dict[str, Any]:
    """Every minute: fire due notebook schedules as tasks on the notebooks queue."""

    rt = runtime()

    app = task.app  # the app this beat task runs on

    def dispatch(sched: dict[str, Any]) -> str:
        res = app.send_task("workbench.run_notebook", args=[sched], queue="notebooks")
        return res.id

    fired = due(rt.ctx, now, dispatch=dispatch)
    return {"fired": len(fired), "tasks": [f["dispatched"] for f in fired]}


def run_notebook(task: Any, schedule: dict[str, Any]) -> dict[str, Any]:
    """Run one scheduled notebook with papermill (the run is recorded in the catalog)."""

    rt = runtime()
    if not isinstance(schedule, dict) or not isinstance(schedule.get("notebook"), str):
        raise AccessDenied("task message refused: run_notebook needs a schedule object with a "
                           "notebook path")
    namespace = check_namespace(schedule.get("namespace"))
    ctx = rt.ctx if namespace == rt.ctx.namespace else Context(
        rt.ctx.settings.with_(namespace=namespace), rt.ctx.storage, rt.ctx.catalog)
    with task_context(task="run_notebook", task_id=task.request.id, schedule_id=schedule.get("id")):
        try:
            run = run_nb(ctx, schedule["notebook"], schedule.get("parameters") or {},
                         schedule.get("output"), schedule_id=schedule.get("id"))
        except WorkbenchError as exc:
            log.error("notebook run refused or failed: %s", exc)
            run = {"status": "failed", "error": exc.to_dict()}
        if schedule.get("id"):
            finish_scheduled_run(ctx, schedule["id"], run["status"])
    return {k: run.get(k) for k in ("id", "status", "output_uri", "error")}


def _fanout_part(task: Any, *args: Any) -> dict[str, Any]:
    return run_part(task, *args)


def _fanout_commit(task: Any, *args: Any) -> dict[str, Any]:
    return run_commit(task, *args)


def _stage(name: str) -> Callable[..., dict[str, Any]]:
    def run(task: Any, *args: Any) -> dict[str, Any]:
        return stages.run_stage(task, name, *args)

    run.__name__ = name
    run.__doc__ = f"The {name} stage of a stage-by-stage pipeline run."
    return run


ingest = _stage("ingest")
transform = _stage("transform")
persist = _stage("persist")

# name -> (function, kind). The kind is the queue and picks the time limits; maintenance tasks are
# scheduled by beat (see app.beat_schedule).
TASKS: dict[str, tuple[Callable[..., Any], str]] = {
    "workbench.run_pipeline": (run_pipeline, "pipeline"),
    "workbench.ingest": (ingest, "ingestion"),
    "workbench.transform": (transform, "transformation"),
    "workbench.persist": (persist, "persistence"),
    "workbench.fanout_part": (_fanout_part, "ingestion"),
    "workbench.fanout_commit": (_fanout_commit, "persistence"),
    "workbench.run_notebook": (run_notebook, "notebooks"),
    "workbench.health_check": (health_check, "maintenance"),
    "workbench.cleanup": (cleanup, "maintenance"),
    "workbench.detect_stuck_jobs": (detect_stuck_jobs, "maintenance"),
    "workbench.expire_streams": (expire_streams, "maintenance"),
    "workbench.run_due_schedules": (run_due_schedules, "maintenance"),
}
