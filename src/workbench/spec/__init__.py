"""The pipeline spec: models, builders, and file round-trips."""

from .io import dump_pipeline, json_schema, load_pipeline, pipeline_from_dict
from .models import *  # noqa: F401,F403
from .models import SPEC_VERSION, Pipeline, validate_name

__all__ = ["SPEC_VERSION", "Pipeline", "dump_pipeline", "json_schema", "load_pipeline",
           "pipeline_from_dict", "validate_name"]
