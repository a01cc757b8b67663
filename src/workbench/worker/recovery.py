"""At-least-once delivery made safe: claiming a job, dead letters, and stuck jobs.

With ``acks_late`` a task can arrive twice (a crashed worker's task is redelivered; a re-queued
job meets its old message). Before running, a task *claims* its job in the catalog with an
optimistic update that succeeds only if nobody else holds it: a job that is finished is never
run again, a job another live process is running is left to it, and a job whose previous run
died (process gone, or heartbeat stale) is taken over. The catalog counts the attempts, so a job
that kills its worker every time ends in the dead letters instead of crashing workers forever.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..catalog import FINAL_STATES, dead_letters, job_from_row, jobs
from ..context import Context
from ..errors import NotFound
from .config import WorkerConfig
from .runtime import owner_alive

log = logging.getLogger("workbench.worker")


@dataclass
class Claim:
    decision: str  # "run" | "skip" (already final) | "wait" (another live run holds it)
    record: dict[str, Any]
    crashed: bool = False  # the previous attempt died without recording an outcome
    wait_seconds: float = 0.0


def decide(rec: dict[str, Any], cfg: WorkerConfig, now: float) -> Claim:
    status = rec["status"]
    if status in FINAL_STATES:
        return Claim("skip", rec)
    if status in ("queued", "retrying"):
        return Claim("run", rec)
    # "running": is that run still alive?
    age = now - (rec.get("heartbeat_at") or rec.get("started_at") or 0)
    alive = owner_alive(rec.get("worker"))
    if alive is False or age > cfg.stale_after:
        return Claim("run", rec, crashed=True)
    return Claim("wait", rec, wait_seconds=max(1.0, cfg.stale_after - age + 1.0))


def claim(ctx: Context, job_id: str, worker: str, cfg: WorkerConfig) -> Claim:
    """Take the job for this process, or say why not. Safe against concurrent claimers."""
    for _ in range(5):
        rec = ctx.catalog.get_job(job_id)
        c = decide(rec, cfg, time.time())
        if c.decision != "run":
            return c
        cond = [jobs.c.id == job_id, jobs.c.status == rec["status"]]
        cond.append(jobs.c.worker.is_(None) if rec.get("worker") is None
                    else jobs.c.worker == rec["worker"])
        cond.append(jobs.c.heartbeat_at.is_(None) if rec.get("heartbeat_at") is None
                    else jobs.c.heartbeat_at == rec["heartbeat_at"])
        n = ctx.catalog.execute(jobs.update().where(*cond).values(
            status="running", worker=worker, heartbeat_at=time.time()))
        if n == 1:
            return c
    return Claim("wait", ctx.catalog.get_job(job_id), wait_seconds=cfg.stale_after)


def add_dead_letter(ctx: Context, rec: dict[str, Any], *, task: str, error: dict[str, Any],
                    attempts: int) -> None:
    stmt = ctx.catalog._insert_ignore(dead_letters).values(
        job_id=rec["id"], namespace=rec["namespace"], task=task,
        spec_json=json.dumps(rec.get("spec") or {}), error_json=json.dumps(error),
        attempts=attempts, created_at=time.time()).on_conflict_do_nothing()
    ctx.catalog.execute(stmt)


def list_dead_letters(ctx: Context, *, limit: int = 100) -> list[dict[str, Any]]:
    q = (sa.select(dead_letters).where(dead_letters.c.namespace == ctx.namespace)
         .order_by(dead_letters.c.created_at.desc()).limit(limit))
    out = []
    for row in ctx.catalog.rows(q):
        m = dict(row._mapping)
        m["spec"] = json.loads(m.pop("spec_json") or "{}")
        m["error"] = json.loads(m.pop("error_json") or "null")
        out.append(m)
    return out


def get_dead_letter(ctx: Context, job_id: str) -> dict[str, Any]:
    for row in ctx.catalog.rows(sa.select(dead_letters).where(dead_letters.c.job_id == job_id)):
        m = dict(row._mapping)
        m["spec"] = json.loads(m.pop("spec_json") or "{}")
        m["error"] = json.loads(m.pop("error_json") or "null")
        return m
    raise NotFound(f"no dead letter for job {job_id!r}",
                   hint="`workbench dead-letters` lists them")


def mark_resubmitted(ctx: Context, job_id: str, new_id: str) -> None:
    ctx.catalog.execute(dead_letters.update().where(dead_letters.c.job_id == job_id)
                        .values(resubmitted_as=new_id))


def finish_if_open(ctx: Context, job_id: str, status: str, *, error: dict | None = None,
                   result: dict | None = None, from_states: tuple[str, ...] = ("queued", "running",
                                                                             "retrying"),
                   attempt: int | None = None) -> bool:
    """Record an end only if the job has none yet (two racing recorders: one wins). ``attempt``:
    only while that attempt is the job's latest (an attempt a later one took over records
    nothing)."""
    values: dict[str, Any] = {"status": status, "finished_at": time.time()}
    if error is not None:
        values["error_json"] = json.dumps(error)
    if result is not None:
        values["result_json"] = json.dumps(result)
    cond = [jobs.c.id == job_id, jobs.c.status.in_(from_states)]
    if attempt is not None:
        cond.append(jobs.c.attempts == attempt)
    n = ctx.catalog.execute(jobs.update().where(*cond).values(**values))
    return n == 1


def open_celery_jobs(ctx: Context) -> list[dict[str, Any]]:
    q = sa.select(jobs).where(jobs.c.namespace == ctx.namespace, jobs.c.runner == "celery",
                              jobs.c.status.in_(("queued", "running", "retrying")))
    return [job_from_row(r) for r in ctx.catalog.rows(q)]
