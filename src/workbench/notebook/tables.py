"""``wb.jobs()`` and ``wb.datasets()``: live tables in a front end, plain text elsewhere."""

from __future__ import annotations

from typing import Any

from ..textview import datasets_text
from .jobs_table import jobs_text


def jobs(**kwargs: Any):
    from ..api import list_jobs
    from .display import display_mode
    from .jobs_table import JobsTable

    if display_mode() == "widget":
        return JobsTable(**kwargs)
    print(jobs_text(list_jobs(limit=kwargs.get("limit", 20))))
    return None


def datasets(**kwargs: Any):
    from ..api import list_datasets
    from .datasets_table import DatasetsTable
    from .display import display_mode

    if display_mode() == "widget":
        return DatasetsTable(**kwargs)
    items = sorted(list_datasets(), key=lambda d: d.created_at or 0, reverse=True)
    print(datasets_text(items))
    return None


def __getattr__(name: str) -> Any:
    # the table classes moved to modules of their own; old imports keep working
    if name in ("JobsTable", "jobs_text"):
        from . import jobs_table

        return getattr(jobs_table, name)
    if name in ("DatasetsTable", "profile_html"):
        from . import datasets_table

        return getattr(datasets_table, name)
    raise AttributeError(name)
