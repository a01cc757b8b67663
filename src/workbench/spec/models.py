"""Pipeline spec: plain, frozen, JSON-serialisable data. A spec carries no secrets."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import (
    ConfigDict, Field, ValidationError, field_validator, model_serializer, model_validator,
)

from ..errors import SpecError
from ..names import validate_name
from .base import SPEC_VERSION, SpecModel
# Sources and checks live in their own modules; every spec model stays importable from here.
from .checks import (  # noqa: F401
    AcceptedValuesCheck, Check, CheckBase, ColumnTypesCheck, NotNullCheck, RangeCheck, RegexCheck,
    RowCountCheck, Severity, SqlPredicateCheck, UniqueCheck,
)
from .errors import describe_validation_error as _describe
from .partitions import canonical
from .short import expand
from .sources import (  # noqa: F401
    DatasetSource, FileFormat, FileSource, Incremental, QuerySource, Source, UploadSource,
    db_without_password, normalise_encoding,
)


# ----------------------------------------------------------------------------- steps
class SqlStep(SpecModel):
    """DuckDB SQL over the relation ``input`` (and catalog datasets by name), sandboxed."""

    op: Literal["sql"] = "sql"
    query: str
    name: str | None = None


class SelectStep(SpecModel):
    op: Literal["select"] = "select"
    columns: list[str]
    name: str | None = None


class FilterStep(SpecModel):
    op: Literal["filter"] = "filter"
    predicate: str  # a SQL expression, e.g. "amount > 0 AND region IS NOT NULL"
    name: str | None = None


class WithColumnsStep(SpecModel):
    op: Literal["with_columns"] = "with_columns"
    columns: dict[str, str]  # new name -> SQL expression
    name: str | None = None


class RenameStep(SpecModel):
    op: Literal["rename"] = "rename"
    mapping: dict[str, str]
    name: str | None = None


class CastStep(SpecModel):
    op: Literal["cast"] = "cast"
    dtypes: dict[str, str]  # column -> type name ("int64", "float64", "date", "string", ...)
    strict: bool = True
    name: str | None = None


class DropStep(SpecModel):
    op: Literal["drop"] = "drop"
    columns: list[str]
    name: str | None = None


class DropNullsStep(SpecModel):
    op: Literal["drop_nulls"] = "drop_nulls"
    subset: list[str] | None = None
    name: str | None = None


class UniqueStep(SpecModel):
    op: Literal["unique"] = "unique"
    subset: list[str] | None = None
    keep: Literal["first", "last", "any", "none"] = "first"
    name: str | None = None


class SortStep(SpecModel):
    op: Literal["sort"] = "sort"
    by: list[str]
    descending: bool | list[bool] = False
    nulls_last: bool = True
    name: str | None = None


class LimitStep(SpecModel):
    op: Literal["limit"] = "limit"
    n: int = Field(ge=0)
    name: str | None = None


class PythonStep(SpecModel):
    """A function ``module:function`` taking and returning a polars (Lazy)DataFrame."""

    op: Literal["python"] = "python"
    function: str
    kwargs: dict[str, Any] = Field(default_factory=dict)
    name: str | None = None

    @field_validator("function")
    @classmethod
    def _ref(cls, v: str) -> str:
        if not isinstance(v, str) or not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", v):
            raise ValueError("function must look like 'package.module:function'")
        return v


Step = Annotated[
    Union[SqlStep, SelectStep, FilterStep, WithColumnsStep, RenameStep, CastStep, DropStep,
          DropNullsStep, UniqueStep, SortStep, LimitStep, PythonStep],
    Field(discriminator="op"),
]


# ----------------------------------------------------------------------------- sinks
class DatasetSink(SpecModel):
    kind: Literal["dataset"] = "dataset"
    name: str
    mode: Literal["create", "overwrite", "append", "upsert"] = "overwrite"
    keys: list[str] = Field(default_factory=list)
    partition_by: list[str] = Field(default_factory=list)
    compression: Literal["zstd", "snappy", "gzip", "lz4", "uncompressed"] = "zstd"
    compression_level: int | None = None
    row_group_size: int | None = None

    _name = field_validator("name")(lambda cls, v: validate_name(v, "dataset name"))

    @field_validator("partition_by")
    @classmethod
    def _partitions(cls, v: list[str]) -> list[str]:
        return canonical(v)

    @model_validator(mode="after")
    def _keys(self) -> DatasetSink:
        if self.mode == "upsert" and not self.keys:
            raise ValueError("mode='upsert' needs keys=[...] naming the key columns")
        return self


class TableSink(SpecModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    kind: Literal["table"] = "table"
    table: str
    db: str
    mode: Literal["create", "insert", "append", "replace", "upsert"] = "append"
    keys: list[str] = Field(default_factory=list)
    batch_rows: int = 100_000

    _db = field_validator("db")(lambda cls, v: db_without_password(v))

    @model_validator(mode="after")
    def _keys(self) -> TableSink:
        if self.mode == "upsert" and not self.keys:
            raise ValueError("mode='upsert' needs keys=[...] naming the key columns")
        return self


Sink = Annotated[Union[DatasetSink, TableSink], Field(discriminator="kind")]


# ----------------------------------------------------------------------------- pipeline
_SOURCE_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class Pipeline(SpecModel):
    """A source (or several named ones), transform steps, checks and a sink.

    >>> import workbench as wb
    >>> p = wb.Pipeline(source=wb.file("sales.csv"), sink=wb.dataset("sales"))

    With ``sources={"orders": wb.file(...), "customers": wb.from_dataset(...)}`` each source is a
    relation of that name in SQL steps, and the first one is the *primary*: Polars steps, a
    ``parallel=True`` fan-out and ``input`` in the first SQL step all start from it. In SQL,
    ``input`` is always the previous step's output (the primary source for the first step), and
    each name reads its source as read. ``source`` stays the primary (old specs keep working), and
    a spec with ``sources`` is stored without a separate ``source``.
    """

    spec_version: Literal[1] = SPEC_VERSION
    name: str | None = None
    source: Source  # with sources=, filled from its first entry (and not written back)
    sources: dict[str, Source] | None = None
    steps: list[Step] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)
    sink: Sink | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, data: Any) -> Any:
        return expand(data)

    def __init__(self, **data: Any) -> None:
        # ``wb.Pipeline(...)`` raises our SpecError, naming the field, not pydantic's.
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise describe_validation_error(err, None) from None

    @model_validator(mode="before")
    @classmethod
    def _primary_source(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("sources") is None:
            return data
        srcs = data["sources"]
        if not isinstance(srcs, dict) or not srcs:
            raise ValueError("sources must name at least one source, e.g. "
                             "sources={'orders': wb.file('orders/*.csv')}")
        if data.get("source") is not None:
            raise ValueError("give source= or sources=, not both (the first of sources is the "
                             "primary source)")
        for key in srcs:
            if not isinstance(key, str) or not _SOURCE_NAME_RE.fullmatch(key):
                raise ValueError(f"invalid source name {key!r}: SQL steps read it by name, so use "
                                 "letters, digits and '_', starting with a letter or '_'")
        lowered = [k.lower() for k in srcs]
        if len(set(lowered)) != len(lowered):
            raise ValueError("source names must differ in more than letter case (SQL ignores it)")
        if len(srcs) > 1 and "input" in lowered:
            raise ValueError("with several sources none may be named 'input': in SQL steps "
                             "`input` is the previous step's output")
        return {**data, "source": next(iter(srcs.values()))}

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> Any:
        data = handler(self)  # a model's fields: always a dict
        if self.sources is None:
            data.pop("sources", None)
        else:  # one place for the primary: sources, first (as given; model_copy may move it)
            primary = data.pop("source")
            names = list(self.sources)
            rest = {k: v for k, v in (data.get("sources") or {}).items() if k != names[0]}
            data["sources"] = {names[0]: primary, **rest}
        return data

    def named_sources(self) -> dict[str, Any]:
        """Every source by the name SQL steps read it under (``input`` for a single source)."""
        if self.sources is None:
            return {"input": self.source}
        names = list(self.sources)
        return {names[0]: self.source, **{k: self.sources[k] for k in names[1:]}}

    def step_names(self) -> list[str]:
        names = ["read"]
        for i, step in enumerate(self.steps):
            names.append(step.name or f"{i + 1}:{step.op}")
        if self.checks:
            names.append("check")
        names.append("write" if self.sink is not None else "collect")
        return names


QuerySource.model_rebuild()


def _members(union: Any, field: str) -> dict[str, type[SpecModel]]:
    return {cls.model_fields[field].default: cls for cls in get_args(get_args(union)[0])}


# Which model a place in a spec stands for, so an error can list the fields allowed there.
_PLACES = {"source": ("kind", _members(Source, "kind")), "sources": ("kind", _members(Source, "kind")),
           "steps": ("op", _members(Step, "op")), "checks": ("check", _members(Check, "check")),
           "sink": ("kind", _members(Sink, "kind"))}
_TAGS = {tag for _, members in _PLACES.values() for tag in members}


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    if not loc:
        return list(Pipeline.model_fields)
    place = _PLACES.get(str(loc[0]))
    if place is None:  # pragma: no cover - every nested model of a Pipeline sits under a place
        return []
    kind_field, members = place
    for part in reversed(loc[1:]):
        if isinstance(part, str) and part in members:
            return [f for f in members[part].model_fields if f != kind_field]
    return list(members)  # the place itself: the kinds it may hold


def describe_validation_error(err: ValidationError, file: str | None) -> SpecError:
    """Every problem of a spec, each with its path, and "did you mean" for a misspelt field."""
    return _describe(err, file, tags=_TAGS, fields_at=_fields_at)
