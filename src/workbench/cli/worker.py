"""Worker commands: worker, beat, submit, status, cancel, workers, dead-letters."""

from __future__ import annotations

import sys
from typing import Any

from ..context import Context
from ..errors import SpecError
from ..runners.celery_runner import CeleryRunner
from ..runners.status import workers_info
from ..settings import get_settings
from ..spec.io import load_pipeline, pipeline_from_dict
from ..textview import follow
from ..textview import human_time as _when
from ..worker.recovery import get_dead_letter, list_dead_letters, mark_resubmitted
from .output import add_command as _add
from .output import output, whole_number

ALL_QUEUES = "ingestion,transformation,persistence,pipeline,notebooks,maintenance"


def register(sub) -> None:
    p = _add(sub, "worker", cmd_worker, "start a Celery worker for workbench jobs")
    p.add_argument("--queues", "-Q", default=ALL_QUEUES,
                   help=f"comma-separated queues to consume (default: {ALL_QUEUES})")
    p.add_argument("--concurrency", "-c", type=int, default=None,
                   help="pool processes (default: one per CPU)")
    p.add_argument("--name", "-n", default=None, help="node name, e.g. ingest1@%%h")
    p.add_argument("--loglevel", "-l", default="INFO", help="DEBUG, INFO (default), WARNING or ERROR")
    p.add_argument("--pool", default=None, help="prefork (default), solo or threads")

    p = _add(sub, "beat", cmd_beat, "start the maintenance scheduler (cleanup, stuck jobs, expiry)")
    p.add_argument("--schedule", default=None,
                   help="beat's state file (default: <WORKBENCH_HOME>/celerybeat-schedule)")
    p.add_argument("--loglevel", "-l", default="INFO", help="DEBUG, INFO (default), WARNING or ERROR")

    p = _add(sub, "submit", cmd_submit,
             "send a pipeline spec to the workers; prints the job id, then progress until done")
    p.add_argument("spec", help="a pipeline file, .yaml/.yml or .json")
    p.add_argument("--no-follow", action="store_true", help="print the job id and return")
    p.add_argument("--stages", action="store_true", help="run ingest/transform/persist as separate tasks")
    p.add_argument("--fallback", choices=["local"], default=None,
                   help="run here when the broker is unreachable")

    p = _add(sub, "status", cmd_status, "a job's status, attempts, progress and error")
    p.add_argument("job_id", help="the job id (from `workbench submit` or `workbench jobs`)")

    p = _add(sub, "cancel", cmd_cancel, "cancel a queued or running job")
    p.add_argument("job_id", help="the job id (from `workbench submit` or `workbench jobs`)")

    p = _add(sub, "workers", cmd_workers, "workers that are up: queues, running jobs, stats")
    p.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for replies")

    p = _add(sub, "dead-letters", cmd_dead_letters, "jobs that exhausted their retries")
    p.add_argument("action", nargs="?", default="list", choices=["list", "resubmit"],
                   help="list the dead letters (default), or resubmit one")
    p.add_argument("job_id", nargs="?", help="the job to resubmit")
    p.add_argument("--limit", type=whole_number(1), default=50,
                   help="how many, newest first (default: 50)")


# ----------------------------------------------------------------------------- helpers
def _app() -> Any:
    # the app for the broker configured now (a process may have built one for another broker)
    return _runner()._app()


def _runner(**kwargs: Any) -> Any:
    return CeleryRunner(**kwargs)


# ----------------------------------------------------------------------------- commands
def _become_worker() -> None:
    # Set before the app is built, so it signs with the worker key from the start and the
    # trust rules of a worker (settings.on_worker) apply in every pool process.
    import os

    os.environ["WORKBENCH_ROLE"] = "worker"


def cmd_worker(args) -> int:
    _become_worker()
    argv = ["worker", "-Q", args.queues, "--loglevel", args.loglevel]
    if args.concurrency:
        argv += ["-c", str(args.concurrency)]
    if args.name:
        argv += ["-n", args.name]
    if args.pool:
        argv += ["--pool", args.pool]
    _app().worker_main(argv)
    return 0


def cmd_beat(args) -> int:
    _become_worker()
    schedule = args.schedule or str(get_settings().home / "celerybeat-schedule")
    get_settings().home.mkdir(parents=True, exist_ok=True)
    _app().start(["beat", "-s", schedule, "--loglevel", args.loglevel])
    return 0


def cmd_submit(args) -> int:
    pipeline = load_pipeline(args.spec)
    job = _runner(fallback=args.fallback, stages=args.stages).submit(pipeline)
    if not args.json:
        print(job.id, flush=True)
    if args.no_follow:
        if args.json:
            output(args, {"job_id": job.id, "status": job.status}, "")
        return 0
    follow(job, sys.stderr)
    out = {"job_id": job.id, "status": job.status, "error": job.state.error,
           "result": {k: v for k, v in (job.state.result or {}).items() if k not in ("arrow",)}}
    if args.json:
        output(args, out, "")
    if job.status == "failed":
        return 1
    return 0 if job.status == "succeeded" else 1


def _job_text(rec: dict[str, Any]) -> str:
    lines = [f"{rec['id']}  {rec['status']}  ({rec.get('runner')}, {rec.get('attempts') or 0} attempts)",
             f"  name       {rec.get('name') or '-'}",
             f"  submitted  {_when(rec.get('submitted_at'))}",
             f"  started    {_when(rec.get('started_at'))}",
             f"  finished   {_when(rec.get('finished_at'))}",
             f"  worker     {rec.get('worker') or '-'}"]
    prog = rec.get("progress") or {}
    if prog and rec["status"] in ("running", "retrying"):
        lines.append(f"  progress   {prog.get('step')}: {prog.get('rows')} rows")
    if rec.get("error"):
        e = rec["error"]
        lines.append(f"  error      {e.get('type')}: {e.get('message')}")
        if e.get("hint"):
            lines.append(f"  hint       {e['hint']}")
    if rec.get("result"):
        r = rec["result"]
        if r.get("kind") == "dataset":
            lines.append(f"  result     {r.get('name')} v{r.get('version')}, {r.get('rows')} rows")
    if rec.get("cancel_requested") and rec["status"] not in ("cancelled",):
        lines.append("  cancel     requested")
    return "\n".join(lines)


def cmd_status(args) -> int:
    ctx = Context.from_settings()
    rec = ctx.catalog.get_job(args.job_id, ctx.namespace)
    rec.pop("spec", None) if not args.json else None
    output(args, rec, lambda: _job_text(rec))
    return 0


def cmd_cancel(args) -> int:
    status = _runner().cancel(args.job_id)
    text = ("cancelled" if status == "cancelled"
            else f"cancel requested; the job is {status} and stops at its next batch"
            if status in ("running", "retrying") else f"the job already ended: {status}")
    output(args, {"job_id": args.job_id, "status": status}, text)
    return 0


def cmd_workers(args) -> int:
    info = workers_info(args.timeout)

    def text() -> str:
        if not info:
            return "no workers answered (start one with `workbench worker`)"
        lines = []
        for w in info:
            done = sum(w["processed"].values()) if isinstance(w["processed"], dict) else w["processed"]
            lines.append(f"{w['name']}  pid {w['pid']}  concurrency {w['concurrency']}  "
                         f"up {w['uptime']}s  processed {done}")
            lines.append(f"  queues: {', '.join(w['queues'])}")
            for a in w["active"]:
                lines.append(f"  running {a['task']} {a['job_id'] or a['id']}")
        return "\n".join(lines)

    output(args, {"workers": info}, text)
    return 0


def cmd_dead_letters(args) -> int:
    ctx = Context.from_settings()
    if args.action == "list":
        rows = list_dead_letters(ctx, limit=args.limit)

        def text() -> str:
            if not rows:
                return "no dead letters"
            out = []
            for r in rows:
                err = r.get("error") or {}
                again = f"  -> resubmitted as {r['resubmitted_as']}" if r.get("resubmitted_as") else ""
                out.append(f"{r['job_id']}  {_when(r['created_at'])}  {r['task']}  "
                           f"{r['attempts']} attempts  {err.get('type')}: {err.get('message')}{again}")
            return "\n".join(out)

        output(args, {"dead_letters": rows}, text)
        return 0
    if not args.job_id:
        raise SpecError("resubmit needs the job id", hint="workbench dead-letters resubmit JOB_ID")
    letter = get_dead_letter(ctx, args.job_id)
    pipeline = pipeline_from_dict(letter["spec"])
    job = _runner(ctx=ctx).submit(pipeline)
    mark_resubmitted(ctx, args.job_id, job.id)
    output(args, {"job_id": args.job_id, "resubmitted_as": job.id},
           f"resubmitted {args.job_id} as {job.id}")
    return 0


__all__ = ["register", "workers_info"]
