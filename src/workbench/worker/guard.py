"""What a worker checks in a task's arguments before anything runs.

A signed message comes from a trusted client, but the worker still re-validates what it is
asked to do (SECURITY.md): the job id and names (a full match, as at the client's edge), the
whole spec, and the worker's own rules — registered Python steps only, databases by connection
name only. The same rules are applied again where each thing is used (``engines.steps``,
``engines.db``, ``sinks.tables``), so a task that skips this module cannot skip them.
"""

from __future__ import annotations

from typing import Any

from ..engines.steps import step_label
from ..errors import AccessDenied, SpecError, WorkbenchError
from ..names import RULE, is_valid_name
from ..security import check_db_ref, check_python_step
from ..settings import Settings
from ..spec import models as m
from ..spec.io import pipeline_from_dict


def check_job_id(job_id: Any) -> str:
    """A job id names storage folders and Redis keys: the name rule applies to it too."""
    if not is_valid_name(job_id):
        raise AccessDenied(f"task message refused: invalid job id {job_id!r}: {RULE}")
    return job_id


def check_namespace(namespace: Any) -> str:
    if not is_valid_name(namespace):
        raise AccessDenied(f"task message refused: invalid namespace {namespace!r}: {RULE}")
    return namespace


def check_pipeline(spec: Any, settings: Settings) -> m.Pipeline:
    """The spec as a validated Pipeline that this worker is allowed to run, or an error."""
    if not isinstance(spec, dict):
        raise SpecError(f"the pipeline spec is a {type(spec).__name__}, not an object")
    try:
        pipeline = pipeline_from_dict(spec)
    except WorkbenchError:
        raise
    except Exception as exc:
        raise SpecError(f"the pipeline spec does not validate: {exc}") from None
    for i, step in enumerate(pipeline.steps):
        if isinstance(step, m.PythonStep):
            check_python_step(step.function, settings, step=step_label(i, step))
    if isinstance(pipeline.source, m.QuerySource):
        check_db_ref(pipeline.source.db, settings, step="read")
    if isinstance(pipeline.sink, m.TableSink):
        check_db_ref(pipeline.sink.db, settings, step="write")
    return pipeline


__all__ = ["check_job_id", "check_namespace", "check_pipeline"]
