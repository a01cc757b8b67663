"""LocalRunner: ``execute`` for this kernel, in a child process (default) or on a thread here.

In a child process (``WORKBENCH_LOCAL_ISOLATION=process``, forked by ``forkserver``) a native
abort, an out-of-memory kill or a hang fails the job and the kernel lives on; ``cancel()`` stops
it at once. On a thread (``isolation="thread"``) the job shares the kernel: for tests and
debugging (a breakpoint in a step works there).
"""

from __future__ import annotations

import threading
import time
import uuid
import weakref
from typing import Any

from ..context import Context
from ..errors import ConfigError, TimeLimitExceeded, WorkbenchError
from ..execute import run_job
from ..job_handle import Job
from ..spec.models import Pipeline
from .child import worker_label
from .cleanup import sweep_dead_kernel_jobs
from .isolation import ProcessRun

ISOLATIONS = ("process", "thread")


def new_job_id() -> str:
    return uuid.uuid4().hex


# Jobs running or finished in this process, so ``wb.job(id)`` in the same kernel gets the live
# handle rather than a snapshot from the catalog.
LIVE_JOBS: "weakref.WeakValueDictionary[str, LocalJob]" = weakref.WeakValueDictionary()


class LocalJob(Job):
    runner = "local"

    def __init__(self, job_id: str, ctx: Context) -> None:
        super().__init__(job_id)
        self._ctx = ctx
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: Any = None  # isolation.ProcessRun in process mode
        self.frame = None  # the rows, for a pipeline without a sink

    def cancel(self) -> None:
        """Stop the job; nothing it wrote becomes visible. In a child process: SIGTERM, then a
        kill after ``WORKBENCH_KILL_GRACE`` seconds."""
        self._cancel.set()
        try:
            self._ctx.catalog.request_cancel(self.id)
        except WorkbenchError:
            pass
        if self._process is not None:
            self._process.stop("cancel")

    @property
    def pid(self) -> int | None:
        """The job's process id (process mode), once it has started."""
        return None if self._process is None else self._process.pid

    @property
    def result(self) -> Any:
        if self.frame is not None and self.state.status == "succeeded":
            return self.frame
        return super().result


class LocalRunner:
    name = "local"

    def __init__(self, ctx: Context | None = None, *, isolation: str | None = None) -> None:
        if isolation is not None and isolation not in ISOLATIONS:
            raise ConfigError(f"unknown isolation {isolation!r}", hint="use 'process' or 'thread'")
        self._ctx = ctx
        self._isolation = isolation

    def submit(self, pipeline: Pipeline, *, job_id: str | None = None, wait: bool = False) -> LocalJob:
        ctx = self._ctx or Context.from_settings()
        isolation = self._isolation or ctx.settings.local_isolation
        try:
            sweep_dead_kernel_jobs(ctx)  # once per kernel: jobs of kernels that died
        except WorkbenchError:
            pass
        job = LocalJob(job_id or new_job_id(), ctx)
        ctx.catalog.create_job(job_id=job.id, namespace=ctx.namespace,
                               spec=pipeline.model_dump(mode="json"), runner="local",
                               name=pipeline.name)
        LIVE_JOBS[job.id] = job
        if isolation == "process":
            job._process = ProcessRun(job, ctx, pipeline)
            job._process.start()
        else:
            self._start_thread(job, ctx, pipeline)
        if wait:
            job.wait()
        return job

    @staticmethod
    def _start_thread(job: LocalJob, ctx: Context, pipeline: Pipeline) -> None:
        limit = ctx.settings.job_time_limit
        deadline = time.monotonic() + limit

        def should_cancel() -> bool:
            # the time limit; this kernel's Cancel button; a cancel from elsewhere (the CLI)
            if time.monotonic() > deadline:
                raise TimeLimitExceeded(f"the job ran past its time limit of {limit:g}s",
                                        hint="split the input, or raise WORKBENCH_JOB_TIME_LIMIT")
            if job._cancel.is_set():
                return True
            if ctx.catalog.cancel_requested(job.id):
                job._cancel.set()
                return True
            return False

        def target() -> None:
            try:
                result = run_job(pipeline, job_id=job.id, ctx=ctx, emit=job._deliver,
                                 should_cancel=should_cancel, runner="local", worker=worker_label())
                job.frame = result.get("_frame")
            except BaseException:
                pass  # run_job recorded and emitted the failure; the Job carries it

        job._thread = threading.Thread(target=target, name=f"workbench-job-{job.id[:8]}", daemon=True)
        job._thread.start()
