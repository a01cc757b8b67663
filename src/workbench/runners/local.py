"""LocalRunner: ``execute`` on a thread of this process (the embedded default)."""

from __future__ import annotations

import threading
import uuid
import weakref
from typing import Any

from ..context import Context
from ..errors import WorkbenchError
from ..execute import run_job
from ..job_handle import Job
from ..spec.models import Pipeline


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
        self.frame = None  # the rows, for a pipeline without a sink

    def cancel(self) -> None:
        """Stop the job between batches; nothing it wrote becomes visible."""
        self._cancel.set()
        try:
            self._ctx.catalog.request_cancel(self.id)
        except WorkbenchError:
            pass

    @property
    def result(self) -> Any:
        if self.frame is not None and self.state.status == "succeeded":
            return self.frame
        return super().result


class LocalRunner:
    name = "local"

    def __init__(self, ctx: Context | None = None) -> None:
        self._ctx = ctx

    def submit(self, pipeline: Pipeline, *, job_id: str | None = None, wait: bool = False) -> LocalJob:
        ctx = self._ctx or Context.from_settings()
        job = LocalJob(job_id or new_job_id(), ctx)
        ctx.catalog.create_job(job_id=job.id, namespace=ctx.namespace,
                               spec=pipeline.model_dump(mode="json"), runner="local",
                               name=pipeline.name)

        def should_cancel() -> bool:
            # this kernel's Cancel button, or a cancel from elsewhere (the CLI, the jobs table)
            if job._cancel.is_set():
                return True
            if ctx.catalog.cancel_requested(job.id):
                job._cancel.set()
                return True
            return False

        LIVE_JOBS[job.id] = job

        def target() -> None:
            try:
                result = run_job(pipeline, job_id=job.id, ctx=ctx, emit=job._deliver,
                                 should_cancel=should_cancel, runner="local")
                job.frame = result.get("_frame")
            except BaseException:
                pass  # run_job recorded and emitted the failure; the Job carries it

        job._thread = threading.Thread(target=target, name=f"workbench-job-{job.id[:8]}", daemon=True)
        job._thread.start()
        if wait:
            job.wait()
        return job
