"""Load and dump pipeline specs as JSON or YAML, with errors that name the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ..errors import SpecError
from .models import Pipeline
from .short import shorten


def pipeline_from_dict(data: Any, *, file: str | None = None) -> Pipeline:
    if not isinstance(data, dict):
        raise SpecError("a pipeline spec must be a mapping", file=file)
    try:
        return Pipeline.model_validate(data)
    except SpecError as err:  # Pipeline.__init__ turns pydantic's errors into ours, without the file
        raise err.with_context(file=file)


def load_pipeline(path: str | Path) -> Pipeline:
    """Read a pipeline from a ``.yaml``/``.yml`` or ``.json`` file."""

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


def dump_pipeline(pipeline: Pipeline, fmt: str = "yaml", *, short: bool = True) -> str:
    """The spec as YAML or JSON: the short form the builders read like, or every field (``short=False``)."""
    data = shorten(pipeline) if short else pipeline.model_dump(mode="json")
    if fmt == "json":
        return json.dumps(data, indent=2)

    return yaml.safe_dump(data, sort_keys=False)


def json_schema() -> dict[str, Any]:
    return Pipeline.model_json_schema()
