"""Short forms of a pipeline spec, read like the Python builders, and written back that way.

A spec file may say what the Python says::

    source: sales.csv                      # wb.file("sales.csv")
    steps:
      - sql: SELECT region, sum(amount) AS total FROM input GROUP BY region
    checks:
      - not_null: region                   # wb.not_null("region")
      - in_range: {column: total, min: 0}  # wb.in_range("total", min=0)
    sink: {dataset: totals}                # wb.dataset("totals")

The long form (``kind:``/``op:``/``check:`` with every field named) stays valid: ``expand`` turns a
short form into it before validation, and ``shorten`` turns a validated spec's dump into the short
form for ``dump_pipeline``. Check names are the Python builders' names; the older names ``unique``,
``range``, ``regex`` and ``sql`` are still read.
"""

from __future__ import annotations

from typing import Any

# Builders' names for checks, and the older long-form names that still read.
CHECK_ALIASES = {"unique": "is_unique", "range": "in_range", "regex": "matches", "sql": "check_sql"}

# For each short key: the field its value fills, or None when a mapping value holds the fields.
SOURCE_KEYS = {"file": ("file", "path"), "dataset": ("dataset", "name"),
               "query": ("query", "sql"), "upload": ("upload", "upload_id")}
SINK_KEYS = {"dataset": ("dataset", "name"), "table": ("table", "table")}
STEP_MAIN = {"sql": "query", "select": "columns", "filter": "predicate", "with_columns": "columns",
             "rename": "mapping", "cast": "dtypes", "drop": "columns", "drop_nulls": "subset",
             "unique": "subset", "sort": "by", "limit": "n", "python": "function"}
CHECK_MAIN = {"not_null": "columns", "is_unique": "columns", "accepted_values": None,
              "in_range": None, "matches": None, "row_count": None, "column_types": "types",
              "check_sql": "predicate"}
# Fields that hold a list: a single name in the short form is a list of one.
_LISTS = {"columns", "subset", "by"}


def _one_key(item: dict[str, Any], names: Any) -> str | None:
    found = [k for k in item if k in names]
    return found[0] if len(found) == 1 else None


def _fill(kind_field: str, kind: str, main: str | None, value: Any, rest: dict[str, Any]) -> dict:
    out: dict[str, Any] = {kind_field: kind}
    if main is None and isinstance(value, dict):
        out.update(value)
    elif main is not None:
        if main in _LISTS and isinstance(value, str):
            value = [value]
        if not (main in ("subset",) and value is None):
            out[main] = value
    else:
        out["value"] = value  # left for validation to name as an unknown field
    out.update(rest)
    return out


def expand_source(value: Any) -> Any:
    if isinstance(value, str):
        return {"kind": "file", "path": value}
    if not isinstance(value, dict) or "kind" in value:
        return value
    key = _one_key(value, SOURCE_KEYS)
    if key is not None:
        kind, main = SOURCE_KEYS[key]
        rest = {k: v for k, v in value.items() if k != key}
        return _fill("kind", kind, main, value[key], rest)
    # Long form without ``kind``: tell it by its one required field.
    for field, kind in (("path", "file"), ("upload_id", "upload"), ("sql", "query"), ("name", "dataset")):
        if field in value:
            return {"kind": kind, **value}
    return value


def expand_sink(value: Any) -> Any:
    if isinstance(value, str):
        return {"kind": "dataset", "name": value}
    if not isinstance(value, dict) or "kind" in value:
        return value
    if "table" in value:
        return {"kind": "table", **value}
    key = _one_key(value, SINK_KEYS)
    if key is not None:
        kind, main = SINK_KEYS[key]
        rest = {k: v for k, v in value.items() if k != key}
        return _fill("kind", kind, main, value[key], rest)
    if "name" in value:
        return {"kind": "dataset", **value}
    return value


def _expand_keyed(value: Any, kind_field: str, mains: dict[str, str | None]) -> Any:
    """``{name: value, **options}`` → ``{kind_field: name, <main field>: value, **options}``."""
    key = _one_key(value, mains) if isinstance(value, dict) and kind_field not in value else None
    if key is None:
        return value
    rest = {k: v for k, v in value.items() if k != key}
    return _fill(kind_field, key, mains[key], value[key], rest)


def expand_step(value: Any) -> Any:
    return _expand_keyed(value, "op", STEP_MAIN)


def expand_check(value: Any) -> Any:
    if isinstance(value, dict) and isinstance(value.get("check"), str):
        return {**value, "check": CHECK_ALIASES.get(value["check"], value["check"])}
    return _expand_keyed(value, "check", CHECK_MAIN)


def expand(data: Any) -> Any:
    """The long form of a (possibly short) pipeline mapping; anything else is returned as is."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    if "source" in out:
        out["source"] = expand_source(out["source"])
    if isinstance(out.get("sources"), dict):
        out["sources"] = {k: expand_source(v) for k, v in out["sources"].items()}
    if isinstance(out.get("steps"), list):
        out["steps"] = [expand_step(s) for s in out["steps"]]
    if isinstance(out.get("checks"), list):
        out["checks"] = [expand_check(c) for c in out["checks"]]
    if "sink" in out and out["sink"] is not None:
        out["sink"] = expand_sink(out["sink"])
    return out


# ----------------------------------------------------------------------------- writing back
def _shorten(item: dict[str, Any], kind_field: str, keys: dict[str, Any]) -> Any:
    """``{kind_field: k, main: v, **rest}`` → ``{k: v, **rest}`` (or a mapping of fields)."""
    item = dict(item)
    kind = item.pop(kind_field)
    main = keys.get(kind)
    if isinstance(main, tuple):
        main = main[1]
    if main is None:
        return {kind: item} if item else {kind: {}}
    value = item.pop(main, None)
    if main in _LISTS and isinstance(value, list) and len(value) == 1:
        value = value[0]
    return {kind: value, **item}


def _dump(model: Any, kind_field: str) -> dict[str, Any]:
    """A component's non-default fields, with its discriminator (a default too) kept."""
    return {kind_field: getattr(model, kind_field), **model.model_dump(mode="json", exclude_defaults=True)}


def _short_source(model: Any) -> Any:
    s = _dump(model, "kind")
    if s["kind"] == "file" and set(s) == {"kind", "path"}:
        return s["path"]
    return _shorten(s, "kind", SOURCE_KEYS)


def _short_sink(model: Any) -> Any:
    s = _dump(model, "kind")
    if s["kind"] == "dataset" and set(s) == {"kind", "name"}:
        return {"dataset": s["name"]}
    if s["kind"] == "table":
        s.pop("kind")
        return s  # ``table:`` already names the table
    return _shorten(s, "kind", SINK_KEYS)


def shorten(pipeline: Any) -> dict[str, Any]:
    """The short form of a validated pipeline: what differs from the defaults, as the builders say it."""
    out: dict[str, Any] = {"spec_version": pipeline.spec_version}
    if pipeline.name is not None:
        out["name"] = pipeline.name
    for field in type(pipeline).model_fields:
        value = getattr(pipeline, field)
        if field in ("spec_version", "name") or value in (None, [], {}):
            continue
        if field == "source":
            if getattr(pipeline, "sources", None) is None:  # else the first of ``sources``
                out[field] = _short_source(value)
        elif field == "sources":
            out[field] = {k: _short_source(v) for k, v in pipeline.named_sources().items()}
        elif field == "steps":
            out[field] = [_shorten(_dump(s, "op"), "op", STEP_MAIN) for s in value]
        elif field == "checks":
            out[field] = [_shorten(_dump(c, "check"), "check", CHECK_MAIN) for c in value]
        elif field == "sink":
            out[field] = _short_sink(value)
        else:  # a field this module does not know yet: written in its long form
            dump = getattr(value, "model_dump", None)
            out[field] = dump(mode="json", exclude_defaults=True) if dump else value
    return out
