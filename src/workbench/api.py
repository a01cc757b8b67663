"""The Python API analysts use: builders for specs, and ingest/read/submit/preview.

>>> import workbench as wb
>>> ds = wb.ingest("sales.csv", name="sales")
>>> wb.read("sales").group_by("region").len().collect()
"""

from __future__ import annotations

import atexit
import functools
import html
import inspect
import time
import typing
from typing import Any, Callable

import polars as pl
from pydantic import ValidationError

from .context import Context
from .dataset_store import Dataset, dataset_from_record, get_dataset, scan_dataset
from .engines.sql_preview import PreviewPlan
from .errors import MemoryLimitExceeded, TimeLimitExceeded, WorkbenchError
from .events import null_emit
from .execute import build_frame, classify_error
from .job_handle import Job
from .monitor import Monitor, resident_bytes
from .options import check_options, keyword_names, strict
from .runners import RUNNER_OPTIONS, get_runner
from .runners.local import LIVE_JOBS
from .runners.recorded import RecordedJob
from .spec import models as m
from .spec.models import Pipeline, describe_validation_error


# ----------------------------------------------------------------------------- builders
def _spec_errors(builder: Callable[..., Any]) -> Callable[..., Any]:
    """Builders raise ``SpecError`` naming the field and the allowed values, not pydantic's error;
    an unknown option is named, with a "did you mean" among the builder's and its model's."""
    own, var = keyword_names(builder)
    # ``**options`` are the model's fields; other ``**kwargs`` are data (column expressions of
    # with_columns, a Python step's arguments) and are not options
    var = var and "options" in inspect.signature(builder).parameters
    model_fields: list[set[str]] = []

    def allowed() -> set[str]:
        if var and not model_fields:  # the model the builder returns takes the **options
            model = typing.get_type_hints(builder, {**vars(m), **globals()})["return"]
            model_fields.append(set(model.model_fields) - {"kind"})  # kind: the builder's own
        return own | (model_fields[0] if var else set())

    data_kwargs = keyword_names(builder)[1] and not var

    @functools.wraps(builder)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if kwargs and not data_kwargs:
            check_options(f"wb.{builder.__name__}()", kwargs, allowed())
        try:
            return builder(*args, **kwargs)
        except ValidationError as err:
            raise describe_validation_error(err, None) from None

    return wrapped


@_spec_errors
def file(path: str, *, format: str = "auto", **options: Any) -> m.FileSource:
    """A file, a glob of files (``"orders/*.csv"``) or an ``s3://`` object/prefix as a source."""
    return m.FileSource(path=str(path), format=format, **options)


@_spec_errors
def from_dataset(name: str, *, version: int | None = None) -> m.DatasetSource:
    """A catalog dataset as a source (the latest version unless ``version`` is given)."""
    return m.DatasetSource(name=name, version=version)


@_spec_errors
def query(sql: str, *, db: str, params: dict[str, Any] | None = None,
          incremental: m.Incremental | None = None, batch_rows: int = 100_000) -> m.QuerySource:
    """A SQL query against a database (bound parameters ``:name``; never string-formatted)."""
    return m.QuerySource(sql=sql, db=db, params=params or {}, incremental=incremental,
                         batch_rows=batch_rows)


@_spec_errors
def incremental(cursor: str, *, initial: Any = None) -> m.Incremental:
    """Read only rows whose ``cursor`` column is past the last successful run's maximum."""
    return m.Incremental(cursor=cursor, initial=initial)


@_spec_errors
def upload(upload_id: str, *, format: str = "auto") -> m.UploadSource:
    return m.UploadSource(upload_id=upload_id, format=format)


@_spec_errors
def sql(query: str, *, name: str | None = None) -> m.SqlStep:
    """DuckDB SQL over the relation ``input`` (and catalog datasets by name), sandboxed."""
    return m.SqlStep(query=query, name=name)


@_spec_errors
def select(*columns: str) -> m.SelectStep:
    return m.SelectStep(columns=list(columns))


@_spec_errors
def filter(predicate: str) -> m.FilterStep:  # noqa: A001 - the natural name for analysts
    return m.FilterStep(predicate=predicate)


@_spec_errors
def with_columns(**columns: str) -> m.WithColumnsStep:
    return m.WithColumnsStep(columns=columns)


@_spec_errors
def rename(mapping: dict[str, str]) -> m.RenameStep:
    return m.RenameStep(mapping=mapping)


@_spec_errors
def cast(dtypes: dict[str, str], *, strict: bool = True) -> m.CastStep:
    return m.CastStep(dtypes=dtypes, strict=strict)


@_spec_errors
def drop(*columns: str) -> m.DropStep:
    return m.DropStep(columns=list(columns))


@_spec_errors
def drop_nulls(*subset: str) -> m.DropNullsStep:
    return m.DropNullsStep(subset=list(subset) or None)


@_spec_errors
def unique(*subset: str, keep: str = "first") -> m.UniqueStep:
    return m.UniqueStep(subset=list(subset) or None, keep=keep)


@_spec_errors
def sort(*by: str, descending: bool | list[bool] = False) -> m.SortStep:
    return m.SortStep(by=list(by), descending=descending)


@_spec_errors
def limit(n: int) -> m.LimitStep:
    return m.LimitStep(n=n)


@_spec_errors
def python(function: str, **kwargs: Any) -> m.PythonStep:
    """A registered Python function ``"package.module:function"`` taking a LazyFrame."""
    return m.PythonStep(function=function, kwargs=kwargs)


@_spec_errors
def not_null(*columns: str, severity: str = "error") -> m.NotNullCheck:
    return m.NotNullCheck(columns=list(columns), severity=severity)


@_spec_errors
def is_unique(*columns: str, severity: str = "error") -> m.UniqueCheck:
    return m.UniqueCheck(columns=list(columns), severity=severity)


@_spec_errors
def accepted_values(column: str, values: list[Any], *, severity: str = "error") -> m.AcceptedValuesCheck:
    return m.AcceptedValuesCheck(column=column, values=values, severity=severity)


@_spec_errors
def in_range(column: str, *, min: Any = None, max: Any = None, severity: str = "error") -> m.RangeCheck:
    return m.RangeCheck(column=column, min=min, max=max, severity=severity)


@_spec_errors
def matches(column: str, pattern: str, *, severity: str = "error") -> m.RegexCheck:
    return m.RegexCheck(column=column, pattern=pattern, severity=severity)


@_spec_errors
def row_count(*, min: int | None = None, max: int | None = None, severity: str = "error") -> m.RowCountCheck:
    return m.RowCountCheck(min=min, max=max, severity=severity)


@_spec_errors
def column_types(types: dict[str, str], *, severity: str = "error") -> m.ColumnTypesCheck:
    return m.ColumnTypesCheck(types=types, severity=severity)


@_spec_errors
def check_sql(predicate: str, *, name: str | None = None, severity: str = "error") -> m.SqlPredicateCheck:
    """Every row must satisfy a SQL boolean expression."""
    return m.SqlPredicateCheck(predicate=predicate, name=name, severity=severity)


@_spec_errors
def dataset(name: str, *, mode: str = "overwrite", **options: Any) -> m.DatasetSink:
    """A Parquet dataset in storage as the sink (modes create, overwrite, append, upsert)."""
    return m.DatasetSink(name=name, mode=mode, **options)


@_spec_errors
def table(table: str, *, db: str, mode: str = "append", keys: list[str] | None = None,
          **options: Any) -> m.TableSink:
    """A database table as the sink (modes create, insert, append, replace, upsert)."""
    return m.TableSink(table=table, db=db, mode=mode, keys=keys or [], **options)


# ----------------------------------------------------------------------------- actions
def _all_runner_options() -> set[str]:
    return set().union(*RUNNER_OPTIONS.values())


@strict(extra=_all_runner_options)
def submit(pipeline: Pipeline, *, runner: str | None = None, job_id: str | None = None,
           **options: Any) -> Job:
    """Run a pipeline: on Celery workers when a broker is configured, else in this kernel.

    ``job_id`` names the job (submitting the same id again never runs a finished job twice);
    ``options`` are the runner's: ``fallback``, ``stages`` and ``broker_url`` for Celery, none
    for the LocalRunner. An unknown option is refused by name.
    """

    return get_runner(runner, **options).submit(pipeline, job_id=job_id)


@strict
def run(pipeline: Pipeline, *, runner: str | None = None, timeout: float | None = None) -> Any:
    """Submit, wait, and return the result; raises the job's error if it failed."""
    job = submit(pipeline, runner=runner)
    job.wait(timeout)
    if job.status == "cancelled":
        raise WorkbenchError("the job was cancelled")
    return job.result


_SINK_OPTIONS = ("partition_by", "compression", "row_group_size", "compression_level", "keys")


@strict(extra=lambda: set(m.FileSource.model_fields) - {"kind", "path"} | set(_SINK_OPTIONS))
def ingest(path: str, *, name: str, mode: str = "overwrite", format: str = "auto",
           runner: str | None = "local", **options: Any) -> Dataset:
    """Read a file (or glob) into a dataset; returns the committed ``Dataset``.

    Options are the file source's (delimiter, encoding, null_values, schema_overrides, sheet…).
    """
    sink_opts = {k: options.pop(k) for k in _SINK_OPTIONS if k in options}
    p = Pipeline(name=f"ingest {name}", source=file(path, format=format, **options),
                 sink=dataset(name, mode=mode, **sink_opts))
    return run(p, runner=runner)


@strict
def read(name: str, *, version: int | None = None, as_of: Any = None) -> pl.LazyFrame:
    """A lazy frame over a dataset's Parquet files: the latest version, number ``version``, or
    the version current at ``as_of`` (a datetime, naive meaning UTC; an ISO string; or epoch
    seconds), as its Iceberg snapshot was (time travel)."""
    return scan_dataset(Context.from_settings(), name, version, as_of=as_of)


@strict
def info(name: str, *, version: int | None = None, as_of: Any = None) -> Dataset:
    return get_dataset(Context.from_settings(), name, version, as_of=as_of)


class Preview(pl.DataFrame):
    """What ``preview`` returns: a polars DataFrame that also says how it was computed.

    ``sampled`` is True when a SQL step needed every row (an aggregate, a window over everything,
    ORDER BY, a join, DISTINCT…) and ran on the first ``sample_rows`` rows of its inputs only: its
    numbers may differ from the full run. ``sampled_steps`` names those steps. Otherwise the rows
    are exactly the first rows the full run produces.
    """

    sampled: bool = False
    sampled_steps: list[str] = []
    sample_rows: int | None = None

    def _note(self) -> str:
        return (f"sampled preview: step {', '.join(self.sampled_steps)} ran on the first "
                f"{self.sample_rows:,} rows of its inputs, so its results may differ from the "
                "full run" if self.sampled else "")

    def __str__(self) -> str:
        # polars' __repr__ calls __str__: draw the table with the base class's __str__
        note, table = self._note(), pl.DataFrame.__str__(self)
        return f"{note}\n{table}" if note else table

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self, **kwargs: Any) -> str:
        inner = super()._repr_html_(**kwargs)
        note = self._note()
        return (f'<div class="wb-preview-sampled"><b>{html.escape(note)}</b></div>{inner}'
                if note else inner)


@strict
def preview(pipeline: Pipeline, *, rows: int = 100) -> Preview:
    """Run the pipeline in this kernel and return its first ``rows`` rows; nothing is written.

    Row-wise work stops once it has the rows. A SQL step that needs every row runs on a sample
    of its inputs (``WORKBENCH_PREVIEW_SAMPLE`` rows each), and the result says so (``.sampled``).
    """

    ctx = Context.from_settings()
    limit = ctx.settings.job_time_limit
    plan = PreviewPlan(rows=rows, sample_rows=ctx.settings.preview_sample_rows)
    frame, scan, _ = build_frame(pipeline, ctx, null_emit, Monitor("preview", null_emit),
                                 preview=plan)
    try:
        # A preview stays in the kernel: run it as a cancellable background query, and cancel it
        # at the job time limit rather than let a runaway plan hold the kernel.
        # The same memory limit as a job's process, counted as what the preview adds to the
        # kernel (sampled at every poll).
        query = frame.head(rows).collect(background=True)
        deadline = time.monotonic() + limit
        memory, base = ctx.settings.job_memory_limit, resident_bytes()
        while (collected := query.fetch()) is None:
            if time.monotonic() > deadline:
                _abandon(query)
                raise TimeLimitExceeded(f"the preview ran past the time limit of {limit:g}s",
                                        hint="preview a smaller input, or raise "
                                             "WORKBENCH_JOB_TIME_LIMIT")
            if memory and (grown := resident_bytes() - base) > memory:
                _abandon(query)
                raise MemoryLimitExceeded(
                    f"the preview took {grown / 2**20:,.0f} MiB, over the memory limit of "
                    f"{memory / 2**20:,.0f} MiB, and was stopped",
                    hint="preview fewer rows or a smaller input, submit it as a job (its own "
                         "process), or raise WORKBENCH_JOB_MEMORY_LIMIT")
            time.sleep(0.02)  # polling a background query; not a synchronisation
        out = Preview(collected)
    except Exception as exc:

        raise classify_error(exc, scan, None) from None
    finally:
        scan.cleanup()
    out.sampled = bool(plan.sampled)
    out.sampled_steps = list(plan.sampled)
    out.sample_rows = plan.sample_rows
    return out


# Previews stopped at a limit whose query may still be running. Polars cannot stop a Python
# step mid-call, and a background query that finishes after its handle was dropped panics in a
# Polars thread, which aborts the whole kernel (**checked**, Polars 2.1: "SendError" in
# collect_concurrently). So the handles are kept until their query has ended.
_ABANDONED: list[Any] = []


def _abandon(query: Any) -> None:
    query.cancel()
    _ABANDONED[:] = [q for q in _ABANDONED if not _ended(q)]
    if not _ABANDONED:
        atexit.register(_wait_abandoned)  # at most once per batch; extra calls return at once
    _ABANDONED.append(query)


def _wait_abandoned(timeout: float = 30.0) -> None:
    """At exit, give stopped previews' queries a moment to end before their handles go."""
    deadline = time.monotonic() + timeout
    while _ABANDONED and time.monotonic() < deadline:
        _ABANDONED[:] = [q for q in _ABANDONED if not _ended(q)]
        time.sleep(0.05)  # polling Polars' handles at exit; not a synchronisation


def _ended(query: Any) -> bool:
    try:
        return query.fetch() is not None
    except Exception:  # a cancelled query reports its end as an error
        return True


@strict
def list_datasets() -> list[Dataset]:
    ctx = Context.from_settings()
    return [dataset_from_record(ctx, r, {"files": []}) for r in ctx.catalog.list_datasets(ctx.namespace)]


@strict
def list_jobs(*, limit: int = 50, status: str | None = None, who: str | None = None,
              dataset: str | None = None, offset: int = 0) -> list[dict[str, Any]]:
    """This namespace's jobs, newest first; filter by status, submitter (``who``) or dataset."""
    ctx = Context.from_settings()
    return ctx.catalog.list_jobs(ctx.namespace, limit=limit, status=status, owner=who,
                                 dataset=dataset, offset=offset)


@strict
def job(job_id: str) -> Job:
    """Reattach to a job by id (after a kernel restart): replays its events from the start."""

    ctx = Context.from_settings()
    live = LIVE_JOBS.get(job_id)
    if live is not None and live._ctx.namespace == ctx.namespace:
        return live
    record = ctx.catalog.get_job(job_id, ctx.namespace)
    if record["runner"] == "celery":
        return get_runner("celery").attach(job_id)
    # A local job of another process: follow its catalog record (status, heartbeat progress).

    return RecordedJob(job_id, ctx, record)
