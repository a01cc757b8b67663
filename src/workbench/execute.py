"""``execute``: the one function that runs a pipeline, in the kernel or on a worker.

read → steps → (checks + profile + Parquet write in one streaming pass) → commit. The runners only
decide where this runs; the result is the same in both.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import Future
from typing import Any, Callable

import polars as pl

from .connectors import (
    SINKS, SOURCES, check_unchanged, estimate_bytes_per_row, hash_inputs_async, open_source,
)
from .context import Context
from .dataset_store import find_committed
from .engines import checks as checks_engine
from .engines.profile import (
    add_exact_distinct, apply_exact_distinct, exact_distinct_exprs, profile_exprs,
    profile_from_stats, schema_dict, stats_deferred,
)
from .engines.source import SourceScan
from .engines.steps import apply_step, step_label
from .errors import (
    Cancelled, InputError, SourceError, StepError, StorageError, Superseded, TimeLimitExceeded,
    TransientError, WorkbenchError, as_workbench_error, disk_full, is_enospc,
)
from .events import (
    CheckResult, Emit, JobCancelled, JobFailed, JobFinished, JobStarted, Message, Retrying,
    StepFinished, StepStarted, null_emit,
)
from .inputs import SqlSession, open_sources
from .job_record import StepRecorder
from .monitor import Monitor
from .results import encode_rows, strip_inline
from .spec.models import DatasetSink, Pipeline, SqlStep

MAX_RESCANS = 3  # widen inferred types at most this many times before reporting the error


def _rescan(scan: SourceScan | None, exc: BaseException) -> SourceScan | None:
    if scan is None or isinstance(exc, WorkbenchError) or \
            type(exc).__name__ == "SoftTimeLimitExceeded":  # a time limit is no type to widen
        return None
    try:
        return scan.rescan(exc)
    except Exception:  # a failing rescan must not hide the original error
        return None


def build_frame(pipeline: Pipeline, ctx: Context, emit: Emit, monitor: Monitor,
                job_id: str = "", *, scan: SourceScan | None = None, preview: Any = None
                ) -> tuple[pl.LazyFrame, SourceScan, list[str]]:
    """Open the sources (unless a rescan gives the primary) and plan every step; SQL steps run
    here (DuckDB materialises them). ``preview``: an ``engines.sql.PreviewPlan``."""

    emit(StepStarted(job_id=job_id, step="read", index=0))
    monitor.step = "read"
    with monitor.opening(f"reading {source_label(pipeline.source)}"):
        scan = open_sources(pipeline, lambda src: open_source(src, ctx, monitor), scan)
    for note in scan.notes:
        emit(Message(job_id=job_id, level="warning", text=note))
    # the totals are known from here on: the rows read into a SQL step show as a share too
    monitor.rows_total = scan.rows_total
    monitor.bytes_total = scan.bytes_total
    monitor.bytes_per_row = estimate_bytes_per_row(scan)
    frame = scan.frame
    if scan.rows_total is None and not counts_the_source(pipeline):
        # a step before the first SQL step (or before the sink) changes the count: the read
        # step's own rows are counted as the source gives them
        frame = monitor.count_source(frame)
    labels = []
    session: SqlSession | None = None
    try:
        for i, step in enumerate(pipeline.steps):
            label = step_label(i, step)
            labels.append(label)
            monitor.check_cancel()
            emit(StepStarted(job_id=job_id, step=label, index=i + 1))
            t0 = time.time()
            if isinstance(step, SqlStep):
                if session is None:
                    session = SqlSession(ctx, pipeline, monitor, job_id, preview)
                monitor.step = label
                monitor.step_rows = None
                entering = monitor.rows
                try:
                    frame = session.run(i, label, frame.map_batches(monitor.on_batch, streamable=True),
                                        scan.relations)
                except WorkbenchError:
                    raise
                except Exception as exc:
                    raise classify_error(exc, scan, label) from None
                if i == 0:  # the rows that entered the first step are the rows read
                    monitor.rows_read = monitor.rows
                elif not isinstance(pipeline.steps[i - 1], SqlStep):
                    # the rows entering a SQL step are the rows the step before it put out
                    monitor.own_rows[i - 1] = monitor.rows - entering
                emit(StepFinished(job_id=job_id, step=label, index=i + 1, rows=monitor.step_rows,
                                  seconds=time.time() - t0))
            else:
                frame = apply_step(frame, step, label, settings=ctx.settings)
    except BaseException:
        if session is not None:
            session.close()
        scan.cleanup()
        raise
    if session is not None:  # datasets it read join the lineage; its temp folder lives to the end
        scan = session.finish(scan)
    return frame, scan, labels


ROW_PRESERVING = frozenset({"select", "with_columns", "rename", "cast", "drop", "sort"})


def counts_the_source(pipeline: Pipeline) -> bool:
    """Whether the monitor's row count is the number of rows read: it counts the rows entering
    each SQL step, or else the rows reaching the sink, so only when nothing between the source
    and that point adds or drops rows. Otherwise the read step reports the source's own count, or
    nothing, never another stage's rows."""
    sql = [i for i, s in enumerate(pipeline.steps) if isinstance(s, SqlStep)]
    if sql:
        return sql == [0]
    return all(getattr(s, "op", "") in ROW_PRESERVING for s in pipeline.steps)


def read_rows(pipeline: Pipeline, monitor: Monitor, scan: SourceScan) -> int | None:
    """The read step's rows: counted as they entered a first SQL step, else as they reached the
    sink when nothing on the way changes the count, else the source's own count (or nothing)."""
    if getattr(monitor, "rows_read", None) is not None:
        return monitor.rows_read
    if getattr(monitor, "source_rows", None) is not None:
        return monitor.source_rows
    return monitor.rows if counts_the_source(pipeline) else scan.rows_total


def source_label(source: Any) -> str:
    """A short name of where a source reads, for the progress line ("reading sales.csv")."""
    path = getattr(source, "path", None)
    if isinstance(path, str) and path:
        return path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or path
    if getattr(source, "kind", "") == "query":
        return f"a query on {source.db}"
    if getattr(source, "kind", "") == "upload":
        return f"upload {source.upload_id}"
    return str(getattr(source, "name", None) or "the source")


# ----------------------------------------------------------------------------- errors
def classify_error(exc: BaseException, scan: SourceScan | None, step: str | None) -> WorkbenchError:
    """Map an exception from the streaming pass to a located, typed error."""
    if isinstance(exc, WorkbenchError):
        return exc.with_context(step=step)
    if type(exc).__name__ == "SoftTimeLimitExceeded":
        # A worker's soft time limit (Celery's exception, matched by name: only the running
        # layer imports Celery). A limit, never retried, and not an InternalError.
        return TimeLimitExceeded("the task ran past its soft time limit and was stopped",
                                 step=step, hint="split the input, or raise the queue's "
                                                 "WORKBENCH_SOFT_TIME_LIMIT_<QUEUE> and "
                                                 "WORKBENCH_HARD_TIME_LIMIT_<QUEUE>")
    cause = exc
    while cause.__cause__ is not None and not isinstance(cause, WorkbenchError):
        cause = cause.__cause__
    if isinstance(cause, WorkbenchError):
        return cause.with_context(step=step)
    full = _disk_full(exc)
    if full is not None:
        return full
    if scan is not None:
        try:
            located = scan.diagnose(exc)
        except Exception:
            located = None
        if located is not None:
            return located.with_context(step="read")
    if isinstance(exc, pl.exceptions.PolarsError):
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]

        m = re.search(r"column '([^']+)'|column \"([^\"]+)\"|in column (\S+)", text)
        column = (m.group(1) or m.group(2) or m.group(3)).strip("'\"") if m else None
        return StepError(f"the data could not be processed: {text}", column=column, step=step,
                         hint="check the step's types and expressions; a cast with strict=False "
                              "turns bad values into nulls")
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return TransientError(f"{type(exc).__name__}: {exc}", step=step)
    if isinstance(exc, OSError):
        return SourceError(f"{type(exc).__name__}: {exc}", step=step)
    return as_workbench_error(exc, step=step)


_DISK_FULL_AT = re.compile(r"disk full at (\S+?)(?::|\s|$|\))")


def _disk_full(exc: BaseException) -> WorkbenchError | None:
    """ENOSPC anywhere under the data pass (Polars wraps a writer's error in its own text):
    a StorageError naming the folder, never a step's fault."""
    seen: BaseException | None = exc
    while seen is not None:  # a "disk full" that names its folder wins (a close after it fails too)
        if isinstance(seen, StorageError) and str(seen.message).startswith("disk full at "):
            return seen
        seen = seen.__cause__ or seen.__context__
    seen = exc
    while seen is not None:
        if is_enospc(seen):
            return disk_full(getattr(seen, "filename", None) or "the folder being written")
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    m = _DISK_FULL_AT.search(text)
    if m:
        return disk_full(m.group(1).rstrip(".,'\""))
    if "No space left on device" in text or "os error 28" in text or "Errno 28" in text:
        return disk_full("the folder being written", text.strip().splitlines()[0][:200])
    return None


# ----------------------------------------------------------------------------- execute
def make_commit_guard(pipeline: Pipeline, schema: pl.Schema, emit: Emit, job_id: str
                      ) -> Callable[[dict[str, Any], pl.LazyFrame | None], list[dict]]:
    """``commit_guard(stats, staged)`` for a sink writer: report every check outcome as an event,
    raise ``CheckFailed`` before the commit if an error-severity check failed, and return the
    outcomes for the manifest. (Also used by the workers' fan-out and stage commits.)"""

    def commit_guard(stats: dict[str, Any], staged: pl.LazyFrame | None) -> list[dict]:
        outcomes = checks_engine.evaluate(pipeline.checks, schema, stats)
        if staged is not None:
            checks_engine.add_examples(outcomes, pipeline.checks, staged)
        for oc in outcomes:
            emit(CheckResult(job_id=job_id, name=oc.name, column=oc.column, passed=oc.passed,
                             severity=oc.severity, failed_rows=oc.failed_rows,
                             examples=oc.examples, message=oc.message))
        checks_engine.raise_for_failures(outcomes)
        return [{"name": o.name, "column": o.column, "passed": o.passed, "severity": o.severity,
                 "failed_rows": o.failed_rows, "message": o.message} for o in outcomes]

    return commit_guard


def execute(pipeline: Pipeline, *, job_id: str, ctx: Context, emit: Emit = null_emit,
            should_cancel: Callable[[], bool] | None = None, attempt: int = 1,
            heartbeat: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Run ``pipeline`` and return the result as JSON-able data (``{"kind": "dataset", ...}``)."""

    sink = pipeline.sink
    if isinstance(sink, DatasetSink):
        done = find_committed(ctx, sink.name, job_id)
        if done is not None:  # a redelivered task: the first run already committed
            emit(Message(job_id=job_id, level="info",
                         text=f"already committed as {done.name} v{done.version}; not run again"))
            return done.to_dict()

    monitor = Monitor(job_id, emit, should_cancel=should_cancel, heartbeat=heartbeat)
    monitor.pipeline = pipeline  # type: ignore[attr-defined]  # sources keyed per pipeline (incremental)
    scan: SourceScan | None = None
    next_scan: SourceScan | None = None
    passes = 0
    hashing: Future | None = None  # once per job: a rescan reads the same input files
    try:
        while True:
            try:
                frame, scan, labels = build_frame(pipeline, ctx, emit, monitor, job_id,
                                                  scan=next_scan)
                monitor.rows_total = scan.rows_total
                schema = frame.collect_schema()
                check_exprs = checks_engine.check_exprs(pipeline.checks, schema)
                checks_engine.validate_check_exprs(check_exprs, schema)
                if hashing is None:
                    hashing = hash_inputs_async(scan.inputs, ctx)

                commit_guard = make_commit_guard(pipeline, schema, emit, job_id)

                def inputs_done() -> list[dict[str, Any]]:
                    try:
                        items = hashing.result()
                    except OSError as exc:  # pragma: no cover - a file of over 1 MiB removed
                        # in the instant between the scan and the hash thread, or an I/O error
                        check_unchanged(scan.inputs)  # a removed or rewritten file: named
                        raise SourceError(f"cannot read the source to checksum it: {exc}") from None
                    check_unchanged(items)
                    return [{k: v for k, v in i.items() if k in ("path", "size", "sha256", "source")}
                            for i in items]

                write_label = "write" if sink is not None else "collect"
                monitor.step = write_label
                emit(StepStarted(job_id=job_id, step=write_label, index=len(labels) + 1))
                t0 = time.time()
                sql_at = [i for i, s in enumerate(pipeline.steps) if isinstance(s, SqlStep)]
                if sql_at:  # the input was counted into the SQL steps: now count what is written
                    after = pipeline.steps[sql_at[-1] + 1:]
                    keeps = all(getattr(s, "op", "") in ROW_PRESERVING for s in after)
                    monitor.start_output(monitor.step_rows if keeps else None)
                counted = frame.map_batches(monitor.on_batch, streamable=True)
                if sink is None:
                    result = _collect(counted, schema, check_exprs, commit_guard, inputs_done,
                                      ctx=ctx, job_id=job_id, attempt=attempt,
                                      check_cancel=monitor.check_cancel)
                else:
                    result = SINKS[sink.kind](
                        counted, sink=sink, ctx=ctx, job_id=job_id, attempt=attempt, pipeline=pipeline,
                        schema=schema, monitor=monitor,
                        # a wide dataset's read-back counts its nulls (profile_exprs)
                        stats_exprs=profile_exprs(schema, nulls=not (
                            sink.kind == "dataset" and stats_deferred(schema))) + check_exprs,
                        commit_guard=commit_guard, inputs=inputs_done,
                    )
                    scan.after_commit()  # only a committed sink moves an incremental cursor
                    for note in result.get("notes") or []:  # a conversion the sink made
                        emit(Message(job_id=job_id, level="warning", text=note))
                monitor.finish_input()
                emit(StepFinished(job_id=job_id, step="read", index=0,
                                  rows=read_rows(pipeline, monitor, scan),
                                  bytes=monitor.bytes_total))
                for i, label in enumerate(labels):
                    if not isinstance(pipeline.steps[i], SqlStep):
                        # the last step's output is what reached the sink
                        last = i == len(labels) - 1
                        rows = result.get("rows") if last else monitor.own_rows.get(i)
                        emit(StepFinished(job_id=job_id, step=label, index=i + 1, rows=rows))
                emit(StepFinished(job_id=job_id, step=write_label, index=len(labels) + 1,
                                  rows=result.get("rows"), bytes=result.get("bytes"),
                                  seconds=time.time() - t0))
                return result
            except BaseException as exc:
                if monitor.cancelled or isinstance(exc, Cancelled):
                    raise Cancelled("the job was cancelled") from None
                widened = _rescan(scan, exc) if passes < MAX_RESCANS else None
                if widened is not None:
                    # a value past the inferred sample did not fit: run again with wider types
                    passes += 1
                    next_scan = widened
                    monitor.reset()
                    continue
                raise classify_error(exc, scan, monitor.step if monitor.step != "write" else None) from None
    finally:
        if scan is not None:  # a rescan shares its inputs and cleanup
            try:
                scan.cleanup()
            except Exception:  # pragma: no cover - a failed cleanup never replaces the outcome
                pass


def _collect(frame: pl.LazyFrame, schema: pl.Schema, check_exprs: list[pl.Expr],
             commit_guard: Callable, inputs_done: Callable, *, ctx: Context, job_id: str,
             attempt: int, check_cancel: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """A pipeline without a sink: the rows themselves are the result (previews, notebooks).

    The whole frame is the result, typed (Arrow IPC, see ``results``), or the job fails here,
    before it is reported as succeeded, when the frame is over the size limit.
    """
    df = frame.collect(engine="streaming")
    check_cancel()  # a cancel during the last batch (cancel polls are spaced): as a sink does
    # the rows are in memory: exact distinct counts go in the same select as the rest
    exact = exact_distinct_exprs(schema, df.height)
    stats = (df.select(profile_exprs(schema) + check_exprs + exact).row(0, named=True)
             if df.width else {"__p.rows": df.height})
    checks = commit_guard(stats, df.lazy())
    profile = profile_from_stats(schema, stats)
    if exact:
        apply_exact_distinct(profile, stats)
    else:
        add_exact_distinct(profile, df.lazy())
    rows = encode_rows(df, storage=ctx.storage, namespace=ctx.namespace, job_id=job_id,
                       attempt=attempt, max_bytes=ctx.settings.result_max_bytes,
                       inline_bytes=ctx.settings.result_inline_bytes)
    return {"kind": "rows", "rows": df.height, "columns": df.columns,
            "schema": schema_dict(schema, profile), "profile": profile, "checks": checks,
            **rows, "inputs": inputs_done(), "_frame": df}


# ----------------------------------------------------------------------------- run_job
def run_job(pipeline: Pipeline, *, job_id: str, ctx: Context, emit: Emit = null_emit,
            should_cancel: Callable[[], bool] | None = None, final_attempt: bool = True,
            worker: str | None = None, runner: str = "local",
            retry_delay: Callable[[int], float] | None = None) -> dict[str, Any]:
    """One attempt of a job, recorded in the catalog and reported as events.

    Returns the result, or raises: ``Cancelled``; an ``InputError`` (never retried); a
    ``TransientError`` (after emitting ``Retrying`` when the caller will try again).
    """
    catalog = ctx.catalog
    spec = pipeline.model_dump(mode="json")
    attempt = catalog.start_job(job_id=job_id, namespace=ctx.namespace, spec=spec, runner=runner,
                                name=pipeline.name or _default_name(pipeline), worker=worker)
    t0 = time.time()

    # where the steps, the checks and the progress stood, kept with the record: a view rebuilt
    # from it after a kernel restart shows each step's rows and the last figures, as live
    recorder = StepRecorder(emit)

    def stamped(event) -> None:
        event.job_id = job_id
        recorder(event)

    stamped(JobStarted(name=pipeline.name or _default_name(pipeline), steps=pipeline.step_names(),
                       attempt=attempt, worker=worker))
    try:
        result = execute(pipeline, job_id=job_id, ctx=ctx, emit=stamped, should_cancel=should_cancel,
                         attempt=attempt, heartbeat=lambda p: catalog.heartbeat(job_id, p))
    except Cancelled:
        done = _committed_anyway(pipeline, ctx, job_id)
        if done is None:
            if not catalog.finish_job(job_id, "cancelled", attempt=attempt):
                raise Superseded.at_end(job_id, attempt) from None
            stamped(JobCancelled(seconds=time.time() - t0))
            raise
        result = done  # the cancel came after the commit: the visible version decides
    except Superseded:
        raise  # the record and the job's events belong to the attempt that took over
    except BaseException as exc:
        err = as_workbench_error(exc)
        if err.retryable and not final_attempt:
            if not catalog.update_job(job_id, attempt=attempt, status="retrying",
                                      error=err.to_dict()):
                raise Superseded.at_end(job_id, attempt, err) from None
            stamped(Retrying(attempt=attempt, delay=retry_delay(attempt) if retry_delay else 0.0,
                             error=err.to_dict()))
            raise err from None
        kept = recorder.kept(failed=True)
        # the heartbeat's figures too: none of the bytes it had written count as written
        if not catalog.update_job(job_id, attempt=attempt, status="failed", finished_at=time.time(),
                                  error=err.to_dict(), result=kept,
                                  **({"progress": kept["progress"]} if "progress" in kept else {})):
            raise Superseded.at_end(job_id, attempt, err) from None
        stamped(JobFailed(error=err.to_dict(), seconds=time.time() - t0))
        raise err from None
    frame = result.pop("_frame", None)
    if not catalog.finish_job(job_id, "succeeded", attempt=attempt,
                              result={**result_summary(result), **recorder.kept()}):
        raise Superseded.at_end(job_id, attempt)
    stamped(JobFinished(result=result, seconds=time.time() - t0))
    if frame is not None:
        result["_frame"] = frame
    return result


def _committed_anyway(pipeline: Pipeline, ctx: Context, job_id: str) -> dict[str, Any] | None:
    """The version a cancelled job had committed before the cancel landed, if any."""
    if not isinstance(pipeline.sink, DatasetSink):
        return None
    try:
        done = find_committed(ctx, pipeline.sink.name, job_id)
    except WorkbenchError:
        return None
    return None if done is None else done.to_dict()


def result_summary(result: dict[str, Any]) -> dict[str, Any]:
    """What the job record keeps: the result without inline rows (their key stays)."""
    return strip_inline(result)


def _default_name(pipeline: Pipeline) -> str:
    sink = pipeline.sink
    if sink is not None:
        return getattr(sink, "name", None) or getattr(sink, "table", "pipeline")
    return "preview"


__all__ = ["SINKS", "SOURCES", "build_frame", "execute", "run_job", "InputError"]

