"""A pipeline's named inputs opened as one scan, and the SQL steps that read them.

``sources={"orders": …, "customers": …}`` opens every source; the first (the primary) is the
frame Polars steps transform, fan-out splits and whose rows the progress counts. The others are
relations SQL steps read by name. Together they are one ``SourceScan`` to ``execute``: every
input is in its lineage (tagged with its source name), every source's cleanup runs, and every
incremental query advances its cursor after the commit.

``SqlSession`` runs a job's SQL steps: one temp folder per job (engines/sql_sandbox.py), the
limits from the settings, catalog datasets by name, and the preview's sampling plan.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable

import polars as pl

from .context import Context
from .dataset_store import get_dataset, scan_dataset
from .engines.source import SourceScan
from .engines.sql_preview import is_row_wise
from .engines.sql_sandbox import JobTemp, temp_root
from .errors import WorkbenchError
from .spec import models as m

OpenSource = Callable[[Any], SourceScan]


def open_sources(pipeline: m.Pipeline, open_one: OpenSource, scan: SourceScan | None = None
                 ) -> SourceScan:
    """Open the primary source (unless a rescan gives it) and every other named source."""
    named = pipeline.named_sources()
    if scan is None:
        try:
            scan = open_one(pipeline.source)
        except WorkbenchError as exc:
            raise exc.with_context(step="read")
    names = list(named)
    if len(named) == 1:  # one source: `input`, and its own name if it was given one
        return scan if names[0] == "input" else dataclasses.replace(scan, relations={names[0]: scan.frame})
    extras: dict[str, SourceScan] = {}
    try:
        for name in names[1:]:
            try:
                extras[name] = open_one(named[name])
            except WorkbenchError as exc:
                raise exc.with_context(step=f"read {name}")
    except BaseException:
        for s in extras.values():
            _quietly(s.cleanup)
        _quietly(scan.cleanup)
        raise
    return _combine(names[0], scan, extras)


def _quietly(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:  # a failing cleanup must not hide the job's own outcome
        pass


def _combine(primary_name: str, primary: SourceScan, extras: dict[str, SourceScan]) -> SourceScan:
    scans = {primary_name: primary, **extras}

    def diagnose(exc: BaseException) -> WorkbenchError | None:
        for name, s in scans.items():
            try:
                found = s.diagnose(exc)
            except Exception:
                found = None
            if found is not None:
                return found.with_context(step="read" if name == primary_name else f"read {name}")
        return None

    def cleanup() -> None:
        for s in scans.values():
            _quietly(s.cleanup)

    def after_commit() -> None:
        for s in scans.values():
            s.after_commit()

    def rescan(exc: BaseException) -> SourceScan | None:
        widened = primary.rescan(exc)  # only the primary is read by the streaming pass
        if widened is not None:
            for s in extras.values():  # build_frame opens them again with the widened primary
                _quietly(s.cleanup)
        return widened

    return dataclasses.replace(
        primary,
        inputs=[{**i, "source": n} for n, s in scans.items() for i in s.inputs],
        notes=list(primary.notes) + [f"{n}: {note}" for n, s in extras.items() for note in s.notes],
        diagnose=diagnose, cleanup=cleanup, after_commit=after_commit, rescan=rescan,
        relations={n: s.frame for n, s in scans.items()},
    )


def with_cleanup(scan: SourceScan, extra: Callable[[], None]) -> SourceScan:
    """``scan`` whose cleanup (and successful rescan, which replaces it) also runs ``extra``."""
    inner_cleanup, inner_rescan = scan.cleanup, scan.rescan

    def cleanup() -> None:
        try:
            inner_cleanup()
        finally:
            extra()

    def rescan(exc: BaseException) -> SourceScan | None:
        widened = inner_rescan(exc)
        if widened is not None:
            _quietly(extra)
        return widened

    return dataclasses.replace(scan, cleanup=cleanup, rescan=rescan)


# ----------------------------------------------------------------------------- SQL steps
# Polars steps that keep one output row per input row, in order (a preview may cut them short)
_ROW_WISE_OPS = (m.SelectStep, m.FilterStep, m.WithColumnsStep, m.RenameStep, m.CastStep,
                 m.DropStep, m.DropNullsStep, m.LimitStep)
_AGGREGATE = re.compile(r"\bover\s*\(|\b(sum|avg|mean|count|min|max|median|first|last|std\w*|"
                        r"var\w*|rank|dense_rank|row_number|lag|lead|quantile\w*|mode|string_agg|"
                        r"array_agg|list|any_value|bool_and|bool_or|n_unique)\s*\(", re.I)


def steps_row_wise(steps: list[Any]) -> bool:
    for step in steps:
        if isinstance(step, m.SqlStep):
            if not is_row_wise(step.query):
                return False
        elif not isinstance(step, _ROW_WISE_OPS):
            return False
        else:
            exprs = [step.predicate] if isinstance(step, m.FilterStep) else (
                list(step.columns.values()) if isinstance(step, m.WithColumnsStep) else [])
            if any(_AGGREGATE.search(e) for e in exprs):
                return False
    return True


class SqlSession:
    """The SQL steps of one job: a temp folder for the job (made on first use, removed by
    ``close``), the limits from the settings, and the relations SQL may read."""

    def __init__(self, ctx: Context, pipeline: m.Pipeline, monitor: Any, job_id: str = "",
                 preview: Any = None) -> None:
        from .engines.sql import SqlLimits  # pyarrow + duckdb: only pipelines with SQL load them

        self.ctx, self.pipeline, self.monitor, self.job_id = ctx, pipeline, monitor, job_id
        self.preview = preview
        self.limits = SqlLimits.from_settings(ctx.settings)
        self._temp: Any = None
        self._datasets: dict[str, Callable[[], pl.LazyFrame]] | None = None
        self.datasets_read: list[dict[str, Any]] = []

    def _dataset_relations(self) -> dict[str, Callable[[], pl.LazyFrame]]:
        if self._datasets is None:
            names = [r.name for r in self.ctx.catalog.list_datasets(self.ctx.namespace)]
            self._datasets = {n: (lambda n=n: self._open_dataset(n)) for n in names}
        return self._datasets

    def _open_dataset(self, name: str) -> pl.LazyFrame:
        """A dataset a query reads (only those it names are opened), recorded in the lineage."""
        ds = get_dataset(self.ctx, name)
        path = f"dataset:{ds.name}@{ds.version}"
        if all(i["path"] != path for i in self.datasets_read):
            self.datasets_read.append({"path": path, "size": ds.bytes, "sha256": ds.checksum})
        return scan_dataset(self.ctx, name, ds.version)

    def finish(self, scan: SourceScan) -> SourceScan:
        """The scan as ``execute`` sees it: datasets the SQL read join the lineage, and the job's
        temp folder (where a large SQL result waits) is removed with the scan's cleanup."""
        if self.datasets_read:
            scan = dataclasses.replace(scan, inputs=list(scan.inputs) + self.datasets_read)
        return with_cleanup(scan, self.close)

    def run(self, index: int, label: str, frame: pl.LazyFrame, named: dict[str, pl.LazyFrame]
            ) -> pl.LazyFrame:
        # heavy optional dependency: imported on first use
        from .engines.sql import run_sql

        step = self.pipeline.steps[index]
        if self._temp is None:
            self._temp = JobTemp(temp_root(self.ctx.settings.home), self.job_id)
        relations: dict[str, Any] = dict(self._dataset_relations())
        relations.update(named)  # a source shadows a dataset of the same name
        relations["input"] = frame
        if self.preview is not None:
            self.preview.rest_row_wise = steps_row_wise(self.pipeline.steps[index + 1:])
        return run_sql(step.query, relations, step=label, limits=self.limits, temp=self._temp,
                       monitor=self.monitor, preview=self.preview,
                       batch_rows=self.ctx.settings.batch_rows)

    def close(self) -> None:
        if self._temp is not None:
            self._temp.remove()
            self._temp = None
