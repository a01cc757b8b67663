"""Checks, profile and commit of data already written as Parquet parts (fan-out and stages).

The same rules as ``execute``'s single pass: check outcomes are reported as events, a failing
check with severity ``error`` stops the commit, and nothing becomes visible before the manifest
and its catalog row exist.
"""

from __future__ import annotations

from typing import Any, Callable

import polars as pl

from ..engines import checks as checks_engine
from ..engines.profile import profile_exprs
from ..events import Emit
from ..execute import make_commit_guard
from ..spec.models import Pipeline, UniqueCheck


def commit_guard(pipeline: Pipeline, schema: pl.Schema, emit: Emit, job_id: str
                 ) -> Callable[[dict[str, Any], pl.LazyFrame | None], list[dict[str, Any]]]:
    """The same ``commit_guard`` ``execute`` gives the sink writer."""

    return make_commit_guard(pipeline, schema, emit, job_id)


def stats_exprs(pipeline: Pipeline, schema: pl.Schema, *, distinct: bool = True) -> list[pl.Expr]:
    """The profile's and the checks' aggregations (``distinct``: with estimates of distinct
    counts; a fanned-out part keeps a sketch that merges instead)."""
    exprs = checks_engine.check_exprs(pipeline.checks, schema)
    checks_engine.validate_check_exprs(exprs, schema)
    return profile_exprs(schema, distinct=distinct) + exprs


def summed_checks(pipeline: Pipeline) -> list[str]:
    """The checks' aggregations that add up over parts: every failing-row count but a unique
    check's (a value may repeat across two parts and nowhere within one)."""
    return [f"__c.{i}" for i, c in enumerate(pipeline.checks)
            if checks_engine.failing_predicate(c) is not None and not isinstance(c, UniqueCheck)]


def scan_parts(ctx: Any, part_keys: list[str]) -> pl.LazyFrame:
    uris = [ctx.storage.uri(k) for k in part_keys]
    opts = ctx.storage.storage_options()
    return pl.scan_parquet(uris, storage_options=opts) if opts else pl.scan_parquet(uris)
