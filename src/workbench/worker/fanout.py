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

import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

import polars as pl

from ..errors import (
    AlreadyExists, Cancelled, InternalError, NotFound, SourceError, TransientError, WorkbenchError,
    as_workbench_error,
)
from ..events import (
    Event, JobCancelled, JobFinished, JobStarted, Message, Progress, Retrying, StepFinished,
    StepStarted,
)
from ..spec import models as m
from . import keys, metrics
from .logs import task_context
from .recovery import finish_if_open
from .runtime import Heartbeat, Runtime, runtime, worker_id

log = logging.getLogger("workbench.worker.fanout")

ROW_WISE = (m.SelectStep, m.FilterStep, m.WithColumnsStep, m.RenameStep, m.CastStep, m.DropStep,
            m.DropNullsStep)
# SQL expressions that look at more than one row (aggregates, windows) cannot run per file.
_NOT_ROW_WISE = re.compile(
    r"\bover\s*\(|\b(sum|avg|mean|count|min|max|median|first|last|stddev|std|variance|var|rank|"
    r"dense_rank|row_number|lag|lead|quantile\w*|mode|string_agg|array_agg|list|any_value|"
    r"bool_and|bool_or|n_unique)\s*\(", re.IGNORECASE)
_COMPRESSED = (".gz", ".gzip", ".zst", ".zstd", ".bz2", ".xz", ".zip")


@dataclass
class Plan:
    files: list[dict[str, Any]] | None = None
    note: str | None = None


def _why_not(pipeline: m.Pipeline) -> str | None:
    for i, step in enumerate(pipeline.steps):
        label = step.name or f"{i + 1}:{step.op}"
        if not isinstance(step, ROW_WISE):
            return f"step {label} needs all rows at once"
        exprs = [step.predicate] if isinstance(step, m.FilterStep) else (
            list(step.columns.values()) if isinstance(step, m.WithColumnsStep) else [])
        if any(_NOT_ROW_WISE.search(e) for e in exprs):
            return f"step {label} aggregates over rows"
    sink = pipeline.sink
    if not isinstance(sink, m.DatasetSink):
        return "only a dataset sink can be written in parts"
    if sink.mode not in ("create", "overwrite", "append"):
        return f"mode={sink.mode!r} reads the whole dataset"
    return None


def plan(pipeline: m.Pipeline, ctx: Any) -> Plan:
    src = pipeline.source
    if not isinstance(src, m.FileSource) or not src.parallel:
        return Plan()
    from ..engines.readers import _expand

    try:
        files = _expand(src.path, ctx)
    except WorkbenchError:
        return Plan()  # the normal run reports the error with its context
    if len(files) < 2:
        return Plan()
    reason = _why_not(pipeline)
    if reason:
        return Plan(note=f"parallel=True: {reason}, so the {len(files)} files are read in one task")
    return Plan(files=files)


# ----------------------------------------------------------------------------- types
def _type_name(dtype: pl.DataType) -> str | None:
    """A spec type name for a Polars type (None: cannot be declared; cast instead)."""
    if isinstance(dtype, pl.Decimal):
        return f"decimal({dtype.precision},{dtype.scale})"
    if isinstance(dtype, pl.Datetime):
        return f"datetime[{dtype.time_unit}, {dtype.time_zone}]" if dtype.time_zone \
            else f"datetime[{dtype.time_unit}]"
    simple = {pl.Int8: "int8", pl.Int16: "int16", pl.Int32: "int32", pl.Int64: "int64",
              pl.UInt8: "uint8", pl.UInt16: "uint16", pl.UInt32: "uint32", pl.UInt64: "uint64",
              pl.Float32: "float32", pl.Float64: "float64", pl.String: "string",
              pl.Boolean: "bool", pl.Date: "date", pl.Time: "time", pl.Binary: "binary"}
    for k, v in simple.items():
        if dtype == k:
            return v
    return None


def planned_types(source: m.FileSource, files: list[dict[str, Any]], ctx: Any
                  ) -> tuple[dict[str, str], list[str]]:
    """Column -> spec type for every part, and the reader's notes."""
    from ..engines.readers import scan_file

    local_plain = all("://" not in f["path"] and not f["path"].lower().endswith(_COMPRESSED)
                      for f in files) and source.compression in ("auto", "none")
    probe = source.model_copy(update={"parallel": False} if local_plain
                              else {"parallel": False, "path": files[0]["path"]})
    scan = scan_file(probe, ctx)
    try:
        schema = scan.frame.collect_schema()
    finally:
        scan.cleanup()
    types = {}
    for name, dtype in schema.items():
        t = _type_name(dtype)
        if t is not None:
            types[name] = t
    return types, list(scan.notes)


def _part_source(source: m.FileSource, path: str, types: dict[str, str]) -> m.FileSource:
    update: dict[str, Any] = {"path": path, "parallel": False}
    fmt = source.format
    if fmt in ("csv", "tsv") or (fmt == "auto" and path.lower().split("?")[0].rstrip("/").endswith(
            (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".csv.zst", ".tsv.zst"))):
        # Declared types make the reader say which row of which file does not fit.
        update["schema_overrides"] = {**types, **source.schema_overrides}
    return source.model_copy(update=update)


# ----------------------------------------------------------------------------- keys
def parts_prefix(namespace: str, name: str, job_id: str, attempt: int) -> str:
    from ..datasets import data_prefix

    return f"{data_prefix(namespace, name, job_id, attempt)}_parts/"


def _cleanup(rt: Runtime, name: str, job_id: str) -> None:
    from ..datasets import job_data_prefix

    try:
        rt.ctx.storage.delete_prefix(job_data_prefix(rt.ctx.namespace, name, job_id))
    except Exception as exc:  # gc removes a dead attempt's files later
        log.warning("could not remove the parts of %s: %s", job_id, exc)


# ----------------------------------------------------------------------------- start
def start(task: Any, rt: Runtime, pipeline: m.Pipeline, job_id: str, plan_: Plan, me: str,
          publish: Callable[[Event], None]) -> tuple[str, dict[str, Any]]:
    from ..datasets import get_dataset
    from ..engines.steps import apply_step, step_label
    from .app import get_app
    from .tasks import fail_job

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
        types, notes = planned_types(pipeline.source, files, ctx)
        # Steps are checked against the planned columns now, not in n tasks later.
        frame = pl.LazyFrame(schema={c: _parse(t) for c, t in types.items()})
        for i, step in enumerate(pipeline.steps):
            frame = apply_step(frame, step, step_label(i, step), settings=ctx.settings)
    except WorkbenchError as err:
        fail_job(rt, job_id, err, publish)
        return "failed", {"job_id": job_id, "status": "failed", "error": err.to_dict()}
    for note in notes:
        publish(Message(job_id=job_id, level="warning", text=note))
    _cleanup(rt, sink.name, job_id)  # files of dead earlier attempts: never visible
    bytes_total = sum(int(f.get("size") or 0) for f in files)
    try:
        rt.redis.delete(keys.fanout(ctx.namespace, job_id, attempt))
    except Exception:
        pass
    app = get_app()
    spec = pipeline.model_dump(mode="json")
    info = {"n": len(files), "bytes_total": bytes_total}
    for i, f in enumerate(files):
        part = _part_source(pipeline.source, f["path"], types).model_dump(mode="json")
        app.send_task("workbench.fanout_part", args=[job_id, attempt, i, part, types, spec, info],
                      task_id=f"{job_id}-a{attempt}-p{i:05d}", queue="ingestion")
    # The planning process is done with the job: from now on the parts' heartbeats say whether
    # it is alive, not this process (which may exit or run other jobs).
    ctx.catalog.update_job(job_id, worker=f"{me}, {len(files)} parts")
    publish(Message(job_id=job_id, level="info",
                    text=f"split into {len(files)} tasks, one per file"))
    return "fanned_out", {"job_id": job_id, "status": "running", "parts": len(files),
                          "attempt": attempt}


def _parse(type_name: str) -> pl.DataType:
    from ..engines.types import parse_type

    return parse_type(type_name)


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
    from ..datasets import data_prefix
    from ..engines.steps import apply_step, step_label
    from ..execute import SOURCES, _classify, _estimate_bytes_per_row, hash_inputs_async
    from ..monitor import Monitor
    from ..writer import PartWriters, _sink_kwargs

    ctx = rt.ctx
    sink = pipeline.sink
    assert isinstance(sink, m.DatasetSink)
    monitor = Monitor(job_id, emit, should_cancel=should_cancel)
    scan = None
    writers = None
    try:
        scan = SOURCES["file"](source, ctx, monitor)
        frame = scan.frame
        have = frame.collect_schema()
        casts = [pl.col(c).cast(_parse(t)) for c, t in types.items()
                 if c in have and have[c] != _parse(t)]
        if casts:
            frame = frame.with_columns(casts)
        for i, step in enumerate(pipeline.steps):
            frame = apply_step(frame, step, step_label(i, step), settings=ctx.settings)
        monitor.rows_total = scan.rows_total
        monitor.bytes_total = scan.bytes_total
        monitor.bytes_per_row = _estimate_bytes_per_row(scan)
        hashing = hash_inputs_async(scan.inputs, ctx)
        prefix = data_prefix(ctx.namespace, sink.name, job_id, attempt)
        writers = PartWriters(ctx, prefix, monitor, stem=f"part-{index:05d}")
        counted = frame.map_batches(monitor.on_batch, streamable=True)
        counted.sink_parquet(writers.target(sink.partition_by), lazy=True,
                             **_sink_kwargs(sink)).collect(engine="streaming")
        monitor.check_cancel()
        writers.close_all()
        monitor.finish_input()
        schema = {n: str(t) for n, t in frame.collect_schema().items()}
        opts = ctx.storage.storage_options()
        files = []
        for key, _t, hw in writers.parts:
            rows = monitor.rows if len(writers.parts) == 1 else pl.scan_parquet(
                ctx.storage.uri(key), storage_options=opts).select(pl.len()).collect().item()
            files.append({"key": key, "rows": int(rows), "bytes": hw.bytes, "sha256": hw.sha256})
        inputs = [{k: v for k, v in i.items() if k in ("path", "size", "sha256")}
                  for i in hashing.result()]
        return {"index": index, "files": files, "schema": schema, "inputs": inputs,
                "rows": monitor.rows}
    except BaseException as exc:
        if writers is not None:
            writers.abort_all()
        if monitor.cancelled or isinstance(exc, Cancelled):
            raise Cancelled("the job was cancelled") from None
        raise _classify(exc, scan, None).with_context(file=source.path) from None
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
    from ..spec.io import pipeline_from_dict
    from .tasks import TimeLimitExceeded, _deadline_check

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
                _end(rt, job_id, attempt, index, n, spec, info, publish)
                return {"job_id": job_id, "part": index, "status": "skipped"}
            starts = _count_start(rt, job_id, attempt, index)
            if starts > cfg.max_attempts:
                state = "dead_letter"
                _fail(rt, job_id, attempt, InternalError(
                    f"reading {source.path} stopped its worker process {starts - 1} times without "
                    "an outcome; the job was moved to the dead letters", file=source.path,
                    hint=f"fix or remove the file, then `workbench dead-letters resubmit {job_id}`"),
                    dead_letter="fanout_part", attempts=starts - 1)
                _end(rt, job_id, attempt, index, n, spec, info, publish)
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
                                       _deadline_check(should_cancel, soft))
            except Cancelled:
                state = "stopped"
                _end(rt, job_id, attempt, index, n, spec, info, publish)
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
                _fail(rt, job_id, attempt, err, dead_letter="fanout_part", attempts=retries + 1)
                _end(rt, job_id, attempt, index, n, spec, info, publish)
                raise
            except BaseException as exc:
                from celery.exceptions import SoftTimeLimitExceeded

                if isinstance(exc, SoftTimeLimitExceeded):
                    exc = TimeLimitExceeded(f"reading {source.path} ran past its time limit")
                err = as_workbench_error(exc, file=source.path)
                state = "failed"
                _fail(rt, job_id, attempt, err)
                _end(rt, job_id, attempt, index, n, spec, info, publish)
                raise err from None
            sink = pipeline.sink
            assert isinstance(sink, m.DatasetSink)
            pprefix = parts_prefix(rt.ctx.namespace, sink.name, job_id, attempt)
            rt.ctx.storage.put_bytes(f"{pprefix}{index:05d}.json", json.dumps(entry).encode())
            state = "succeeded"
            metrics.record_rows(rt.redis, rt.ctx.namespace, int(entry["rows"]),
                                sum(int(i.get("size") or 0) for i in entry["inputs"]))
            _end(rt, job_id, attempt, index, n, spec, info, publish)
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


def _fail(rt: Runtime, job_id: str, attempt: int, err: WorkbenchError, *,
          dead_letter: str | None = None, attempts: int | None = None) -> None:
    """Mark the job as failing: the other parts stop at their next batch; the first error wins."""
    key = keys.fanout(rt.ctx.namespace, job_id, attempt)
    rt.redis.hsetnx(key, "failed", json.dumps({"error": err.to_dict(), "dead_letter": dead_letter,
                                               "attempts": attempts}))
    rt.redis.expire(key, 86400)


def _end(rt: Runtime, job_id: str, attempt: int, index: int, n: int, spec: dict[str, Any],
         info: dict[str, Any], publish: Callable[[Event], None]) -> None:
    """Count this part as ended; the part that completes the count decides for the job."""
    from .tasks import fail_job

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
        _cleanup(rt, sink["name"], job_id)
        fail_job(rt, job_id, WorkbenchError.from_dict(data["error"]), publish,
                 dead_letter_task=data.get("dead_letter"), attempts=data.get("attempts"))
        return
    rec = rt.ctx.catalog.get_job(job_id)
    if rec.get("cancel_requested") or rec["status"] == "cancelled":
        _cleanup(rt, sink["name"], job_id)
        if finish_if_open(rt.ctx, job_id, "cancelled"):
            publish(JobCancelled(job_id=job_id))
        return
    if rec["status"] not in ("running", "retrying"):
        _cleanup(rt, sink["name"], job_id)
        return
    from .app import get_app

    get_app().send_task("workbench.fanout_commit", args=[job_id, attempt, spec, info],
                        task_id=f"{job_id}-a{attempt}-commit", queue="persistence")


# ----------------------------------------------------------------------------- commit
def run_commit(task: Any, job_id: str, attempt: int, spec: dict[str, Any],
               info: dict[str, Any]) -> dict[str, Any]:
    from ..spec.io import pipeline_from_dict
    from .tasks import fail_job

    rt = runtime()
    me = worker_id(task.request.hostname)
    t0 = time.monotonic()
    state = "skipped"
    pipeline = pipeline_from_dict(spec)
    sink = pipeline.sink
    assert isinstance(sink, m.DatasetSink)
    with task_context(job_id=job_id, task_id=task.request.id, task="fanout_commit",
                      attempt=attempt, worker=me):
        rec = rt.ctx.catalog.get_job(job_id)
        if rec["status"] not in ("running", "retrying") or rec.get("attempts") != attempt:
            return {"job_id": job_id, "status": rec["status"]}
        if rec.get("cancel_requested"):
            _cleanup(rt, sink.name, job_id)
            pub = rt.publisher(job_id)
            if finish_if_open(rt.ctx, job_id, "cancelled"):
                pub(JobCancelled(job_id=job_id))
            pub.close()
            return {"job_id": job_id, "status": "cancelled"}
        lock = keys.lock(rt.ctx.namespace, job_id, "commit")
        hard = rt.cfg.time_limits["persistence"][1]
        if not rt.redis.set(lock, me, nx=True, ex=int(hard) + 60):
            return {"job_id": job_id, "status": "committing elsewhere"}
        publish = rt.publisher(job_id)
        try:
            with Heartbeat(rt.ctx.catalog, job_id, rt.cfg.heartbeat_interval):
                result = commit_parts(rt, job_id, attempt, pipeline, int(info["n"]), publish,
                                      started=rec.get("started_at") or rec["submitted_at"])
            state = "succeeded"
            return {"job_id": job_id, "status": "succeeded",
                    "result": {k: result.get(k) for k in ("name", "version", "rows", "checksum")}}
        except TransientError as err:
            retries = task.request.retries or 0
            if retries < rt.cfg.max_retries:
                delay = rt.cfg.retry_delay(retries + 1)
                publish(Retrying(job_id=job_id, attempt=retries + 1, delay=delay,
                                 error=err.to_dict()))
                metrics.record_retry(rt.redis, rt.ctx.namespace, "fanout_commit")
                state = "retry"
                raise task.retry(countdown=delay, max_retries=None) from None
            _cleanup(rt, sink.name, job_id)
            fail_job(rt, job_id, err, publish, dead_letter_task="fanout_commit",
                     attempts=retries + 1)
            state = "failed"
            raise
        except BaseException as exc:
            err = as_workbench_error(exc)
            _cleanup(rt, sink.name, job_id)
            fail_job(rt, job_id, err, publish)
            state = "failed"
            raise err from None
        finally:
            try:
                if rt.redis.get(lock) == me:
                    rt.redis.delete(lock)
            except Exception:
                pass
            publish.close()
            seconds = time.monotonic() - t0
            metrics.record_task(rt.redis, rt.ctx.namespace, "fanout_commit", state, seconds)
            log.info("commit %s", state, extra={"state": state, "duration": round(seconds, 4)})


def commit_parts(rt: Runtime, job_id: str, attempt: int, pipeline: m.Pipeline, n: int,
                 publish: Callable[[Event], None], *, started: float) -> dict[str, Any]:
    from ..datasets import commit_version, find_committed, previous_files
    from ..engines.profile import add_top_values, profile_from_stats, schema_dict
    from ..execute import _summary
    from ..writer import _check_append_schema
    from .commit import commit_guard, scan_parts, stats_exprs

    ctx = rt.ctx
    sink = pipeline.sink
    assert isinstance(sink, m.DatasetSink)
    done = find_committed(ctx, sink.name, job_id)
    if done is None:
        pprefix = parts_prefix(ctx.namespace, sink.name, job_id, attempt)
        entries = []
        for i in range(n):
            try:
                entries.append(json.loads(ctx.storage.get_bytes(f"{pprefix}{i:05d}.json")))
            except NotFound:
                raise InternalError(f"part {i} of {n} is missing at commit") from None
        first = entries[0]
        for e in entries[1:]:
            if e["schema"] != first["schema"]:
                diff = sorted(set(e["schema"].items()) ^ set(first["schema"].items()))
                raise SourceError(
                    f"this file's columns differ from the first file's: {diff[:6]}",
                    file=e["inputs"][0]["path"] if e["inputs"] else None,
                    hint="give the files one layout, declare types with schema_overrides, or read "
                         "them without parallel=True")
        rows_in = sum(int(e["rows"]) for e in entries)
        publish(StepFinished(job_id=job_id, step="read", index=0, rows=rows_in,
                             bytes=sum(int(i.get("size") or 0) for e in entries for i in e["inputs"])))
        for i, step in enumerate(pipeline.steps):
            publish(StepFinished(job_id=job_id, step=step.name or f"{i + 1}:{step.op}", index=i + 1))
        write_index = len(pipeline.steps) + 1
        publish(StepStarted(job_id=job_id, step="write", index=write_index))
        t_write = time.time()
        files = [f for e in entries for f in e["files"]]
        staged = scan_parts(ctx, [f["key"] for f in files])
        schema = staged.collect_schema()
        if sink.mode == "append":
            _check_append_schema(ctx, sink.name, schema)
        stats = staged.select(stats_exprs(pipeline, schema)).collect(engine="streaming").row(
            0, named=True)
        checks = commit_guard(pipeline, schema, publish, job_id)(stats, staged)
        profile = profile_from_stats(schema, stats)
        add_top_values(profile, staged, schema)
        inputs = [i for e in entries for i in e["inputs"]]
        base = previous_files(ctx, sink.name)[0] if sink.mode == "append" else []
        ds = commit_version(
            ctx, name=sink.name, job_id=job_id, files=files, rows=int(stats["__p.rows"]),
            schema=schema_dict(schema, profile), profile=profile,
            spec=pipeline.model_dump(mode="json"), inputs=inputs,
            bytes_in=sum(int(i.get("size") or 0) for i in inputs), checks=checks,
            mode=sink.mode, base_files=base)
        publish(StepFinished(job_id=job_id, step="write", index=write_index, rows=ds.rows,
                             bytes=ds.bytes, seconds=time.time() - t_write))
    else:
        ds = done
        publish(Message(job_id=job_id, level="info",
                        text=f"already committed as {ds.name} v{ds.version}; not committed again"))
    result = ds.to_dict()
    try:  # the part manifests served their purpose; gone before anyone hears of the result
        ctx.storage.delete_prefix(parts_prefix(ctx.namespace, sink.name, job_id, attempt))
        rt.redis.delete(keys.fanout(ctx.namespace, job_id, attempt))
    except Exception:
        pass
    ctx.catalog.finish_job(job_id, "succeeded", result=_summary(result))
    publish(JobFinished(job_id=job_id, result=result, seconds=time.time() - started))
    return result


__all__ = ["Plan", "plan", "run_commit", "run_part", "start"]
