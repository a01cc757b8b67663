"""workbench: a Jupyter-first data-engineering workbench.

>>> import workbench as wb
>>> ds = wb.ingest("sales.csv", name="sales")
>>> p = wb.Pipeline(source=wb.file("orders/*.csv"),
...                 steps=[wb.sql("SELECT region, sum(amount) AS total FROM input GROUP BY region")],
...                 checks=[wb.not_null("region"), wb.row_count(min=1)],
...                 sink=wb.dataset("totals"))
>>> job = wb.submit(p); job.wait(); job.result
"""

from __future__ import annotations

import importlib
from typing import Any

from .api import (
    accepted_values, cast, check_sql, column_types, dataset, drop, drop_nulls, file, filter,
    from_dataset, in_range, incremental, info, ingest, is_unique, job, limit, list_datasets,
    list_jobs, matches, not_null, preview, python, query, read, rename, row_count, run, select,
    sort, sql, submit, table, unique, upload, with_columns,
)
from .dataset_store import Dataset
from .errors import (
    AccessDenied, AlreadyExists, Cancelled, CheckFailed, ConfigError, InputError, NotFound,
    SourceError, SpecError, SQLError, StepError, TransientError, WorkbenchError,
)
from .job_handle import Job, JobState, set_job_viewer
from .settings import Settings, get_settings
from .options import check_options, keyword_names, strict
from .spec import dump_pipeline, json_schema, load_pipeline, pipeline_from_dict
from .spec.models import Pipeline

__version__ = "0.1.0"

# Plain functions re-exported here refuse unknown options by name too.
dump_pipeline, json_schema, load_pipeline, pipeline_from_dict, get_settings = (
    strict(f) for f in (dump_pipeline, json_schema, load_pipeline, pipeline_from_dict, get_settings))

_FRONT_END = {
    "datasets": ("workbench.notebook", "datasets"),
    "jobs": ("workbench.notebook", "jobs"),
    "upload_form": ("workbench.notebook", "upload_form"),
    "pipeline_builder": ("workbench.notebook", "pipeline_builder"),
}


def _show_job(job: Job) -> Any:
    # Front ends import ipywidgets (heavy optional dependency): imported on first use.
    from .notebook import show_job

    return show_job(job)


# The root composes the layers: the job layer draws a job with the front end's viewer.
set_job_viewer(_show_job)


# The class whose constructor takes each front end's options (and options of the function itself).
_FRONT_END_OPTIONS = {
    "datasets": ("workbench.notebook.tables", "DatasetsTable", ()),
    "jobs": ("workbench.notebook.tables", "JobsTable", ()),
    "upload_form": ("workbench.notebook.upload", "UploadForm", ("force_widget",)),
    "pipeline_builder": ("workbench.notebook.builder", "PipelineBuilder", ()),
}


def _front_end(name: str) -> Any:
    """A front-end function, imported on first use, that refuses unknown options by name (in
    text mode they would otherwise be dropped without a word)."""
    import functools  # noqa: PLC0415 - only when a front end is first used

    module, attr = _FRONT_END[name]
    fn = getattr(importlib.import_module(module), attr)
    cls_module, cls_name, extra = _FRONT_END_OPTIONS[name]
    own, _ = keyword_names(getattr(importlib.import_module(cls_module), cls_name).__init__)
    allowed = (own - {"self", "ctx"}) | set(extra)

    @functools.wraps(fn)
    def checked(**kwargs: Any) -> Any:
        check_options(f"wb.{name}()", kwargs, allowed)
        return fn(**kwargs)

    return checked


def datasets(**kwargs: Any) -> Any:
    """A table of the datasets (a widget in JupyterLab, text elsewhere)."""
    return _front_end("datasets")(**kwargs)


def jobs(**kwargs: Any) -> Any:
    """A live table of recent jobs (a widget in JupyterLab, text elsewhere)."""
    return _front_end("jobs")(**kwargs)


# ``wb.datasets`` and ``wb.jobs`` are these functions only: the modules behind them are
# ``workbench.dataset_store`` and ``workbench.job_handle``, so no submodule shadows them.


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where ``jupyter labextension develop .`` finds the built Workbench panel."""
    return [{"src": "server/labextension", "dest": "workbench-panel"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """``jupyter server extension enable workbench`` enables the API in ``workbench.server``."""
    return [{"module": "workbench.server"}]


def __getattr__(name: str) -> Any:
    # Front ends import ipywidgets; load them on first use, not at ``import workbench``.
    if name in _FRONT_END:
        return _front_end(name)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


__all__ = [
    "AccessDenied", "AlreadyExists", "Cancelled", "CheckFailed", "ConfigError", "Dataset",
    "InputError", "Job", "JobState", "NotFound", "Pipeline", "SQLError", "Settings", "SourceError",
    "SpecError", "StepError", "TransientError", "WorkbenchError", "accepted_values", "cast",
    "check_sql", "column_types", "dataset", "datasets", "drop", "drop_nulls", "dump_pipeline",
    "file", "filter", "from_dataset", "get_settings", "in_range", "incremental", "info", "ingest",
    "is_unique", "job", "jobs", "json_schema", "limit", "list_datasets", "list_jobs",
    "load_pipeline", "matches", "not_null", "pipeline_builder", "pipeline_from_dict", "preview",
    "python", "query", "read", "rename", "row_count", "run", "select", "sort", "sql", "submit",
    "table", "unique", "upload", "upload_form", "with_columns",
]
