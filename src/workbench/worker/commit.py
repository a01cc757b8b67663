"""Checks, profile and commit of data already written as Parquet parts (fan-out and stages).

The same rules as ``execute``'s single pass: check outcomes are reported as events, a failing
check with severity ``error`` stops the commit, and nothing becomes visible before the manifest
and its catalog row exist.
"""

from __future__ import annotations

from typing import Any, Callable

import polars as pl

from ..engines import checks as checks_engine
from ..events import CheckResult, Emit
from ..spec.models import Pipeline


def commit_guard(pipeline: Pipeline, schema: pl.Schema, emit: Emit, job_id: str
                 ) -> Callable[[dict[str, Any], pl.LazyFrame | None], list[dict[str, Any]]]:
    """``commit_guard(stats, staged)`` as the dataset writer expects it (see ``execute``)."""

    def guard(stats: dict[str, Any], staged: pl.LazyFrame | None) -> list[dict[str, Any]]:
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

    return guard


def stats_exprs(pipeline: Pipeline, schema: pl.Schema) -> list[pl.Expr]:
    from ..engines.profile import profile_exprs

    exprs = checks_engine.check_exprs(pipeline.checks, schema)
    checks_engine.validate_check_exprs(exprs, schema)
    return profile_exprs(schema) + exprs


def scan_parts(ctx: Any, part_keys: list[str]) -> pl.LazyFrame:
    uris = [ctx.storage.uri(k) for k in part_keys]
    opts = ctx.storage.storage_options()
    return pl.scan_parquet(uris, storage_options=opts) if opts else pl.scan_parquet(uris)
