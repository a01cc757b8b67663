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

from typing import Any

from .api import (
    accepted_values, cast, check_sql, column_types, dataset, drop, drop_nulls, file, filter,
    from_dataset, in_range, incremental, info, ingest, is_unique, job, limit, list_datasets,
    list_jobs, matches, not_null, preview, python, query, read, rename, row_count, run, select,
    sort, sql, submit, table, unique, upload, with_columns,
)
from .datasets import Dataset
from .errors import (
    AccessDenied, AlreadyExists, Cancelled, CheckFailed, ConfigError, InputError, NotFound,
    SourceError, SpecError, SQLError, StepError, TransientError, WorkbenchError,
)
from .jobs import Job, JobState
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


def datasets(**kwargs: Any) -> Any:
    """A table of the datasets (a widget in JupyterLab, text elsewhere)."""
    from .notebook import datasets as _datasets

    return _datasets(**kwargs)


def jobs(**kwargs: Any) -> Any:
    """A live table of recent jobs (a widget in JupyterLab, text elsewhere)."""
    from .notebook import jobs as _jobs

    return _jobs(**kwargs)


# ``workbench.datasets`` and ``workbench.jobs`` are also submodules, and importing a submodule
# sets the package attribute, so module ``__getattr__`` never sees these two names: the functions
# above are bound after the submodules are imported and stay the package attributes. Inside the
# package, import those modules with ``from .datasets import …`` / ``from .jobs import …``.


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where ``jupyter labextension develop .`` finds the built Workbench panel."""
    return [{"src": "server/labextension", "dest": "workbench-panel"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """``jupyter server extension enable workbench`` enables the API in ``workbench.server``."""
    return [{"module": "workbench.server"}]


def __getattr__(name: str) -> Any:
    # Front ends import ipywidgets; load them on first use, not at ``import workbench``.
    if name in _FRONT_END:
        import importlib

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
