"""Fan-out parts: each part task writes its file's rows under the job's parts prefix; the part that
ends last decides for the job (a failure wins) and sends the commit.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable

import polars as pl

from ..dataset_store import data_prefix, job_data_prefix, job_files_in_use
from ..engines.steps import apply_step, step_label
from ..engines.types import parse_type
from ..engines.profile_parts import mergeable, part_profile
from ..engines.stored import restore, to_stored
from ..errors import Cancelled, InternalError, TransientError, WorkbenchError, as_workbench_error
from ..events import Event, JobCancelled, Progress, Retrying
from ..execute import (
    SOURCES, classify_error, counts_the_source, estimate_bytes_per_row, hash_inputs_async,
)
from ..monitor import Monitor
from ..spec import models as m
from ..spec.io import pipeline_from_dict
from ..writer import PartWriters, sink_kwargs, written_rows
from . import keys, metrics
from .commit import stats_exprs
from .logs import task_context
from .outcome import TimeLimitExceeded, deadline_check, fail_job, superseded
from .recovery import finish_if_open
from .runtime import Heartbeat, Runtime, runtime, worker_id

log = logging.getLogger("workbench.worker.fanout")


# ----------------------------------------------------------------------------- keys
def parts_prefix(namespace: str, name: str, job_id: str, attempt: int) -> str:
    return f"{data_prefix(namespace, name, job_id, attempt)}_parts/"


def cleanup_attempt(rt: Runtime, name: str, job_id: str, attempt: int) -> None:
    """What ``cleanup_parts`` does, for one attempt's files and part manifests only: an attempt
    that a later one took over leaves that attempt's files alone."""
    try:
        if job_files_in_use(rt.ctx, name, job_id):
            log.warning("kept the files of %s: a version or snapshot names them", job_id)
            return
        rt.ctx.storage.delete_prefix(data_prefix(rt.ctx.namespace, name, job_id, attempt))
        rt.ctx.storage.delete_prefix(parts_prefix(rt.ctx.namespace, name, job_id, attempt))
    except Exception as exc:  # gc removes a dead attempt's files later
        log.warning("could not remove attempt %d of %s: %s", attempt, job_id, exc)


def cleanup_parts(rt: Runtime, name: str, job_id: str) -> None:
    """Delete the job's data files, unless a version or an Iceberg snapshot names them (a
    commit that got as far as the snapshot and then failed, or was cancelled after it)."""
    try:
        if job_files_in_use(rt.ctx, name, job_id):
            log.warning("kept the files of %s: a version or snapshot names them", job_id)
            return
        rt.ctx.storage.delete_prefix(job_data_prefix(rt.ctx.namespace, name, job_id))
    except Exception as exc:  # gc removes a dead attempt's files later
        log.warning("could not remove the parts of %s: %s", job_id, exc)


def read_rows_of(monitor: Monitor) -> int:
    """The rows this part read: counted at the source when a step changed the count."""
    return monitor.source_rows if monitor.source_rows is not None else monitor.rows


# ----------------------------------------------------------------------------- parts
class _PartProgress:
    """Turns one part's progress into the job's: rows and bytes summed over all parts."""

    def __init__(self, rt: Runtime, job_id: str, attempt: int, index: int, bytes_total: int,
                 publish: Callable[[Event], None]) -> None:
        self.rt, self.job_id, self.index, self.bytes_total = rt, job_id, index, bytes_total
        self.key = keys.fanout(rt.ctx.namespace, job_id, attempt)
        self.publish = publish
        self._last = 0.0

    def __call__(self, ev: Event) -> None:
        if ev.kind == "message":
            self.publish(ev)
            return
        if ev.kind != "progress":
            return  # the part's own step bookkeeping; the job's steps are reported once
        now = time.monotonic()
        if now - self._last < 0.25:
            return
        self._last = now
        try:
            pipe = self.rt.redis.pipeline(transaction=False)
            pipe.hset(self.key, mapping={f"rows:{self.index}": ev.rows,  # type: ignore[attr-defined]
                                         f"bytes:{self.index}": ev.bytes})  # type: ignore[attr-defined]
            pipe.expire(self.key, 86400)
            pipe.hgetall(self.key)
            counts = pipe.execute()[-1]
            rows = sum(int(v) for k, v in counts.items() if k.startswith("rows:"))
            nbytes = sum(int(v) for k, v in counts.items() if k.startswith("bytes:"))
        except Exception:
            return
        self.publish(Progress(job_id=self.job_id, step="read", rows=rows, bytes=nbytes,
                              rows_total=None, bytes_total=self.bytes_total or None))


def write_part(rt: Runtime, job_id: str, attempt: int, index: int, source: m.FileSource,
               types: dict[str, str], pipeline: m.Pipeline, emit: Callable[[Event], None],
               should_cancel: Callable[[], bool]) -> dict[str, Any]:
    """Read one file, apply the row-wise steps, write its Parquet; returns its part manifest."""

    ctx = rt.ctx
    sink = pipeline.sink
    assert isinstance(sink, m.DatasetSink)
    monitor = Monitor(job_id, emit, should_cancel=should_cancel)
    scan = None
    writers = None
    try:
        scan = SOURCES["file"](source, ctx, monitor)
        monitor.rows_total = scan.rows_total
        monitor.bytes_total = scan.bytes_total
        monitor.bytes_per_row = estimate_bytes_per_row(scan)
        frame = scan.frame
        if scan.rows_total is None and not counts_the_source(pipeline):
            frame = monitor.count_source(frame)  # a filter changes the count: the rows read
        have = frame.collect_schema()
        casts = [pl.col(c).cast(parse_type(t)) for c, t in types.items()
                 if c in have and have[c] != parse_type(t)]
        if casts:
            frame = frame.with_columns(casts)
        for i, step in enumerate(pipeline.steps):
            frame = apply_step(frame, step, step_label(i, step), settings=ctx.settings)
        hashing = hash_inputs_async(scan.inputs, ctx)
        prefix = data_prefix(ctx.namespace, sink.name, job_id, attempt)
        writers = PartWriters(ctx, prefix, monitor, stem=f"part-{index:05d}")
        # zoned datetimes in UTC, Enum as String, Array as List (engines/stored.py)
        have = frame.collect_schema()
        counted = to_stored(frame, have).map_batches(monitor.on_batch, streamable=True)
        sink_q = counted.sink_parquet(writers.target(sink.partition_by, have), lazy=True,
                                      **sink_kwargs(sink))
        stats = None
        if not mergeable(have):  # many columns: the commit reads the parts back (profile_parts)
            sink_q.collect(engine="streaming")
        else:  # the part's own statistics in the same pass, to merge at the commit
            _, stats = pl.collect_all(
                [sink_q, frame.select(stats_exprs(pipeline, have, distinct=False))],
                engine="streaming")
        monitor.check_cancel()
        writers.close_all()
        monitor.finish_input()
        schema = {n: str(t) for n, t in have.items()}
        # the part's statistics read its files again: from a bucket, one local copy of them
        copies = None if stats is None else writers.read_back()
        try:
            uris, opts = writers.read_from(copies)
            profile = None if stats is None else part_profile(
                stats, restore(pl.scan_parquet(uris, storage_options=opts), schema), have)
            files = [writers.file_entry(key, monitor.rows if len(uris) == 1 else
                                        written_rows(uri, opts), hw)
                     for uri, (key, _t, hw) in zip(uris, writers.parts)]
        finally:
            if copies:
                copies.remove()
        inputs = [{k: v for k, v in i.items() if k in ("path", "size", "sha256")}
                  for i in hashing.result()]
        return {"index": index, "files": files, "schema": schema, "inputs": inputs,
                "rows": monitor.rows, "rows_read": read_rows_of(monitor), "profile": profile}
    except BaseException as exc:
        if writers is not None:
            writers.abort_all()
        if monitor.cancelled or isinstance(exc, Cancelled):
            raise Cancelled("the job was cancelled") from None
        raise classify_error(exc, scan, None).with_context(file=source.path) from None
    finally:
        if scan is not None:
            try:
                scan.cleanup()
            except Exception:
                pass


def run_part(task: Any, job_id: str, attempt: int, index: int, part_spec: dict[str, Any],
             types: dict[str, str], spec: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """One file of a fanned-out job. Every part *ends* exactly once (written, failed, stopped or
    skipped); the part that ends last decides for the job: commit, or clean up and fail/cancel.
    So a failure is announced only once no part is still writing: nothing is left behind."""

    rt = runtime()
    cfg = rt.cfg
    me = worker_id(task.request.hostname)
    t0 = time.monotonic()
    state = "skipped"
    source = m.FileSource.model_validate(part_spec)
    pipeline = pipeline_from_dict(spec)
    n = int(info["n"])
    with task_context(job_id=job_id, task_id=task.request.id, task="fanout_part", part=index,
                      attempt=attempt, file=source.path, worker=me):
        publish = rt.publisher(job_id)
        try:
            rec = rt.ctx.catalog.get_job(job_id)
            if rec.get("attempts") != attempt:
                return {"job_id": job_id, "part": index, "status": "skipped"}  # an older attempt
            if rec["status"] not in ("running", "retrying") or _failing(rt, job_id, attempt):
                end_part(rt, job_id, attempt, index, n, spec, info, publish, task.app)
                return {"job_id": job_id, "part": index, "status": "skipped"}
            starts = _count_start(rt, job_id, attempt, index)
            if starts > cfg.max_attempts:
                state = "dead_letter"
                fail_fanout(rt, job_id, attempt, InternalError(
                    f"reading {source.path} stopped its worker process {starts - 1} times without "
                    "an outcome; the job was moved to the dead letters", file=source.path,
                    hint=f"fix or remove the file, then `workbench dead-letters resubmit {job_id}`"),
                    dead_letter="fanout_part", attempts=starts - 1)
                end_part(rt, job_id, attempt, index, n, spec, info, publish, task.app)
                return {"job_id": job_id, "part": index, "status": "failed"}
            progress = _PartProgress(rt, job_id, attempt, index, int(info.get("bytes_total") or 0),
                                     publish)
            soft = task.soft_time_limit or cfg.time_limits["ingestion"][0]
            base_cancel = rt.cancel_check(job_id)

            def should_cancel() -> bool:
                return base_cancel() or _failing(rt, job_id, attempt)

            try:
                with Heartbeat(rt.ctx.catalog, job_id, cfg.heartbeat_interval):
                    entry = write_part(rt, job_id, attempt, index, source, types, pipeline, progress,
                                       deadline_check(should_cancel, soft))
            except Cancelled:
                state = "stopped"
                end_part(rt, job_id, attempt, index, n, spec, info, publish, task.app)
                return {"job_id": job_id, "part": index, "status": "stopped"}
            except TransientError as err:
                retries = task.request.retries or 0
                if retries < cfg.max_retries:
                    delay = cfg.retry_delay(retries + 1)
                    rt.ctx.catalog.update_job(job_id, error=err.to_dict())
                    publish(Retrying(job_id=job_id, attempt=retries + 1, delay=delay,
                                     error=err.to_dict()))
                    metrics.record_retry(rt.redis, rt.ctx.namespace, "fanout_part")
                    state = "retry"
                    raise task.retry(countdown=delay, max_retries=None) from None
                state = "failed"
                fail_fanout(rt, job_id, attempt, err, dead_letter="fanout_part", attempts=retries + 1)
                end_part(rt, job_id, attempt, index, n, spec, info, publish, task.app)
                raise
            except BaseException as exc:
                # heavy optional dependency: imported on first use
                from celery.exceptions import SoftTimeLimitExceeded

                if isinstance(exc, SoftTimeLimitExceeded):
                    exc = TimeLimitExceeded(f"reading {source.path} ran past its time limit")
                err = as_workbench_error(exc, file=source.path)
                state = "failed"
                fail_fanout(rt, job_id, attempt, err)
                end_part(rt, job_id, attempt, index, n, spec, info, publish, task.app)
                raise err from None
            sink = pipeline.sink
            assert isinstance(sink, m.DatasetSink)
            pprefix = parts_prefix(rt.ctx.namespace, sink.name, job_id, attempt)
            rt.ctx.storage.put_bytes(f"{pprefix}{index:05d}.json", json.dumps(entry).encode())
            state = "succeeded"
            metrics.record_rows(rt.redis, rt.ctx.namespace, int(entry["rows"]),
                                sum(int(i.get("size") or 0) for i in entry["inputs"]))
            end_part(rt, job_id, attempt, index, n, spec, info, publish, task.app)
            return {"job_id": job_id, "part": index, "status": "succeeded", "rows": entry["rows"]}
        finally:
            publish.close()
            seconds = time.monotonic() - t0
            metrics.record_task(rt.redis, rt.ctx.namespace, "fanout_part", state, seconds)
            log.info("part %s", state, extra={"state": state, "duration": round(seconds, 4)})


def _count_start(rt: Runtime, job_id: str, attempt: int, index: int) -> int:
    """How many times this part started (a part that kills its process must not loop forever)."""
    try:
        key = keys.fanout(rt.ctx.namespace, job_id, attempt)
        n = int(rt.redis.hincrby(key, f"starts:{index}", 1))
        rt.redis.expire(key, 86400)
        return n
    except Exception:
        return 1


def _failing(rt: Runtime, job_id: str, attempt: int) -> bool:
    try:
        return bool(rt.redis.hexists(keys.fanout(rt.ctx.namespace, job_id, attempt), "failed"))
    except Exception:
        return False


def fail_fanout(rt: Runtime, job_id: str, attempt: int, err: WorkbenchError, *,
                dead_letter: str | None = None, attempts: int | None = None) -> None:
    """Mark the job as failing: the other parts stop at their next batch; the first error wins."""
    key = keys.fanout(rt.ctx.namespace, job_id, attempt)
    rt.redis.hsetnx(key, "failed", json.dumps({"error": err.to_dict(), "dead_letter": dead_letter,
                                               "attempts": attempts}))
    rt.redis.expire(key, 86400)


def end_part(rt: Runtime, job_id: str, attempt: int, index: int, n: int, spec: dict[str, Any],
             info: dict[str, Any], publish: Callable[[Event], None], app: Any) -> None:
    """Count this part as ended; the part that completes the count decides for the job (and
    sends the commit on ``app``, the Celery app the part ran on)."""
    key = keys.fanout(rt.ctx.namespace, job_id, attempt)
    pipe = rt.redis.pipeline(transaction=True)  # MULTI: exactly one part sees the full count
    pipe.hsetnx(key, f"ended:{index}", 1)
    pipe.hkeys(key)
    pipe.expire(key, 86400)
    first, fields, _ = pipe.execute()
    if not first or sum(1 for f in fields if f.startswith("ended:")) < n:
        return
    sink = spec["sink"]
    failed = rt.redis.hget(key, "failed")
    if failed:
        data = json.loads(failed)
        if superseded(rt, job_id, attempt):
            cleanup_attempt(rt, sink["name"], job_id, attempt)
        else:
            cleanup_parts(rt, sink["name"], job_id)
        fail_job(rt, job_id, WorkbenchError.from_dict(data["error"]), publish,
                 dead_letter_task=data.get("dead_letter"), attempts=data.get("attempts"),
                 of_attempt=attempt)
        return
    rec = rt.ctx.catalog.get_job(job_id)
    if rec.get("cancel_requested") or rec["status"] == "cancelled":
        cleanup_parts(rt, sink["name"], job_id)
        if finish_if_open(rt.ctx, job_id, "cancelled"):
            publish(JobCancelled(job_id=job_id))
        return
    if rec["status"] not in ("running", "retrying"):
        cleanup_parts(rt, sink["name"], job_id)
        return

    app.send_task("workbench.fanout_commit", args=[job_id, attempt, spec, info],
                        task_id=f"{job_id}-a{attempt}-commit", queue="persistence")
