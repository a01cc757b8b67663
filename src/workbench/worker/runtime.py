"""What a worker process holds for its tasks: context, Redis client, identity, heartbeats.

Opened lazily in the process that runs tasks (after the pool forks), and reset in each new pool
process: a connection inherited across ``fork`` is shared by two processes and breaks both.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..catalog import opened_catalogs
from ..context import Context
from ..settings import get_settings
from ..storage.disk import pid_alive, sweep_dead_temp
from . import keys
from .config import WorkerConfig
from .stream import StreamPublisher, redis_client, redis_errors


CATALOG_CANCEL_POLL = 0.5  # seconds; the Monitor polls at most this often anyway (CANCEL_INTERVAL)


@dataclass
class Runtime:
    cfg: WorkerConfig
    ctx: Context
    redis: Any
    pid: int

    def publisher(self, job_id: str, on_event: Callable | None = None):
        return StreamPublisher(self.redis, keys.events(self.ctx.namespace, job_id),
                               maxlen=self.cfg.stream_maxlen, ttl=self.cfg.stream_ttl,
                               on_event=on_event, close_timeout=self.cfg.redis_outage_window)

    def cancel_check(self, job_id: str, seen: dict[str, Any] | None = None
                     ) -> Callable[[], bool]:
        """``should_cancel`` for execute: the Redis flag (cheap), else the catalog's (durable).

        A job that already ended elsewhere (a failed part of a fanned-out job) stops too.
        The Redis flag is read on every call; the catalog at most every ``CATALOG_CANCEL_POLL``
        seconds (a trivial job calls this three times within milliseconds, and the catalog
        read was the larger part of it). ``seen``: the job's record as the task has just read
        it (its claim), which stands for the first catalog read.
        """

        key = keys.cancel(self.ctx.namespace, job_id)
        errors = redis_errors()
        last_read = [float("-inf")]
        if seen is not None:
            if seen.get("cancel_requested") or seen.get("status") in ("failed", "cancelled"):
                return lambda: True
            last_read[0] = time.monotonic()

        def should_cancel() -> bool:
            try:
                if self.redis.exists(key):
                    return True
            except errors:
                pass
            now = time.monotonic()
            if now - last_read[0] < CATALOG_CANCEL_POLL:
                return False
            rec = self.ctx.catalog.get_job(job_id)
            last_read[0] = now
            return bool(rec.get("cancel_requested")) or rec["status"] in ("failed", "cancelled")

        return should_cancel


_RUNTIME: Runtime | None = None
_LOCK = threading.Lock()


def runtime() -> Runtime:
    global _RUNTIME
    with _LOCK:
        if _RUNTIME is None or _RUNTIME.pid != os.getpid():

            cfg = WorkerConfig.from_env()
            ctx = Context.from_settings()
            _RUNTIME = Runtime(cfg, ctx, redis_client(cfg.broker_url), os.getpid())
        return _RUNTIME


def reset_after_fork(**_: Any) -> None:
    """``worker_process_init``: drop connections inherited from the parent process."""
    global _RUNTIME

    for cat in opened_catalogs():
        try:
            cat.engine.dispose(close=False)
        except Exception:
            pass
    _RUNTIME = None
    sweep_temp_of_dead_processes()


def sweep_temp_of_dead_processes() -> list[str]:
    """At the start of a worker or of a pool process (one replacing a killed one): remove the
    temp folders (reader copies, DuckDB spill) of processes on this machine that died."""
    try:
        return sweep_dead_temp(get_settings().home)
    except Exception:  # a bad setting or an unreadable folder must not stop the worker
        return []


# ----------------------------------------------------------------------------- identity
MACHINE = socket.gethostname()
_OWNER_RE = re.compile(r"\((?P<machine>\S+) pid (?P<pid>\d+)\)$")


def worker_id(nodename: str | None) -> str:
    """``celery@host (machine pid 1234)``: which worker, and which process on which machine."""
    return f"{nodename or 'worker'} ({MACHINE} pid {os.getpid()})"


def owner_alive(worker: str | None) -> bool | None:
    """Is the process that recorded ``worker`` still alive? None when it ran on another machine."""
    m = _OWNER_RE.search(worker or "")
    if m is None or m["machine"] != MACHINE:
        return None
    pid = int(m["pid"])
    if pid == os.getpid():
        return False  # this process runs one task at a time: that run is over
    return pid_alive(pid)


# ----------------------------------------------------------------------------- heartbeats
class Heartbeat:
    """Refreshes ``heartbeat_at`` while a task runs, even through a long step with no batches."""

    def __init__(self, catalog: Any, job_id: str, interval: float) -> None:
        self._catalog, self._job_id, self._interval = catalog, job_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="workbench-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._catalog.heartbeat(self._job_id)
            except Exception:  # a busy catalog must not kill the job; the next beat tries again
                pass


def now() -> float:
    return time.time()
