"""Polars operations described as plain data, applied to a lazy frame."""

from __future__ import annotations

import importlib
from typing import Any, Callable

import polars as pl

from ..errors import StepError, WorkbenchError
from ..security import check_loaded_step, check_python_step
from ..settings import Settings, get_settings
from ..spec import models as m
from .expressions import sql_expr as _sql_expr
from .types import parse_type


def step_label(index: int, step: Any) -> str:
    return step.name or f"{index + 1}:{step.op}"


def _check_columns(frame: pl.LazyFrame, columns: list[str], label: str) -> None:
    names = frame.collect_schema().names()
    missing = [c for c in columns if c not in names]
    if missing:
        raise StepError(f"column not found: {', '.join(missing)}", column=missing[0], step=label,
                        hint=f"columns are: {', '.join(names)}")


def _load_function(ref: str, label: str, settings: Settings) -> Callable[..., Any]:
    # On a worker only registered steps are imported at all: importing runs module code.
    check_python_step(ref, settings, step=label)
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
        fn = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise StepError(f"cannot load Python step {ref!r}: {exc}", step=label,
                        hint="the module must be importable where the job runs (kernel or worker)") from None
    check_loaded_step(ref, fn, settings, step=label)
    return fn


def apply_step(frame: pl.LazyFrame, step: Any, label: str, *,
               settings: Settings | None = None) -> pl.LazyFrame:
    """One step; the output schema is resolved at once so a wrong column fails before any data.

    ``settings`` are those of the process running the job (a worker allows only registered
    Python steps); the environment's when not given."""
    if isinstance(step, m.SelectStep):
        _check_columns(frame, step.columns, label)
        out = frame.select(step.columns)
    elif isinstance(step, m.FilterStep):
        out = frame.filter(_sql_expr(step.predicate, label))
    elif isinstance(step, m.WithColumnsStep):
        out = frame.with_columns([_sql_expr(e, label).alias(n) for n, e in step.columns.items()])
    elif isinstance(step, m.RenameStep):
        _check_columns(frame, list(step.mapping), label)
        out = frame.rename(step.mapping)
    elif isinstance(step, m.CastStep):
        _check_columns(frame, list(step.dtypes), label)
        try:
            dtypes = {c: parse_type(t) for c, t in step.dtypes.items()}
        except ValueError as exc:
            raise StepError(str(exc), step=label) from None
        out = frame.with_columns([pl.col(c).cast(t, strict=step.strict) for c, t in dtypes.items()])
    elif isinstance(step, m.DropStep):
        _check_columns(frame, step.columns, label)
        out = frame.drop(step.columns)
    elif isinstance(step, m.DropNullsStep):
        if step.subset:
            _check_columns(frame, step.subset, label)
        out = frame.drop_nulls(step.subset)
    elif isinstance(step, m.UniqueStep):
        if step.subset:
            _check_columns(frame, step.subset, label)
        out = frame.unique(subset=step.subset, keep=step.keep, maintain_order=True)
    elif isinstance(step, m.SortStep):
        _check_columns(frame, step.by, label)
        out = frame.sort(step.by, descending=step.descending, nulls_last=step.nulls_last)
    elif isinstance(step, m.LimitStep):
        out = frame.limit(step.n)
    elif isinstance(step, m.PythonStep):
        fn = _load_function(step.function, label, settings or get_settings())
        try:
            result = fn(frame, **step.kwargs)
        except WorkbenchError as exc:
            raise exc.with_context(step=label)
        except Exception as exc:
            raise StepError(f"Python step {step.function} raised {type(exc).__name__}: {exc}",
                            step=label) from None
        if isinstance(result, pl.DataFrame):
            result = result.lazy()
        if not isinstance(result, pl.LazyFrame):
            raise StepError(f"Python step {step.function} returned {type(result).__name__}, "
                            "not a polars DataFrame or LazyFrame", step=label)
        out = result
    else:  # pragma: no cover - the spec's union is closed
        raise StepError(f"unknown step {step!r}", step=label)
    try:
        out.collect_schema()
    except WorkbenchError:
        raise
    except Exception as exc:
        raise StepError(f"step cannot run: {_first_line(exc)}", step=label) from None
    return out


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
