"""Stage by stage: ``ingest`` → ``transform`` → ``persist`` as a Celery chain on three queues.

Asked for with ``CeleryRunner(stages=True)``: reading (I/O bound), transforming (CPU bound) and
persisting (bound by the sink) then scale on separate worker pools. Between stages the data is a
Parquet file under ``<namespace>/staging/<job>/a<attempt>/<stage>/`` in storage, and only that
key travels through Redis. ``persist`` commits as ``execute`` does (checks, profile, one manifest)
and the staging files are removed once the job ends, however it ends.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import polars as pl

from ..dataset_store import HashingWriter, find_committed
from ..engines.sql_sandbox import JobTemp, temp_root
from ..engines.steps import apply_step, step_label
from ..errors import Cancelled, Superseded, TransientError, WorkbenchError, as_workbench_error
from ..events import (
    Event, JobCancelled, JobFinished, JobStarted, Message, Retrying, StepFinished, StepStarted,
)
from ..connectors import dataset_relations
from ..execute import (
    SINKS, SOURCES, classify_error, counts_the_source, estimate_bytes_per_row, hash_inputs_async,
    result_summary, source_label,
)
from ..job_record import StepRecorder
from ..monitor import Monitor
from ..spec import models as m
from ..spec.io import pipeline_from_dict
from ..spec.models import validate_name
from . import metrics
from .commit import commit_guard, scan_parts, stats_exprs
from .logs import task_context
from .outcome import deadline_check, fail_job, run_whole, superseded
from .recovery import finish_if_open
from .runtime import Heartbeat, Runtime, runtime, worker_id

log = logging.getLogger("workbench.worker.stages")

QUEUE = {"ingest": "ingestion", "transform": "transformation", "persist": "persistence"}


def job_staging(namespace: str, job_id: str) -> str:
    return f"{validate_name(namespace, 'namespace')}/staging/{validate_name(job_id, 'job id')}/"


def staging_prefix(namespace: str, job_id: str, attempt: int) -> str:
    return f"{job_staging(namespace, job_id)}a{attempt}/"


def start(task: Any, rt: Runtime, pipeline: m.Pipeline, job_id: str, me: str,
          publish: Callable[[Event], None]) -> tuple[str, dict[str, Any]]:
    if pipeline.sink is None:
        publish(Message(job_id=job_id, level="info",
                        text="stages=True needs a sink; the pipeline runs as one task"))
        attempt = int(rt.ctx.catalog.get_job(job_id).get("attempts") or 0) + 1
        return run_whole(task, rt, pipeline, job_id, attempt, me, publish)
    attempt = rt.ctx.catalog.start_attempt(job_id, me)
    publish(JobStarted(job_id=job_id, name=pipeline.name or getattr(pipeline.sink, "name", None),
                       steps=pipeline.step_names(), attempt=attempt, worker=me))
    app = task.app  # the app this task runs on
    spec = pipeline.model_dump(mode="json")
    sigs = []
    for stage in ("ingest", "transform", "persist"):
        args = [job_id, attempt, spec]
        sig = app.signature(f"workbench.{stage}", args=args, queue=QUEUE[stage],
                            task_id=f"{job_id}-a{attempt}-{stage}")
        sigs.append(sig)
    chain = sigs[0]
    for sig in sigs[1:]:
        chain = chain | sig
    chain.apply_async()
    # The stages' heartbeats say whether the job is alive from now on, not this process.
    rt.ctx.catalog.update_job(job_id, worker=f"{me}, stages")
    return "chained", {"job_id": job_id, "status": "running", "attempt": attempt}


def run_stage(task: Any, stage: str, *args: Any) -> dict[str, Any]:
    """One stage of a chained job; ``args`` are the previous stage's result (not for ingest)."""

    prev: dict[str, Any] | None = None
    if stage == "ingest":
        job_id, attempt, spec = args
    else:
        prev, job_id, attempt, spec = args
    rt = runtime()
    cfg = rt.cfg
    me = worker_id(task.request.hostname)
    t0 = time.monotonic()
    state = "skipped"
    with task_context(job_id=job_id, task_id=task.request.id, task=stage, attempt=attempt, worker=me):
        rec = rt.ctx.catalog.get_job(job_id)
        if (prev or {}).get("skipped") or rec["status"] not in ("running", "retrying") \
                or rec.get("attempts") != attempt:
            return {"skipped": True}
        pipeline = pipeline_from_dict(spec)
        stream = rt.publisher(job_id)
        # each stage adds its steps to those of the stages before it: the record keeps them all
        publish = StepRecorder(stream, (prev or {}).get("steps"))
        prefix = staging_prefix(rt.ctx.namespace, job_id, attempt)
        soft = task.soft_time_limit or cfg.time_limits[QUEUE[stage]][0]
        try:
            with Heartbeat(rt.ctx.catalog, job_id, cfg.heartbeat_interval):
                out = _STAGES[stage](rt, job_id, attempt, pipeline, prev, publish, prefix,
                                     deadline_check(rt.cancel_check(job_id), soft),
                                     rec.get("started_at") or rec["submitted_at"])
            state = "succeeded"
            return out
        except Superseded as exc:
            # a later attempt took the job over: only this attempt's staging is ours to drop
            log.warning("%s", exc)
            _drop(rt, prefix)
            state = "superseded"
            return {"skipped": True}
        except Cancelled:
            _drop_failed(rt, job_id, attempt, prefix)
            if finish_if_open(rt.ctx, job_id, "cancelled", attempt=attempt):
                publish(JobCancelled(job_id=job_id))
            state = "cancelled"
            return {"skipped": True}
        except TransientError as err:
            retries = task.request.retries or 0
            if retries < cfg.max_retries:
                delay = cfg.retry_delay(retries + 1)
                publish(Retrying(job_id=job_id, attempt=retries + 1, delay=delay, error=err.to_dict()))
                metrics.record_retry(rt.redis, rt.ctx.namespace, stage)
                state = "retry"
                raise task.retry(countdown=delay, max_retries=None) from None
            _drop_failed(rt, job_id, attempt, prefix)
            fail_job(rt, job_id, err, publish, dead_letter_task=stage, attempts=retries + 1,
                     of_attempt=attempt)
            state = "failed"
            raise
        except BaseException as exc:
            err = as_workbench_error(exc)
            _drop_failed(rt, job_id, attempt, prefix)
            fail_job(rt, job_id, err, publish, of_attempt=attempt)
            state = "failed"
            raise err from None
        finally:
            stream.close()
            seconds = time.monotonic() - t0
            metrics.record_task(rt.redis, rt.ctx.namespace, stage, state, seconds)
            log.info("stage %s %s", stage, state, extra={"state": state, "duration": round(seconds, 4)})


def _drop_failed(rt: Runtime, job_id: str, attempt: int, prefix: str) -> None:
    """A stage that failed or was cancelled: the job's staging goes, or only this attempt's
    (``prefix``) if a later attempt took the job over."""
    try:
        mine_only = superseded(rt, job_id, attempt)
    except Exception:  # noqa: BLE001 - the catalog is away: touch only what is surely ours
        mine_only = True
    _drop(rt, prefix if mine_only else job_staging(rt.ctx.namespace, job_id))


def _drop(rt: Runtime, prefix: str) -> None:
    try:
        rt.ctx.storage.delete_prefix(prefix)
    except Exception as exc:
        log.warning("staging %s not removed: %s", prefix, exc)


def _sink_parquet(frame: pl.LazyFrame, ctx: Any, key: str, monitor: Any) -> int:
    target = ctx.storage.open_write(key)
    hw = HashingWriter(target, monitor.on_bytes)
    try:
        frame.sink_parquet(hw, compression="lz4", lazy=True).collect(engine="streaming")
        monitor.check_cancel()
        target.close()
    except BaseException:
        target.abort()
        raise
    return hw.bytes


def _ingest(rt: Runtime, job_id: str, attempt: int, pipeline: m.Pipeline, prev: Any,
            publish: StepRecorder, prefix: str, should_cancel: Callable, started: float
            ) -> dict[str, Any]:
    ctx = rt.ctx
    publish(StepStarted(job_id=job_id, step="read", index=0))
    monitor = Monitor(job_id, publish, should_cancel=should_cancel)
    scan = None
    try:
        with monitor.opening(f"reading {source_label(pipeline.source)}"):
            scan = SOURCES[pipeline.source.kind](pipeline.source, ctx, monitor)
        for note in scan.notes:
            publish(Message(job_id=job_id, level="warning", text=note))
        monitor.rows_total, monitor.bytes_total = scan.rows_total, scan.bytes_total
        monitor.bytes_per_row = estimate_bytes_per_row(scan)
        hashing = hash_inputs_async(scan.inputs, ctx)
        key = f"{prefix}ingest/part-00000.parquet"
        _sink_parquet(scan.frame.map_batches(monitor.on_batch, streamable=True), ctx, key, monitor)
        monitor.finish_input()
        inputs = [{k: v for k, v in i.items() if k in ("path", "size", "sha256")}
                  for i in hashing.result()]
    except BaseException as exc:
        if monitor.cancelled or isinstance(exc, Cancelled):
            raise Cancelled("the job was cancelled") from None
        raise classify_error(exc, scan, "read") from None
    finally:
        if scan is not None:
            scan.cleanup()
    publish(StepFinished(job_id=job_id, step="read", index=0, rows=monitor.rows,
                         bytes=scan.bytes_total if scan else None))
    return {"keys": [key], "inputs": inputs, "rows": monitor.rows, "steps": publish.steps}


def _transform(rt: Runtime, job_id: str, attempt: int, pipeline: m.Pipeline, prev: dict[str, Any],
               publish: StepRecorder, prefix: str, should_cancel: Callable, started: float
               ) -> dict[str, Any]:
    # engines.sql loads pyarrow and duckdb (heavy optional dependency): imported on first use
    from ..engines.sql import SqlLimits, run_sql

    ctx = rt.ctx
    frame = scan_parts(ctx, prev["keys"])
    relations = None
    labels = []
    own_rows: dict[int, int | None] = {}  # a SQL step's own output rows (and its previous step's)
    own_seconds: dict[int, float] = {}
    monitor = Monitor(job_id, publish, should_cancel=should_cancel)
    if counts_the_source(pipeline):  # what it counts is the rows ingested: a share of them
        monitor.rows_total = prev.get("rows")
    temp = None  # the job's DuckDB temp folder: a large SQL result waits there until the sink
    try:
        for i, step in enumerate(pipeline.steps):
            label = step_label(i, step)
            labels.append(label)
            publish(StepStarted(job_id=job_id, step=label, index=i + 1))
            if isinstance(step, m.SqlStep):
                relations = relations if relations is not None else dataset_relations(ctx)
                temp = temp or JobTemp(temp_root(ctx.settings.home), job_id)
                monitor.step = label
                entering, t0 = monitor.rows, time.time()
                # the rows read into the step move the bar, as in a whole run (execute)
                frame = run_sql(step.query, {**relations, "input": frame.map_batches(
                                    monitor.on_batch, streamable=True)}, step=label,
                                limits=SqlLimits.from_settings(ctx.settings), temp=temp,
                                monitor=monitor)
                own_rows[i] = monitor.step_rows
                own_seconds[i] = time.time() - t0
                if i > 0 and not isinstance(pipeline.steps[i - 1], m.SqlStep):
                    own_rows[i - 1] = monitor.rows - entering
                publish(StepFinished(job_id=job_id, step=label, index=i + 1, rows=own_rows[i],
                                     seconds=own_seconds[i]))
            else:
                frame = apply_step(frame, step, label, settings=ctx.settings)
        if own_seconds:  # now count what the stage writes: the last step's output
            after = pipeline.steps[max(own_seconds) + 1:]
            monitor.start_output(monitor.step_rows if not after else None)
        monitor.step = labels[-1] if labels else "read"
        key = f"{prefix}transform/part-00000.parquet"
        try:
            _sink_parquet(frame.map_batches(monitor.on_batch, streamable=True), ctx, key, monitor)
        except BaseException as exc:
            if monitor.cancelled or isinstance(exc, Cancelled):
                raise Cancelled("the job was cancelled") from None
            raise classify_error(exc, None, monitor.step) from None
    finally:
        if temp is not None:
            temp.remove()
    for i, label in enumerate(labels):
        if i in own_seconds:
            continue  # a SQL step reported itself when it ended
        publish(StepFinished(job_id=job_id, step=label, index=i + 1,
                             rows=monitor.rows if i == len(labels) - 1 else own_rows.get(i),
                             seconds=own_seconds.get(i, 0.0)))
    ctx.storage.delete_prefix(f"{prefix}ingest/")
    return {**prev, "keys": [key], "rows": monitor.rows, "steps": publish.steps}


def _persist(rt: Runtime, job_id: str, attempt: int, pipeline: m.Pipeline, prev: dict[str, Any],
             publish: StepRecorder, prefix: str, should_cancel: Callable, started: float
             ) -> dict[str, Any]:
    ctx = rt.ctx
    sink = pipeline.sink
    assert sink is not None
    done = find_committed(ctx, sink.name, job_id) if isinstance(sink, m.DatasetSink) else None
    if done is not None:
        result = done.to_dict()
    else:
        frame = scan_parts(ctx, prev["keys"])
        schema = frame.collect_schema()
        index = len(pipeline.steps) + 1
        publish(StepStarted(job_id=job_id, step="write", index=index))
        monitor = Monitor(job_id, publish, should_cancel=should_cancel)
        monitor.step = "write"
        t0 = time.time()
        try:
            result = SINKS[sink.kind](
                frame.map_batches(monitor.on_batch, streamable=True), sink=sink, ctx=ctx,
                job_id=job_id, attempt=attempt, pipeline=pipeline, schema=schema, monitor=monitor,
                stats_exprs=stats_exprs(pipeline, schema),
                commit_guard=commit_guard(pipeline, schema, publish, job_id),
                inputs=lambda: prev["inputs"])
        except WorkbenchError:
            raise
        except BaseException as exc:
            if monitor.cancelled or isinstance(exc, Cancelled):
                raise Cancelled("the job was cancelled") from None
            raise classify_error(exc, None, None) from None
        publish(StepFinished(job_id=job_id, step="write", index=index, rows=result.get("rows"),
                             bytes=result.get("bytes"), seconds=time.time() - t0))
    if not ctx.catalog.finish_job(job_id, "succeeded", attempt=attempt,
                                  result={**result_summary(result), **publish.kept()}):
        raise Superseded.at_end(job_id, attempt)
    _drop(rt, job_staging(ctx.namespace, job_id))
    publish(JobFinished(job_id=job_id, result=result, seconds=time.time() - started))
    return {"job_id": job_id, "status": "succeeded", "version": result.get("version")}


_STAGES: dict[str, Callable[..., dict[str, Any]]] = {
    "ingest": _ingest,
    "transform": _transform,
    "persist": _persist,
}


__all__ = ["run_stage", "staging_prefix", "start"]
