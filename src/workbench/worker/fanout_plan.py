"""Fan-out planning: whether a pipeline can run as one part per input file (row-wise steps over
uncompressed files), and the column types every part must write so the parts concatenate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from ..engines.readers import expand_paths, scan_file
from ..errors import WorkbenchError
from ..spec import models as m

ROW_WISE = (m.SelectStep, m.FilterStep, m.WithColumnsStep, m.RenameStep, m.CastStep, m.DropStep,
            m.DropNullsStep)


# SQL expressions that look at more than one row (aggregates, windows) cannot run per file.
_NOT_ROW_WISE = re.compile(
    r"\bover\s*\(|\b(sum|avg|mean|count|min|max|median|first|last|stddev|std|variance|var|rank|"
    r"dense_rank|row_number|lag|lead|quantile\w*|mode|string_agg|array_agg|list|any_value|"
    r"bool_and|bool_or|n_unique)\s*\(", re.IGNORECASE)


_COMPRESSED = (".gz", ".gzip", ".zst", ".zstd", ".bz2", ".xz", ".zip")


@dataclass
class Plan:
    files: list[dict[str, Any]] | None = None
    note: str | None = None


def _why_not(pipeline: m.Pipeline) -> str | None:
    for i, step in enumerate(pipeline.steps):
        label = step.name or f"{i + 1}:{step.op}"
        if not isinstance(step, ROW_WISE):
            return f"step {label} needs all rows at once"
        exprs = [step.predicate] if isinstance(step, m.FilterStep) else (
            list(step.columns.values()) if isinstance(step, m.WithColumnsStep) else [])
        if any(_NOT_ROW_WISE.search(e) for e in exprs):
            return f"step {label} aggregates over rows"
    sink = pipeline.sink
    if not isinstance(sink, m.DatasetSink):
        return "only a dataset sink can be written in parts"
    if sink.mode not in ("create", "overwrite", "append"):
        return f"mode={sink.mode!r} reads the whole dataset"
    return None


def plan(pipeline: m.Pipeline, ctx: Any) -> Plan:
    src = pipeline.source
    if not isinstance(src, m.FileSource) or not src.parallel:
        return Plan()

    try:
        files = expand_paths(src.path, ctx)
    except WorkbenchError:
        return Plan()  # the normal run reports the error with its context
    if len(files) < 2:
        return Plan()
    reason = _why_not(pipeline)
    if reason:
        return Plan(note=f"parallel=True: {reason}, so the {len(files)} files are read in one task")
    return Plan(files=files)


# ----------------------------------------------------------------------------- types
def _type_name(dtype: pl.DataType) -> str | None:
    """A spec type name for a Polars type (None: cannot be declared; cast instead)."""
    if isinstance(dtype, pl.Decimal):
        return f"decimal({dtype.precision},{dtype.scale})"
    if isinstance(dtype, pl.Datetime):
        return f"datetime[{dtype.time_unit}, {dtype.time_zone}]" if dtype.time_zone \
            else f"datetime[{dtype.time_unit}]"
    simple = {pl.Int8: "int8", pl.Int16: "int16", pl.Int32: "int32", pl.Int64: "int64",
              pl.UInt8: "uint8", pl.UInt16: "uint16", pl.UInt32: "uint32", pl.UInt64: "uint64",
              pl.Float32: "float32", pl.Float64: "float64", pl.String: "string",
              pl.Boolean: "bool", pl.Date: "date", pl.Time: "time", pl.Binary: "binary"}
    for k, v in simple.items():
        if dtype == k:
            return v
    return None


def planned_types(source: m.FileSource, files: list[dict[str, Any]], ctx: Any
                  ) -> tuple[dict[str, str], pl.Schema, list[str]]:
    """Column -> spec type for every part, the planned schema, and the reader's notes.

    The schema has every column; the types only those a spec type name can declare (a List,
    Struct, Duration or Categorical column has none, and each part reads it as it is)."""

    local_plain = all("://" not in f["path"] and not f["path"].lower().endswith(_COMPRESSED)
                      for f in files) and source.compression in ("auto", "none")
    probe = source.model_copy(update={"parallel": False} if local_plain
                              else {"parallel": False, "path": files[0]["path"]})
    scan = scan_file(probe, ctx, types_only=True)
    try:
        schema = scan.frame.collect_schema()
    finally:
        scan.cleanup()
    types = {}
    for name, dtype in schema.items():
        t = _type_name(dtype)
        if t is not None:
            types[name] = t
    return types, schema, list(scan.notes)


def part_source(source: m.FileSource, path: str, types: dict[str, str]) -> m.FileSource:
    update: dict[str, Any] = {"path": path, "parallel": False}
    fmt = source.format
    if fmt in ("csv", "tsv") or (fmt == "auto" and path.lower().split("?")[0].rstrip("/").endswith(
            (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".csv.zst", ".tsv.zst"))):
        # Declared types make the reader say which row of which file does not fit.
        update["schema_overrides"] = {**types, **source.schema_overrides}
    return source.model_copy(update=update)
