"""The Celery app: Redis broker, signed JSON tasks, six queues, late acks, time limits, beat.

``celery -A workbench.worker.app worker|beat|flower`` finds ``app`` here; it is built on first
access (not at import) from ``WorkerConfig.from_env()`` — the same function the client uses, so
the broker options agree everywhere.

Delivery is at-least-once (``acks_late`` + ``task_reject_on_worker_lost``): a task whose process
dies is handed out again, and every task is idempotent by job id (``recovery.claim``). The
visibility timeout is longer than any hard time limit, so Redis never hands a running task to a
second worker.

Task messages are signed (``signing``): the app is set up with this process's key where it is
made, never at import. A worker or beat start switches the process to the worker role (its key,
and the trust rules that ``settings.on_worker`` turns on), whichever command started it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from typing import Any

from ..errors import WorkbenchError, register_error
from ..events import JobCancelled
from ..iceberg import needs_warm_up, warm_up
from ..settings import get_settings
from . import kombu_fix, logs, signing
from .config import QUEUES, WorkerConfig
from .fanout_parts import end_part, fail_fanout
from .metrics import serve
from .outcome import TimeLimitExceeded, clean_dead_attempts, fail_job
from .recovery import finish_if_open
from .runtime import reset_after_fork, runtime, sweep_temp_of_dead_processes
from .tasks import TASKS

_APP: Any = None
_LOCK = threading.Lock()


def celery_config(cfg: WorkerConfig) -> dict[str, Any]:
    # heavy optional dependency: imported on first use
    from kombu import Queue

    # A dead worker's unacked tasks come back after the visibility timeout, found by a sweep
    # every ``restore_interval`` seconds (kombu's default sweep is every ~100 s).
    transport = {"visibility_timeout": cfg.visibility_timeout, "socket_connect_timeout": 5,
                 "health_check_interval": 15, "unacked_restore_interval": cfg.restore_interval,
                 "unacked_restore_throttle": 1}
    return {
        "broker_url": cfg.broker_url,
        "result_backend": cfg.result_backend,
        "broker_transport_options": transport,
        "result_backend_transport_options": {"visibility_timeout": cfg.visibility_timeout},
        "redis_socket_connect_timeout": 5,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # a worker waits out a Redis restart
        "result_backend_always_retry": True,
        # Backoff from 10 ms doubling to 10 s: enough tries to outlast a Redis outage of
        # ``redis_outage_window`` (10 tries gave up after ~5 s and marked a finished task FAILURE).
        "result_backend_max_retries": 10 + int(cfg.redis_outage_window / 10),
        "result_backend_max_sleep_between_retries_ms": 10_000,
        # Signed JSON only (``signing.celery_settings`` adds the keys): a message in any other
        # format (pickle, plain JSON) or signed by an unknown key is refused, never run.
        "task_serializer": "auth",
        "result_serializer": "json",
        "event_serializer": "json",
        "accept_content": ["auth"],
        "result_accept_content": ["json"],
        # At-least-once, one task at a time per process.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_disable_prefetch": True,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "worker_max_tasks_per_child": cfg.max_tasks_per_child,
        "worker_max_memory_per_child": cfg.max_memory_per_child,
        "result_expires": cfg.result_expires,
        "result_extended": True,
        # No STARTED state in the result backend: it was one more Redis write (and read) per
        # task that nothing reads. A job's progress is in its own events and catalog record;
        # Flower and `celery events` see a task start from the task-started event.
        "task_track_started": False,
        # Events for Flower and `workbench workers`.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "task_queues": [Queue(q, routing_key=q) for q in QUEUES],
        "task_default_queue": "pipeline",
        "task_routes": {name: {"queue": kind, "routing_key": kind}
                        for name, (_fn, kind) in TASKS.items()},
        "timezone": "UTC",
        "beat_schedule": beat_schedule(cfg),
    }


def beat_schedule(cfg: WorkerConfig) -> dict[str, Any]:
    def entry(task: str, every: float) -> dict[str, Any]:
        # A maintenance message nobody took before the next one is due is dropped, not piled up.
        return {"task": task, "schedule": every, "options": {"queue": "maintenance",
                                                             "expires": every}}

    return {
        "workbench-cleanup": entry("workbench.cleanup", cfg.cleanup_interval),
        "workbench-detect-stuck-jobs": entry("workbench.detect_stuck_jobs", cfg.stuck_check_interval),
        "workbench-expire-streams": entry("workbench.expire_streams", cfg.expire_interval),
        "workbench-notebook-schedules": entry("workbench.run_due_schedules",
                                              cfg.schedule_check_interval),
    }


def make_app(cfg: WorkerConfig | None = None) -> Any:
    """Build a configured app with every task of ``tasks.TASKS`` registered."""
    # heavy optional dependency: imported on first use
    from celery import Celery

    kombu_fix.apply()  # before any connection exists: a Redis outage must not end the worker
    cfg = cfg or WorkerConfig.from_env()
    register_error(TimeLimitExceeded)
    app = Celery("workbench", set_as_current=False)
    app.conf.update(celery_config(cfg))
    signing.configure(app, cfg.signing_role, cfg.keys_dir)
    app.workbench_config = cfg
    for name, (fn, kind) in TASKS.items():
        soft, hard = cfg.time_limits[kind]
        app.task(name=name, bind=True, soft_time_limit=soft, time_limit=hard, acks_late=True,
                 reject_on_worker_lost=True, throws=(WorkbenchError,),
                 queue=kind)(signing.guard(fn))
    _connect_signals(cfg)
    return app


def enter_worker_role(app: Any = None) -> None:
    """A worker or beat starts in this process: from now on it is a worker (key and rules).

    Called on ``celeryd_init`` and ``beat_init``, so ``celery -A workbench.worker.app worker``
    gets it as surely as ``workbench worker``. Pool processes fork later and inherit it.
    """
    os.environ["WORKBENCH_ROLE"] = "worker"
    cfg = getattr(app, "workbench_config", None)
    if cfg is None or cfg.signing_role == "worker":
        return
    app.workbench_config = dataclasses.replace(cfg, role="worker")
    signing.configure(app, "worker", cfg.keys_dir)


def get_app() -> Any:
    global _APP
    with _LOCK:
        if _APP is None:
            _APP = make_app()
        return _APP


_SIGNALS_CONNECTED = False


def _connect_signals(cfg: WorkerConfig) -> None:
    """Worker-process hooks; they act only inside a worker, never in a client."""
    global _SIGNALS_CONNECTED
    if _SIGNALS_CONNECTED:
        return
    _SIGNALS_CONNECTED = True
    # heavy optional dependency: imported on first use
    from celery import signals

    signals.worker_process_init.connect(reset_after_fork, weak=False)
    signals.before_task_publish.connect(signing.stamp_message, weak=False)
    signals.celeryd_init.connect(_on_worker_init, weak=False)
    signals.beat_init.connect(_on_beat_init, weak=False)
    fmt = cfg.log_format
    signals.after_setup_logger.connect(lambda logger=None, **kw: logs.install(logger, fmt=fmt),
                                       weak=False)
    signals.after_setup_task_logger.connect(
        lambda logger=None, **kw: logs.install(logger, fmt=fmt), weak=False)
    signals.worker_ready.connect(_start_metrics, weak=False)
    signals.worker_ready.connect(_check_stuck_at_start, weak=False)
    signals.task_revoked.connect(_on_revoked, weak=False)
    signals.task_failure.connect(_on_task_failure, weak=False)


def _on_worker_init(sender: Any = None, instance: Any = None, **_: Any) -> None:
    enter_worker_role(getattr(instance, "app", None))
    sweep_temp_of_dead_processes()  # a worker killed before this one left its temp folders
    _import_commit_libraries()


def _import_commit_libraries() -> None:
    """Import the Iceberg library here, before the pool processes fork, so that each one has
    it: a pool process that had not committed before spent ~0.4 s of imports (0.7-0.9 s with
    its first table) inside its first commit, the fan-out commits on two workers took 0.9-1.0
    s instead of 0.15-0.2 s. Tables off: nothing to import."""
    try:
        if needs_warm_up(get_settings()):
            warm_up()
    except Exception:  # noqa: BLE001 - a bad setting is reported by the first job that reads it
        pass


def _on_beat_init(sender: Any = None, **_: Any) -> None:
    enter_worker_role(getattr(sender, "app", None))


def _start_metrics(**_: Any) -> None:
    rt = runtime()
    if rt.cfg.metrics_port <= 0:
        return

    try:
        serve(rt.cfg.metrics_port, rt.redis, rt.ctx.catalog, rt.ctx.namespace)
    except OSError as exc:  # a second worker on this machine: the first one serves the totals
        logging.getLogger("workbench.worker.metrics").warning(
            "metrics port %d unavailable: %s", rt.cfg.metrics_port, exc)


def _check_stuck_at_start(sender: Any = None, **_: Any) -> None:
    """A starting worker looks for stuck jobs once (a worker that died before it, with no beat
    running), by queueing the check for whichever worker takes maintenance tasks."""
    import logging

    try:
        get_app().send_task("workbench.detect_stuck_jobs", queue="maintenance",
                            expires=get_app().conf.beat_schedule[
                                "workbench-detect-stuck-jobs"]["schedule"] * 3)
    except Exception as exc:  # Redis still starting: beat's schedule covers it
        logging.getLogger("workbench.worker").warning("stuck-job check at start not sent: %s", exc)


def _on_revoked(sender: Any = None, request: Any = None, terminated: bool = False, **_: Any) -> None:
    """A revoked job's message was dropped by the worker: record the cancel and tell watchers."""

    task_id = getattr(request, "id", None)
    if not task_id or getattr(sender, "name", "") != "workbench.run_pipeline":
        return
    rt = runtime()
    try:
        if finish_if_open(rt.ctx, task_id, "cancelled",
                          from_states=("queued", "retrying", "running") if terminated
                          else ("queued", "retrying")):
            pub = rt.publisher(task_id)
            pub(JobCancelled(job_id=task_id))
            pub.close(5)
    except Exception:
        pass


def _on_task_failure(sender: Any = None, task_id: str | None = None, exception: Any = None,
                     args: Any = None, **_: Any) -> None:
    """A task killed at its hard time limit never records anything itself (its process is
    gone): the worker's main process fails the job now, instead of leaving it to the stuck-job
    check. A time limit is not transient, so the job is not retried."""
    # heavy optional dependency: imported on first use
    from celery.exceptions import TimeLimitExceeded as HardLimit

    if not isinstance(exception, HardLimit) or not args:
        return
    name = getattr(sender, "name", "")
    if name in ("workbench.transform", "workbench.persist"):
        job_id = args[1]
    elif name.startswith("workbench.") and name not in ("workbench.run_notebook",) \
            and isinstance(args[0], str):
        job_id = args[0]
    else:
        return

    rt = runtime()
    limit = getattr(sender, "time_limit", None)
    err = TimeLimitExceeded(
        f"{name.split('.', 1)[1]} ran past its hard time limit of {limit:g}s and was stopped"
        if limit else f"{name} ran past its hard time limit and was stopped",
        hint="split the input, or raise WORKBENCH_HARD_TIME_LIMIT_* (and the visibility timeout)")
    pub = rt.publisher(job_id)
    try:
        if name == "workbench.fanout_part":

            job_id, attempt, index, _part, _types, spec, info = args
            fail_fanout(rt, job_id, attempt, err)
            end_part(rt, job_id, attempt, index, int(info["n"]), spec, info, pub, sender.app)
        else:
            if name == "workbench.run_pipeline":

                rec = rt.ctx.catalog.get_job(job_id)
                clean_dead_attempts(rt, args[1], job_id, int(rec.get("attempts") or 0))
            fail_job(rt, job_id, err, pub)
    except Exception:  # the stuck-job check is the fallback
        pass
    finally:
        pub.close(5)


def __getattr__(name: str) -> Any:
    # ``celery -A workbench.worker.app`` reads ``app``: build it then, not at import.
    if name == "app":
        return get_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
