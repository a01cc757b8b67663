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
from .spec import dump_pipeline, json_schema, load_pipeline, pipeline_from_dict
from .spec.models import Pipeline

__version__ = "0.1.0"

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


def datasets(**kwargs: Any) -> Any:
    """A table of the datasets (a widget in JupyterLab, text elsewhere)."""
    # Front ends import ipywidgets (heavy optional dependency): imported on first use.
    from .notebook import datasets as _datasets

    return _datasets(**kwargs)


def jobs(**kwargs: Any) -> Any:
    """A live table of recent jobs (a widget in JupyterLab, text elsewhere)."""
    # Front ends import ipywidgets (heavy optional dependency): imported on first use.
    from .notebook import jobs as _jobs

    return _jobs(**kwargs)


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
        module, attr = _FRONT_END[name]
        return getattr(importlib.import_module(module), attr)
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
