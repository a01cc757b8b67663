"""Load and dump pipeline specs as JSON or YAML, with errors that name the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import SpecError
from .models import Pipeline


def _describe(err: ValidationError, file: str | None) -> SpecError:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"] if not (isinstance(p, str) and p.endswith("Source")
                                                      or isinstance(p, str) and p.endswith("Step")
                                                      or isinstance(p, str) and p.endswith("Check")
                                                      or isinstance(p, str) and p.endswith("Sink")))
    msg = first["msg"]
    ctx = first.get("ctx") or {}
    hint = None
    if first["type"] == "extra_forbidden":
        msg = f"unknown field {first['loc'][-1]!r}"
        hint = "remove it or check its spelling against `workbench schema`"
    elif first["type"] in ("union_tag_invalid", "literal_error"):
        expected = ctx.get("expected_tags") or ctx.get("expected")
        hint = f"allowed values: {expected}" if expected else None
    elif first["type"] == "missing":
        msg = "field required"
    more = len(err.errors()) - 1
    text = f"invalid pipeline spec at {loc or '<root>'}: {msg}"
    if more:
        text += f" (and {more} more problem{'s' if more > 1 else ''})"
    return SpecError(text, file=file, hint=hint)


def pipeline_from_dict(data: Any, *, file: str | None = None) -> Pipeline:
    if not isinstance(data, dict):
        raise SpecError("a pipeline spec must be a mapping", file=file)
    try:
        return Pipeline.model_validate(data)
    except ValidationError as err:
        raise _describe(err, file) from None


def load_pipeline(path: str | Path) -> Pipeline:
    """Read a pipeline from a ``.yaml``/``.yml`` or ``.json`` file."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("spec file not found", file=str(p)) from None
    try:
        data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise SpecError(f"spec file is not valid {'JSON' if p.suffix == '.json' else 'YAML'}: {exc}",
                        file=str(p)) from None
    return pipeline_from_dict(data, file=str(p))


def dump_pipeline(pipeline: Pipeline, fmt: str = "yaml") -> str:
    data = pipeline.model_dump(mode="json", exclude_defaults=False)
    if fmt == "json":
        return json.dumps(data, indent=2)
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def json_schema() -> dict[str, Any]:
    return Pipeline.model_json_schema()
