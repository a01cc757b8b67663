"""Spec validation errors that list every problem, each with its path and a way to fix it."""

from __future__ import annotations

import difflib
from typing import Any, Callable

from pydantic import ValidationError

from ..errors import SpecError

# loc -> the field names allowed at that place (given by the models, which know them)
FieldsAt = Callable[[tuple[Any, ...]], list[str]]


def _path(loc: tuple[Any, ...], tags: set[str]) -> str:
    # pydantic puts the union member's tag (``file``, ``sql``, ``not_null``…) and its function
    # wrappers into the location; a reader wants only ``steps.1.query``.
    parts = [str(p) for p in loc if not (isinstance(p, str) and (p in tags or "[" in p))]
    return ".".join(parts) or "<root>"


def _one(error: dict[str, Any], tags: set[str], fields_at: FieldsAt | None) -> tuple[str, str | None]:
    loc = tuple(error["loc"])
    kind, ctx = error["type"], error.get("ctx") or {}
    where = _path(loc, tags)
    if kind == "extra_forbidden":
        name = str(loc[-1])
        allowed = fields_at(loc[:-1]) if fields_at else []
        close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
        hint = (f"did you mean {close[0]!r}?" if close
                else f"allowed fields here: {', '.join(allowed)}" if allowed
                else "check its spelling against `workbench schema`")
        return f"{where}: unknown field {name!r}", hint
    if kind in ("union_tag_invalid", "union_tag_not_found", "literal_error"):
        expected = ctx.get("expected_tags") or ctx.get("expected")
        got = ctx.get("tag")
        msg = f"{where}: unknown kind {got!r}" if got else f"{where}: {error['msg']}"
        if kind == "union_tag_not_found":
            kinds = fields_at(loc) if fields_at else []
            given = error.get("input") if isinstance(error.get("input"), dict) else {}
            for key in given:
                close = difflib.get_close_matches(str(key), kinds, n=1, cutoff=0.6)
                if close:
                    return f"{where}: unknown kind {key!r}", f"did you mean {close[0]!r}?"
            return f"{where}: cannot tell what this is", (
                f"start it with one of: {', '.join(kinds)}" if kinds else None)
        return msg, f"allowed: {expected}" if expected else None
    if kind == "missing":
        return f"{where}: field required", None
    if kind == "model_attributes_type" or kind == "dict_type":
        return f"{where}: expected a mapping, got {type(error.get('input')).__name__}", (
            "a source may be a path string; steps, checks and sinks are mappings")
    msg = error["msg"].removeprefix("Value error, ")
    return f"{where}: {msg}", None


def describe_validation_error(err: ValidationError, file: str | None, *, tags: set[str] = frozenset(),
                              fields_at: FieldsAt | None = None) -> SpecError:
    """One SpecError naming every problem (never "and N more" without showing them)."""
    problems: list[tuple[str, str | None]] = []
    for e in err.errors():
        p = _one(e, set(tags), fields_at)
        # pydantic repeats a problem only across union members that map to one text; none of
        # the models does today (a thousand generated bad specs tried): kept for the next one
        if p not in problems:  # pragma: no branch
            problems.append(p)
    if len(problems) == 1:
        text, hint = problems[0]
        return SpecError(f"invalid pipeline spec at {text}", file=file, hint=hint)
    lines = [f"invalid pipeline spec: {len(problems)} problems"]
    lines += [f"  - {t}" + (f" ({h})" if h else "") for t, h in problems]
    hints = [h for _, h in problems if h]
    return SpecError("\n".join(lines), file=file, hint=hints[0] if len(hints) == 1 else None)
