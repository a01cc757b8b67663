"""Notebook front ends: the live job view, the upload form, the pipeline builder and the
jobs/datasets tables. Each shows widgets in a live front end and plain text elsewhere (see
``display.py`` for how that is decided). ipywidgets is imported only when a widget is built.
"""

from __future__ import annotations

from typing import Any

from .builder import pipeline_builder as _pipeline_builder
from .display import display_mode, use_display
from .tables import datasets as _datasets
from .tables import jobs as _jobs
from .upload import upload_form as _upload_form
from .view import JobView, show_job


def datasets(**kwargs: Any):
    """A table of the datasets (versions, rows, size, schema, profile, preview)."""

    return _datasets(**kwargs)


def jobs(**kwargs: Any):
    """A live table of recent jobs (status, duration, error; cancel and re-run)."""

    return _jobs(**kwargs)


def upload_form(**kwargs: Any):
    """Choose a file and options, press Ingest, and watch the job in the form."""

    return _upload_form(**kwargs)


def pipeline_builder(**kwargs: Any):
    """Build a pipeline with forms; Preview, Submit, Export (YAML or Python)."""

    return _pipeline_builder(**kwargs)


__all__ = ["JobView", "datasets", "display_mode", "jobs", "pipeline_builder", "show_job",
           "upload_form", "use_display"]
