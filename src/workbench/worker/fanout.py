"""Fan-out: a glob of files with ``parallel=True`` runs as one task per file, committed once.

    run_pipeline ──plan──► fanout_part(file 0) ─┐   each writes its Parquet under the job's
                           fanout_part(file 1) ─┤   attempt prefix and a small part manifest
                           ...                  │   (``_parts/00001.json``) next to it
                           fanout_part(file n) ─┴─► the part that completes the set sends
                                                    fanout_commit: checks + profile over all
                                                    parts, then one manifest = one version

Only the parts travel through Redis as small JSON; the data stays in storage. Every step is
idempotent by (job, attempt, part): a redelivered part rewrites the same keys, a duplicated
commit finds the version already committed. One part failing fails the whole job cleanly: the
attempt prefix is removed and no version appears.

A pipeline splits only when each file can be processed alone: its steps are row-wise (select,
filter, with_columns, rename, cast, drop, drop_nulls without aggregates or windows) and it writes
a dataset (create, overwrite or append). Otherwise the files are read in one task and a message
says why. Column types are planned once for all files (the same inference as a single read of
the glob, when the files are local and uncompressed; else from the first file) so every part
writes the same schema.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import polars as pl

from ..dataset_store import get_dataset
from ..engines.steps import apply_step, step_label
from ..errors import AlreadyExists, NotFound, WorkbenchError
from ..events import Event, JobStarted, Message, StepStarted
from ..spec import models as m
from . import keys
from .fanout_commit import run_commit
from .fanout_parts import cleanup_parts, run_part
from .fanout_plan import Plan, part_source, plan, planned_types
from .outcome import fail_job
from .runtime import Runtime

log = logging.getLogger("workbench.worker.fanout")


# ----------------------------------------------------------------------------- start
def start(task: Any, rt: Runtime, pipeline: m.Pipeline, job_id: str, plan_: Plan, me: str,
          publish: Callable[[Event], None]) -> tuple[str, dict[str, Any]]:
    ctx = rt.ctx
    files = plan_.files or []
    sink = pipeline.sink
    assert isinstance(sink, m.DatasetSink) and isinstance(pipeline.source, m.FileSource)
    attempt = ctx.catalog.start_attempt(job_id, me)
    name = pipeline.name or sink.name
    publish(JobStarted(job_id=job_id, name=name, steps=pipeline.step_names(), attempt=attempt,
                       worker=me))
    publish(StepStarted(job_id=job_id, step="read", index=0))
    try:
        if sink.mode == "create":
            try:
                get_dataset(ctx, sink.name)
                raise AlreadyExists(f"dataset {sink.name!r} already exists", step="write",
                                    hint="use mode='overwrite' for a new version, or 'append'")
            except NotFound:
                pass
        types, schema, notes = planned_types(pipeline.source, files, ctx)
        # Steps are checked against the planned columns now, not in n tasks later: all of
        # them, also those without a type name
        frame = pl.LazyFrame(schema=schema)
        for i, step in enumerate(pipeline.steps):
            frame = apply_step(frame, step, step_label(i, step), settings=ctx.settings)
    except WorkbenchError as err:
        fail_job(rt, job_id, err, publish)
        return "failed", {"job_id": job_id, "status": "failed", "error": err.to_dict()}
    for note in notes:
        publish(Message(job_id=job_id, level="warning", text=note))
    if attempt > 1:  # files of dead earlier attempts: never visible (the first has none)
        cleanup_parts(rt, sink.name, job_id)
    bytes_total = sum(int(f.get("size") or 0) for f in files)
    try:
        rt.redis.delete(keys.fanout(ctx.namespace, job_id, attempt))
    except Exception:
        pass
    app = task.app  # the app this task runs on
    spec = pipeline.model_dump(mode="json")
    info = {"n": len(files), "bytes_total": bytes_total}
    for i, f in enumerate(files):
        part = part_source(pipeline.source, f["path"], types).model_dump(mode="json")
        app.send_task("workbench.fanout_part", args=[job_id, attempt, i, part, types, spec, info],
                      task_id=f"{job_id}-a{attempt}-p{i:05d}", queue="ingestion")
    # The planning process is done with the job: from now on the parts' heartbeats say whether
    # it is alive, not this process (which may exit or run other jobs).
    ctx.catalog.update_job(job_id, worker=f"{me}, {len(files)} parts")
    publish(Message(job_id=job_id, level="info",
                    text=f"split into {len(files)} tasks, one per file"))
    return "fanned_out", {"job_id": job_id, "status": "running", "parts": len(files),
                          "attempt": attempt}


__all__ = ["Plan", "plan", "run_commit", "run_part", "start"]
