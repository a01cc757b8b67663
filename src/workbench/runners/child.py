"""The body of a LocalRunner job process (forked by ``forkserver``): run one job, report in lines.

It takes on the kernel's environment, working folder and import path from the request, runs
``run_job`` exactly as the in-kernel mode does, and writes every event as a JSON line to the
kernel. A rows result travels as the result says (``results``: Arrow IPC in storage, inline
when small). Cancel arrives as SIGTERM and is noticed between batches (a thread
waits for the signal, so it works while the main thread sits in native code); the kernel kills
the process group if that takes longer than the grace period.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cloudpickle  # the analyst's own cell functions arrive by value

from ..context import Context
from ..errors import TimeLimitExceeded
from ..events import Event
from ..execute import run_job
from ..settings import Settings
from ..spec.io import pipeline_from_dict

MACHINE = socket.gethostname()


def worker_label(pid: int | None = None) -> str:
    """Who runs a kernel job, in the form ``worker.runtime.owner_alive`` understands."""
    return f"kernel ({MACHINE} pid {pid or os.getpid()})"


class _Lines:
    """JSON lines to the kernel, from any thread."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def send(self, obj: dict[str, Any]) -> None:
        data = json.dumps(obj, default=str, separators=(",", ":")).encode() + b"\n"
        with self._lock:
            try:
                self._conn.sendall(data)
            except OSError:
                pass  # the kernel is gone; the job still records its end in the catalog


def settings_from_dict(data: dict[str, Any]) -> Settings:
    return Settings(**{**data, "home": Path(data["home"])})


def _take_on(request: dict[str, Any]) -> None:
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ["TMPDIR"] = request["tmp_dir"]  # every temp file of the job in one folder
    tempfile.tempdir = None
    os.makedirs(request["tmp_dir"], exist_ok=True)
    os.chdir(request["cwd"])
    sys.path[:] = request["sys_path"]
    main = sys.modules["__main__"]
    for name, blob in (request.get("main_functions") or {}).items():
        setattr(main, name, cloudpickle.loads(base64.b64decode(blob)))


def _watch_sigterm(cancel: threading.Event) -> None:
    """SIGTERM sets the cancel flag at once, even while the main thread is in native code."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # inherited by every later thread

    def wait() -> None:
        signal.sigwait({signal.SIGTERM})
        cancel.set()

    threading.Thread(target=wait, name="workbench-sigterm", daemon=True).start()


def _beat(ctx: Context, job_id: str, interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        try:
            ctx.catalog.heartbeat(job_id)
        except Exception:  # a busy catalog must not kill the job; the next beat tries again
            pass


def run(conn: socket.socket, request: dict[str, Any]) -> int:
    cancel = threading.Event()
    _watch_sigterm(cancel)
    lines = _Lines(conn)
    lines.send({"pid": os.getpid()})
    _take_on(request)
    job_id = request["job_id"]
    ctx = Context.from_settings(settings_from_dict(request["settings"]))
    limit = float(request["time_limit"])
    deadline = time.monotonic() + limit

    def should_cancel() -> bool:
        if time.monotonic() > deadline:
            raise TimeLimitExceeded(
                f"the job ran past its time limit of {limit:g}s",
                hint="split the input, or raise WORKBENCH_JOB_TIME_LIMIT")
        return cancel.is_set() or ctx.catalog.cancel_requested(job_id)

    def emit(event: Event) -> None:
        lines.send(event.to_dict())

    stop = threading.Event()
    threading.Thread(target=_beat, args=(ctx, job_id, float(request.get("heartbeat", 5.0)), stop),
                     name="workbench-heartbeat", daemon=True).start()
    try:
        pipeline = pipeline_from_dict(request["spec"])
        run_job(pipeline, job_id=job_id, ctx=ctx, emit=emit, should_cancel=should_cancel,
                runner="local", worker=worker_label())
    except BaseException:
        return 0  # run_job recorded and emitted the failure
    finally:
        stop.set()
    return 0
