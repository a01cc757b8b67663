"""Data checks as aggregations: each check counts its failing rows in the writing pass.

A check whose count is non-zero fails; ``examples`` fetches up to five offending rows afterwards,
only for the checks that failed, from the staged (not yet visible) output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ..errors import CheckFailed, SpecError, StepError, WorkbenchError
from ..spec.models import (
    AcceptedValuesCheck, ColumnTypesCheck, NotNullCheck, RangeCheck, RegexCheck, RowCountCheck,
    SqlPredicateCheck, UniqueCheck,
)
from .expressions import sql_expr
from .profile_limits import cut
from .types import check_type_name, type_matches

MAX_EXAMPLES = 5


@dataclass
class CheckOutcome:
    index: int
    name: str
    column: str | None
    passed: bool
    severity: str
    failed_rows: int = 0
    message: str = ""
    examples: list[dict[str, Any]] = field(default_factory=list)


def check_name(check: Any) -> str:
    if check.name:
        return check.name
    target = getattr(check, "columns", None) or getattr(check, "column", None)
    if isinstance(target, list):
        target = ",".join(target)
    return f"{check.check}({target})" if target else check.check


def _column_of(check: Any) -> str | None:
    if hasattr(check, "column"):
        return check.column
    cols = getattr(check, "columns", None)
    return ",".join(cols) if cols else None


def failing_predicate(check: Any) -> pl.Expr | None:
    """A row-level expression that is True where the row breaks the check (None: not row-level)."""
    if isinstance(check, NotNullCheck):
        return pl.any_horizontal([pl.col(c).is_null() for c in check.columns])
    if isinstance(check, UniqueCheck):
        return pl.struct(check.columns).is_duplicated()
    if isinstance(check, AcceptedValuesCheck):
        return pl.col(check.column).is_not_null() & ~pl.col(check.column).is_in(check.values)
    if isinstance(check, RangeCheck):
        c = pl.col(check.column)
        cond = pl.lit(False)
        if check.min is not None:
            cond = cond | (c < check.min)
        if check.max is not None:
            cond = cond | (c > check.max)
        return cond.fill_null(False)
    if isinstance(check, RegexCheck):
        c = pl.col(check.column).cast(pl.String)
        return c.is_not_null() & ~c.str.contains(check.pattern)
    if isinstance(check, SqlPredicateCheck):
        # SQL semantics of CHECK: a NULL result is not a failure. The predicate is parsed and
        # allow-listed first: Polars' own SQL would read files named in a subquery.
        return ~sql_expr(check.predicate, "check").fill_null(True)
    return None


def _validate_columns(check: Any, schema: pl.Schema, index: int) -> None:
    cols: list[str] = list(getattr(check, "columns", None) or [])
    if getattr(check, "column", None):
        cols.append(check.column)
    if isinstance(check, ColumnTypesCheck):
        # the names are checked now, before any data is read (a missing column is a failure
        # of the check, reported with the others)
        for col, wanted in check.types.items():
            try:
                check_type_name(wanted)
            except ValueError as exc:
                raise SpecError(f"check {check_name(check)!r}: {exc}", column=col, step="check",
                                hint="e.g. column_types({'id': 'int64', 'amount': 'float', "
                                     "'day': 'date'})") from None
        return
    missing = [c for c in cols if c not in schema]
    if missing:
        raise StepError(f"check {check_name(check)!r} names a column that does not exist: "
                        f"{', '.join(missing)}", column=missing[0], step="check",
                        hint=f"columns are: {', '.join(schema.names())}")


def check_exprs(checks: list[Any], schema: pl.Schema) -> list[pl.Expr]:
    """Aggregations named ``__c.<i>`` counting failing rows, for the single writing pass."""
    exprs = []
    for i, check in enumerate(checks):
        _validate_columns(check, schema, i)
        pred = failing_predicate(check)  # a refused or unparsable predicate raises SQLError
        if pred is not None:
            try:
                exprs.append(pred.sum().alias(f"__c.{i}"))
            except WorkbenchError:
                raise
            except Exception as exc:
                raise StepError(f"check {check_name(check)!r} is invalid: {exc}", step="check") from None
    return exprs


def validate_check_exprs(exprs: list[pl.Expr], schema: pl.Schema) -> None:
    """Resolve the check expressions against the schema now, before any data is read."""
    if not exprs:
        return
    try:
        pl.LazyFrame(schema=_referenced(exprs, schema)).select(exprs).collect_schema()
    except Exception as exc:
        raise StepError(f"a check cannot be evaluated: {exc}", step="check") from None


def _referenced(exprs: list[pl.Expr], schema: pl.Schema) -> pl.Schema:
    """The part of ``schema`` the expressions name. An empty frame of every column costs ~7 ms
    per 1,000 columns to build, and an error then lists every column; a name the schema lacks
    still fails the same way. An expression that picks columns by pattern or type gets the
    whole schema."""
    names: set[str] = set()
    for e in exprs:
        if e.meta.has_multiple_outputs():
            return schema
        names.update(e.meta.root_names())
    return pl.Schema({n: t for n, t in schema.items() if n in names})


def evaluate(checks: list[Any], schema: pl.Schema, stats: dict[str, Any]) -> list[CheckOutcome]:
    rows = int(stats.get("__p.rows") or 0)
    out: list[CheckOutcome] = []
    for i, check in enumerate(checks):
        name, column = check_name(check), _column_of(check)
        if isinstance(check, RowCountCheck):
            ok = (check.min is None or rows >= check.min) and (check.max is None or rows <= check.max)
            bounds = f"min {check.min}" if check.max is None else (
                f"max {check.max}" if check.min is None else f"between {check.min} and {check.max}")
            msg = "" if ok else f"row count {rows} is not {bounds}"
            out.append(CheckOutcome(i, name, None, ok, check.severity, 0 if ok else rows, msg))
        elif isinstance(check, ColumnTypesCheck):
            bad = []
            for col, wanted in check.types.items():
                if col not in schema:
                    bad.append(f"{col} is missing")
                elif not type_matches(schema[col], wanted):
                    bad.append(f"{col} is {schema[col]}, expected {wanted}")
            out.append(CheckOutcome(i, name, ", ".join(check.types), not bad, check.severity, 0,
                                    "; ".join(bad)))
        else:
            failed = int(stats.get(f"__c.{i}") or 0)
            msg = "" if not failed else f"{failed:,} of {rows:,} rows fail {name}"
            out.append(CheckOutcome(i, name, column, failed == 0, check.severity, failed, msg))
    return out


def add_examples(outcomes: list[CheckOutcome], checks: list[Any], frame: pl.LazyFrame) -> None:
    for oc in outcomes:
        if oc.passed:
            continue
        pred = failing_predicate(checks[oc.index])
        if pred is None:
            continue
        rows = frame.filter(pred).head(MAX_EXAMPLES).collect()
        # examples land in the job record and the manifest: values cut like profile values,
        # and at most EXAMPLE_COLUMNS columns, so their size never grows with the data
        oc.examples = [{k: _example_value(v) for k, v in list(r.items())[:EXAMPLE_COLUMNS]}
                       for r in rows.to_dicts()]


EXAMPLE_COLUMNS = 50


def _example_value(v: Any) -> Any:
    v = v if isinstance(v, (int, float, str, bool)) or v is None else str(v)
    text, was_cut = cut(v)
    return text + "…" if was_cut else text


def raise_for_failures(outcomes: list[CheckOutcome]) -> None:
    failed = [oc for oc in outcomes if not oc.passed and oc.severity == "error"]
    if not failed:
        return
    first = failed[0]
    more = f" (and {len(failed) - 1} more failed check{'s' if len(failed) > 2 else ''})" if len(failed) > 1 else ""
    # the offending rows travel with the check's result event (a table in the notebook); the
    # message says what failed once, without a Python dict of one of them
    raise CheckFailed(f"{first.message or f'check {first.name} failed'}{more}",
                      column=first.column, step="check",
                      hint="fix the data or the step producing it, or mark the check severity='warn'")
