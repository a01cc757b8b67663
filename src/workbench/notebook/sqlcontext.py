"""What a failed SQL step's error box shows besides the message: the statement and the columns of
``input`` (the relation the statement reads), found from the job's spec in the catalog.
"""

from __future__ import annotations

from typing import Any


def sql_context(job_id: str, error: dict[str, Any] | None) -> dict[str, Any]:
    """``{"sql": ..., "columns": [...]}`` for an error in a SQL step, else ``{}``.

    Only what can be known cheaply: the columns are those of the source when the SQL step reads
    it directly or after Polars steps (a plan, not a run); after another SQL step they are left out
    rather than running that step again.
    """
    if not error or not error.get("step"):
        return {}
    try:
        return _context(job_id, str(error["step"]))
    except Exception:  # extra detail for a box that already has the message; never a new error
        return {}


def _context(job_id: str, step: str) -> dict[str, Any]:
    from ..context import Context
    from ..spec import pipeline_from_dict
    from ..spec.models import SqlStep

    ctx = Context.from_settings()
    pipeline = pipeline_from_dict(ctx.catalog.get_job(job_id, ctx.namespace)["spec"])
    names = pipeline.step_names()[1:1 + len(pipeline.steps)]
    if step not in names:
        return {}
    index = names.index(step)
    target = pipeline.steps[index]
    if not isinstance(target, SqlStep):
        return {}
    out: dict[str, Any] = {"sql": target.query}
    before = pipeline.steps[:index]
    if any(isinstance(s, SqlStep) for s in before):
        return out
    out["columns"] = _input_columns(pipeline.model_copy(update={"steps": before, "checks": []}), ctx)
    return out


def _input_columns(pipeline: Any, ctx: Any) -> list[str]:
    from ..events import null_emit
    from ..execute import build_frame
    from ..monitor import Monitor

    frame, scan, _ = build_frame(pipeline, ctx, null_emit, Monitor("", null_emit))
    try:
        return frame.collect_schema().names()
    finally:
        scan.cleanup()
