"""The kernel's side of a job in its own process: start it, feed its lines to the Job, stop it.

A reader thread turns the child's JSON lines into events on the ``Job`` handle. When the
connection ends without a final event the process died (a native abort, the OOM killer, a kill):
the job is failed with what happened, in the catalog and on the handle, and its files are
removed, so a dead child holds no space. ``cancel`` sends SIGTERM (noticed between batches) and
kills the process group after ``kill_grace`` seconds; the time limit does the same.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cloudpickle  # sends cell-defined step functions by value

from ..context import Context
from ..errors import (
    MemoryLimitExceeded, ProcessDied, StepError, TimeLimitExceeded, WorkbenchError,
)
from ..events import Event, JobCancelled, JobFailed, JobFinished
from ..monitor import resident_bytes
from ..spec.models import Pipeline, PythonStep
from ..storage.disk import sweep_dead_temp
from .cleanup import remove_job_files
from .forkserver import fork_server

MEMORY_SAMPLE = 0.1  # seconds between samples of a job process's resident memory


def job_tmp_dir(ctx: Context, job_id: str) -> Path:
    """The private temp folder of one kernel job (reader copies, spill, the result frame)."""
    return ctx.settings.home / "tmp" / f"job-{job_id}"


def main_functions(pipeline: Pipeline) -> dict[str, str]:
    """Python steps defined in a notebook cell (``"__main__:f"``), sent by value to the child."""
    out: dict[str, str] = {}
    for i, step in enumerate(pipeline.steps):
        if not isinstance(step, PythonStep) or not step.function.startswith("__main__:"):
            continue
        name = step.function.split(":", 1)[1]
        fn = getattr(sys.modules["__main__"], name, None)
        if fn is None:
            continue  # the child reports the missing function like the kernel would
        try:
            out[name] = base64.b64encode(cloudpickle.dumps(fn)).decode()
        except Exception as exc:
            raise StepError(f"the Python step {step.function!r} cannot be sent to the job's "
                            f"process: {exc}", step=f"python[{i + 1}]",
                            hint="move it to a module, or set WORKBENCH_LOCAL_ISOLATION=thread "
                                 "to run jobs in the kernel itself") from None
    return out


def _event_for_record(job_id: str, rec: dict[str, Any], committed: Any) -> Event:
    """The final event that says what the catalog already holds."""
    if rec["status"] == "succeeded":
        result = rec.get("result") or (committed.to_dict() if committed is not None else {})
        return JobFinished(job_id=job_id, result=result)
    if rec["status"] == "failed":
        return JobFailed(job_id=job_id, error=rec.get("error") or {})
    return JobCancelled(job_id=job_id)


def _describe_death(code: int | None, sig: int) -> str:
    if sig == signal.SIGABRT:
        return "aborted (SIGABRT: a crash in native code, such as a failed allocation)"
    if sig == signal.SIGKILL:
        return "was killed (SIGKILL: out of memory, or killed from outside)"
    if sig == signal.SIGSEGV:
        return "crashed (SIGSEGV: a fault in native code)"
    if sig:
        return f"was ended by signal {signal.Signals(sig).name}"
    return f"exited with code {code} before reporting an outcome"


class ProcessRun:
    """One job's process, seen from the kernel."""

    def __init__(self, job: Any, ctx: Context, pipeline: Pipeline) -> None:
        self.job, self.ctx, self.pipeline = job, ctx, pipeline
        self.pid: int | None = None
        self._pid_known = threading.Event()
        self._ended = threading.Event()
        self._stop_reason: str | None = None  # "cancel" | "time" | "memory"
        self._memory_used = 0
        self.tmp = job_tmp_dir(ctx, job.id)

    # -- start ---------------------------------------------------------------------
    def start(self) -> None:
        s = self.ctx.settings
        request = {
            "job_id": self.job.id, "spec": self.pipeline.model_dump(mode="json"),
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(s).items()},
            "env": dict(os.environ), "cwd": os.getcwd(), "sys_path": list(sys.path),
            "main_functions": main_functions(self.pipeline), "tmp_dir": str(self.tmp),
            "time_limit": s.job_time_limit, "heartbeat": s.heartbeat,
        }
        conn = fork_server().connect(request)
        threading.Thread(target=self._read, args=(conn,), name=f"workbench-job-{self.job.id[:8]}",
                         daemon=True).start()
        threading.Thread(target=self._watch_time, name="workbench-job-limit", daemon=True).start()
        if self.ctx.settings.job_memory_limit > 0:
            threading.Thread(target=self._watch_memory, name="workbench-job-memory",
                             daemon=True).start()

    # -- lines from the child ---------------------------------------------------------
    def _read(self, conn: socket.socket) -> None:
        exit_info: dict[str, Any] | None = None
        terminal = False
        try:
            with conn, conn.makefile("rb") as lines:
                for raw in lines:
                    msg = json.loads(raw)
                    if "pid" in msg and "kind" not in msg:
                        self.pid = int(msg["pid"])
                        self._pid_known.set()
                    elif "exit" in msg and "kind" not in msg:
                        exit_info = msg
                    else:
                        ev = Event.from_dict(msg)
                        if ev.terminal:  # the job is over: its temp folder goes before anyone hears
                            shutil.rmtree(self.tmp, ignore_errors=True)
                        terminal = terminal or ev.terminal
                        self.job._deliver(ev)
        except Exception:  # a torn connection or an unreadable frame: settled below
            pass
        finally:
            self._pid_known.set()
            self._ended.set()
            shutil.rmtree(self.tmp, ignore_errors=True)  # a dead child holds no space:
            sweep_dead_temp(self.ctx.settings.home)  # nor its reader copies and DuckDB spill
            if not terminal:
                self._settle(exit_info or {"exit": None, "signal": 0})

    def _settle(self, exit_info: dict[str, Any]) -> None:
        """The process ended without a final event: record why, remove what it wrote.

        The catalog decides, not the reason it was stopped: a job that committed before the kill
        landed succeeded (its version is visible and whole), and a final state the process wrote
        before it died stands. So the state reported is always the one the catalog shows.
        """
        event = self._final_event(exit_info)
        try:
            committed = remove_job_files(self.ctx, self.job.id, self.pipeline.model_dump(mode="json"))
            rec = self.ctx.catalog.get_job(self.job.id)
            if rec["status"] in ("succeeded", "failed", "cancelled"):
                event = _event_for_record(self.job.id, rec, committed)
            elif committed is not None:
                self.ctx.catalog.finish_job(self.job.id, "succeeded", result=committed.to_dict())
                event = JobFinished(job_id=self.job.id, result=committed.to_dict())
            elif isinstance(event, JobFailed):
                self.ctx.catalog.finish_job(self.job.id, "failed", error=event.error)
            else:
                self.ctx.catalog.finish_job(self.job.id, "cancelled")
        except Exception:
            pass  # the catalog is away: the stale-job check at the next start settles it
        self.job._deliver(event)

    def _final_event(self, exit_info: dict[str, Any]) -> Event:
        if self._stop_reason == "cancel":
            return JobCancelled(job_id=self.job.id)
        if self._stop_reason == "memory":
            limit = self.ctx.settings.job_memory_limit
            err: WorkbenchError = MemoryLimitExceeded(
                f"the job's process used {self._memory_used / 2**20:,.0f} MiB, over its memory "
                f"limit of {limit / 2**20:,.0f} MiB, and was stopped; the kernel is fine and "
                "nothing the job wrote is visible",
                hint="read fewer rows at a time (a filter or a select early), run it on a "
                     "worker, or raise WORKBENCH_JOB_MEMORY_LIMIT")
            return JobFailed(job_id=self.job.id, error=err.to_dict())
        if self._stop_reason == "time":
            err = TimeLimitExceeded(
                f"the job ran past its time limit of {self.ctx.settings.job_time_limit:g}s "
                "and its process was stopped",
                hint="split the input, or raise WORKBENCH_JOB_TIME_LIMIT")
        else:
            what = _describe_death(exit_info.get("exit"), int(exit_info.get("signal") or 0))
            err = ProcessDied(
                f"the job's process {what}; the kernel is fine and nothing the job wrote is "
                "visible", hint="if it ran out of memory, read fewer rows at a time or run it "
                                "on a worker; "
                                "`wb.preview` and the in-kernel mode "
                                "(WORKBENCH_LOCAL_ISOLATION=thread) help to debug it")
        return JobFailed(job_id=self.job.id, error=err.to_dict())

    # -- stopping --------------------------------------------------------------------
    def _watch_time(self) -> None:
        if not self._ended.wait(self.ctx.settings.job_time_limit + self.ctx.settings.kill_grace):
            # the child's own deadline check did not stop it (a long native call): stop it here
            self.stop("time")

    def _watch_memory(self) -> None:
        """Sample the job process's resident memory; past the limit, kill it (a job that keeps
        allocating would reach the limit again during a grace period)."""
        limit = self.ctx.settings.job_memory_limit
        self._pid_known.wait(30)
        while self.pid is not None and not self._ended.wait(MEMORY_SAMPLE):
            used = resident_bytes(self.pid)
            if used > limit:
                self._memory_used = used
                self.stop("memory")
                return

    def stop(self, reason: str) -> None:
        """SIGTERM (the child stops at the next batch), then SIGKILL after the grace period."""
        if self._ended.is_set():
            return
        self._stop_reason = self._stop_reason or reason
        self._pid_known.wait(30)
        if self.pid is None:
            return
        if reason == "memory":
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return

        def kill_later() -> None:
            if not self._ended.wait(self.ctx.settings.kill_grace):
                try:
                    os.killpg(self.pid, signal.SIGKILL)  # type: ignore[arg-type]
                except (ProcessLookupError, PermissionError):
                    pass

        threading.Thread(target=kill_later, name="workbench-job-kill", daemon=True).start()

    def wait_ended(self, timeout: float | None = None) -> bool:
        return self._ended.wait(timeout)

