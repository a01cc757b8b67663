"""Fan-out commit: check the parts against the sink and commit them as one dataset version.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable

import polars as pl

from ..dataset_store import commit_version, find_committed, previous_files
from ..engines.profile import (
    EXACT_DISTINCT_ROWS, add_top_values, profile_from_stats, schema_dict,
)
from ..engines.profile_parts import apply_merged_distinct, merge_part_profiles, mergeable
from ..engines.stored import restore
from ..errors import (
    InternalError, NotFound, SourceError, Superseded, TransientError, as_workbench_error,
)
from ..events import Event, JobCancelled, JobFinished, Message, Retrying, StepFinished, StepStarted
from ..engines.steps import step_label
from ..execute import result_summary
from ..job_record import StepRecorder
from ..monitor import Monitor
from ..spec import models as m
from ..spec.io import pipeline_from_dict
from ..writer import check_append_schema
from . import keys, metrics
from .commit import commit_guard, scan_parts, stats_exprs, summed_checks
from .fanout_parts import cleanup_attempt, cleanup_parts, parts_prefix
from .logs import task_context
from .outcome import fail_job, superseded
from .recovery import finish_if_open
from .runtime import Heartbeat, Runtime, runtime, worker_id

log = logging.getLogger("workbench.worker.fanout")


# ----------------------------------------------------------------------------- commit
def run_commit(task: Any, job_id: str, attempt: int, spec: dict[str, Any],
               info: dict[str, Any]) -> dict[str, Any]:
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
            cleanup_parts(rt, sink.name, job_id)
            pub = rt.publisher(job_id)
            if finish_if_open(rt.ctx, job_id, "cancelled"):
                pub(JobCancelled(job_id=job_id))
            pub.close()
            return {"job_id": job_id, "status": "cancelled"}
        lock = keys.lock(rt.ctx.namespace, job_id, "commit")
        hard = rt.cfg.time_limits["persistence"][1]
        if not rt.redis.set(lock, me, nx=True, ex=int(hard) + 60):
            return {"job_id": job_id, "status": "committing elsewhere"}
        stream = rt.publisher(job_id)
        publish = StepRecorder(stream)  # the steps and checks, kept with the job's record
        try:
            with Heartbeat(rt.ctx.catalog, job_id, rt.cfg.heartbeat_interval):
                result = commit_parts(rt, job_id, attempt, pipeline, int(info["n"]), publish,
                                      started=rec.get("started_at") or rec["submitted_at"])
            state = "succeeded"
            return {"job_id": job_id, "status": "succeeded",
                    "result": {k: result.get(k) for k in ("name", "version", "rows", "checksum")}}
        except Superseded as exc:
            # a later attempt took the job over: its parts, record and events are not ours (and
            # a version this attempt committed before it was refused keeps its files)
            log.warning("%s", exc)
            cleanup_attempt(rt, sink.name, job_id, attempt)
            state = "superseded"
            return {"job_id": job_id, "status": "superseded"}
        except TransientError as err:
            retries = task.request.retries or 0
            if retries < rt.cfg.max_retries:
                delay = rt.cfg.retry_delay(retries + 1)
                publish(Retrying(job_id=job_id, attempt=retries + 1, delay=delay,
                                 error=err.to_dict()))
                metrics.record_retry(rt.redis, rt.ctx.namespace, "fanout_commit")
                state = "retry"
                raise task.retry(countdown=delay, max_retries=None) from None
            _cleanup(rt, sink.name, job_id, attempt)
            fail_job(rt, job_id, err, publish, dead_letter_task="fanout_commit",
                     attempts=retries + 1, of_attempt=attempt)
            state = "failed"
            raise
        except BaseException as exc:
            err = as_workbench_error(exc)
            _cleanup(rt, sink.name, job_id, attempt)
            fail_job(rt, job_id, err, publish, of_attempt=attempt)
            state = "failed"
            raise err from None
        finally:
            try:
                if rt.redis.get(lock) == me:
                    rt.redis.delete(lock)
            except Exception:
                pass
            stream.close()
            seconds = time.monotonic() - t0
            metrics.record_task(rt.redis, rt.ctx.namespace, "fanout_commit", state, seconds)
            log.info("commit %s", state, extra={"state": state, "duration": round(seconds, 4)})


def _cleanup(rt: Runtime, name: str, job_id: str, attempt: int) -> None:
    """A failed commit's files: the job's, or only this attempt's if a later one took over."""
    if superseded(rt, job_id, attempt):
        cleanup_attempt(rt, name, job_id, attempt)
    else:
        cleanup_parts(rt, name, job_id)


def commit_parts(rt: Runtime, job_id: str, attempt: int, pipeline: m.Pipeline, n: int,
                 publish: Callable[[Event], None], *, started: float) -> dict[str, Any]:
    if not isinstance(publish, StepRecorder):
        publish = StepRecorder(publish)
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
        rows_in = sum(int(e.get("rows_read", e["rows"])) for e in entries)  # read, not kept
        rows_out = sum(int(e["rows"]) for e in entries)
        publish(StepFinished(job_id=job_id, step="read", index=0, rows=rows_in,
                             bytes=sum(int(i.get("size") or 0) for e in entries for i in e["inputs"])))
        last = len(pipeline.steps) - 1
        for i, step in enumerate(pipeline.steps):  # the last step's output is what the parts wrote
            publish(StepFinished(job_id=job_id, step=step_label(i, step), index=i + 1,
                                 rows=rows_out if i == last else None))
        write_index = len(pipeline.steps) + 1
        publish(StepStarted(job_id=job_id, step="write", index=write_index))
        t_write = time.time()
        files = [f for e in entries for f in e["files"]]
        # the parts are written: what is left (checks and profile over all of them, the commit)
        # moves no rows, so each phase is named as it starts, never a bar standing still
        monitor = Monitor(job_id, publish)
        monitor.step = "write"
        monitor.rows = monitor.rows_total = sum(int(f.get("rows") or 0) for f in files)
        monitor.bytes_out = sum(int(f.get("bytes") or 0) for f in files)
        monitor.phase(f"checks and profile over {len(files)} parts")
        # the parts' own schema: the files hold zoned datetimes in UTC, Enums and Arrays as lists
        staged = restore(scan_parts(ctx, [f["key"] for f in files]),
                         (entries[0].get("schema") or {}) if entries else {})
        schema = staged.collect_schema()
        if sink.mode == "append":
            check_append_schema(ctx, sink.name, schema)
        merged = None
        if rows_out > EXACT_DISTINCT_ROWS and mergeable(schema):
            # the parts' own statistics add up; up to that many rows distinct counts are exact,
            # which needs every value in one place: the parts are read back below
            monitor.phase(f"profile: merging the statistics of {len(entries)} parts")
            merged = merge_part_profiles([e.get("profile") for e in entries], schema,
                                         summed_checks(pipeline))
        if merged is None:
            stats = staged.select(stats_exprs(pipeline, schema)).collect(
                engine="streaming").row(0, named=True)
        else:
            stats, distinct = merged
            rest = [e for e in stats_exprs(pipeline, schema, distinct=False)
                    # what the parts' statistics do not give: a unique check's count
                    if not all(n in stats for n in _output_names(e, schema))]
            if rest:
                stats.update(staged.select(rest).collect(engine="streaming").row(0, named=True))
        monitor.phase("checks")
        checks = commit_guard(pipeline, schema, publish, job_id)(stats, staged)
        profile = profile_from_stats(schema, stats)
        if merged is None:
            add_top_values(profile, staged, schema, on_phase=monitor.phase)
        else:
            apply_merged_distinct(profile, distinct, staged)
        monitor.phase("commit")
        inputs = [i for e in entries for i in e["inputs"]]
        base = previous_files(ctx, sink.name)[0] if sink.mode == "append" else []
        ds = commit_version(
            ctx, name=sink.name, job_id=job_id, files=files, rows=int(stats["__p.rows"]),
            schema=schema_dict(schema, profile), profile=profile,
            spec=pipeline.model_dump(mode="json"), inputs=inputs,
            bytes_in=sum(int(i.get("size") or 0) for i in inputs), checks=checks,
            mode=sink.mode, base_files=base, on_phase=monitor.phase, attempt=attempt)
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
    if not ctx.catalog.finish_job(job_id, "succeeded", attempt=attempt,
                                  result={**result_summary(result), **publish.kept()}):
        raise Superseded.at_end(job_id, attempt)
    publish(JobFinished(job_id=job_id, result=result, seconds=time.time() - started))
    return result


def _output_names(expr: pl.Expr, schema: pl.Schema) -> list[str]:
    """The columns ``expr`` gives (the null counts are one expression over every column)."""
    if expr.meta.has_multiple_outputs():
        return pl.LazyFrame(schema=schema).select(expr).collect_schema().names()
    return [expr.meta.output_name()]
