"""The pipeline as Python through the public ``wb.*`` builders, defaults left out."""

from __future__ import annotations

import re
from typing import Any

from ..spec import models as m
from ..spec.models import Pipeline

# ----------------------------------------------------------------------------- export
# model class -> (public builder, fields passed by position, the field passed as *args)
BUILDERS: dict[type, tuple[str, tuple[str, ...], str | None]] = {
    m.FileSource: ("file", ("path",), None),
    m.DatasetSource: ("from_dataset", ("name",), None),
    m.UploadSource: ("upload", ("upload_id",), None),
    m.QuerySource: ("query", ("sql",), None),
    m.SqlStep: ("sql", ("query",), None),
    m.FilterStep: ("filter", ("predicate",), None),
    m.SelectStep: ("select", (), "columns"),
    m.DropStep: ("drop", (), "columns"),
    m.DropNullsStep: ("drop_nulls", (), "subset"),
    m.UniqueStep: ("unique", (), "subset"),
    m.SortStep: ("sort", (), "by"),
    m.LimitStep: ("limit", ("n",), None),
    m.WithColumnsStep: ("with_columns", (), None),
    m.RenameStep: ("rename", ("mapping",), None),
    m.CastStep: ("cast", ("dtypes",), None),
    m.PythonStep: ("python", ("function",), None),
    m.NotNullCheck: ("not_null", (), "columns"),
    m.UniqueCheck: ("is_unique", (), "columns"),
    m.AcceptedValuesCheck: ("accepted_values", ("column", "values"), None),
    m.RangeCheck: ("in_range", ("column",), None),
    m.RegexCheck: ("matches", ("column", "pattern"), None),
    m.RowCountCheck: ("row_count", (), None),
    m.ColumnTypesCheck: ("column_types", ("types",), None),
    m.SqlPredicateCheck: ("check_sql", ("predicate",), None),
    m.DatasetSink: ("dataset", ("name",), None),
    m.TableSink: ("table", ("table",), None),
}


def _call(fn: str, args: list[str], kwargs: dict[str, Any]) -> str:
    parts = args + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{fn}({', '.join(parts)})"


def _model_code(obj: Any) -> str:
    """Python for one spec model through its public ``wb.*`` builder (defaults left out)."""
    import inspect

    import workbench as wb

    d = obj.model_dump(mode="json", exclude_defaults=True)
    for tag in ("kind", "op", "check"):
        d.pop(tag, None)
    fn, positional, star = BUILDERS.get(type(obj), ("", (), None))
    builder = getattr(wb, fn, None) if fn else None
    if builder is not None:
        args = [repr(d.pop(f)) for f in positional if f in d]
        if star is not None:
            args += [repr(v) for v in d.pop(star, None) or []]
        if isinstance(obj, m.WithColumnsStep) and all(k.isidentifier() for k in d.get("columns", {})):
            d = {**d.pop("columns"), **d}
        if isinstance(obj, m.PythonStep):
            d = {**d.pop("kwargs", {}), **d}
        params = inspect.signature(builder).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        if len(args) == len(positional) + (len(getattr(obj, star) or []) if star else 0) and all(
                k in params or takes_any for k in d):
            return _call(f"wb.{fn}", args, d)
    # no builder takes these fields (a named filter step, say): the model itself
    full = obj.model_dump(mode="json", exclude_defaults=True)
    for tag in ("kind", "op", "check"):
        full.pop(tag, None)
    return _call(f"m.{type(obj).__name__}", [], full)


def pipeline_code(p: Pipeline) -> str:
    """Python that rebuilds ``p`` exactly with the public builders (``exec`` it and compare: the
    tests do)."""
    body = [f"    source={_model_code(p.source)},"]
    if p.name:
        body.insert(0, f"    name={p.name!r},")
    if p.steps:
        body += ["    steps=[", *[f"        {_model_code(s)}," for s in p.steps], "    ],"]
    if p.checks:
        body += ["    checks=[", *[f"        {_model_code(c)}," for c in p.checks], "    ],"]
    if p.sink is not None:
        body.append(f"    sink={_model_code(p.sink)},")
    head = ["import workbench as wb"]
    if any(re.search(r"(^|[=\s])m\.[A-Z]", line) for line in body):  # a model without a builder
        head.append("from workbench.spec import models as m")
    return "\n".join([*head, "", "pipeline = wb.Pipeline(", *body, ")"]) + "\n"


__all__ = ["BUILDERS", "pipeline_code"]
