"""Pipeline spec: plain, frozen, JSON-serialisable data. A spec carries no secrets."""

from __future__ import annotations

import codecs
import re
from typing import Annotated, Any, Literal, Union, get_args
from urllib.parse import parse_qsl, urlsplit

from pydantic import (
    BaseModel, ConfigDict, Field, ValidationError, field_validator, model_serializer,
    model_validator,
)

from ..errors import SpecError
from ..names import validate_name
from .errors import describe_validation_error as _describe
from .short import expand

SPEC_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _db_without_password(value: str) -> str:
    """Specs are stored in job records and shown: a ``db`` DSN must not carry a password."""

    text = value if isinstance(value, str) else ""
    try:
        parts = urlsplit(text) if "://" in text else None
        secret = (parts is not None and (parts.password is not None or any(
            k.lower() in ("password", "sslpassword") for k, _ in parse_qsl(parts.query)))) or (
            parts is None and re.search(r"(?i)\bpassword\s*=", text) is not None)
    except ValueError:
        secret = True
    if secret:
        raise ValueError("db must not contain a password (specs are stored in job records): name "
                         "a connection, db='warehouse' with WORKBENCH_CONN_WAREHOUSE=postgresql://"
                         "user:password@host/db set where the job runs, or use PGPASSWORD / "
                         "~/.pgpass")
    return value


# Python's codec names and aliases (latin-1, ISO-8859-1, utf-8, UTF-16LE, windows-1252 …) → ours.
_CODECS = {"utf-8": "utf8", "utf-16": "utf16", "utf-16-le": "utf16le", "utf-16-be": "utf16be",
           "iso8859-1": "latin1", "cp1252": "cp1252"}


def normalise_encoding(name: str) -> str:
    """An encoding as the spec names it; Python's codec names and aliases are accepted."""
    key = name.strip().lower()
    if key in ("auto", "utf8-lossy", "utf-8-lossy"):
        return key.replace("utf-8", "utf8")
    try:
        codec = codecs.lookup(key).name
    except LookupError:
        return name  # left for validation, which lists the allowed values
    return _CODECS.get(codec, name)


Severity = Literal["error", "warn"]
FileFormat = Literal["auto", "csv", "tsv", "json", "ndjson", "excel", "parquet"]


# ----------------------------------------------------------------------------- sources
class FileSource(_Model):
    """One file, a glob of files, or an s3:// object/prefix/glob."""

    kind: Literal["file"] = "file"
    path: str
    format: FileFormat = "auto"
    compression: Literal["auto", "none", "gzip", "zstd"] = "auto"
    # text options
    delimiter: str | None = None
    quote_char: str | None = '"'
    has_header: bool = True
    encoding: Literal["auto", "utf8", "utf8-lossy", "utf16", "utf16le", "utf16be", "latin1",
                      "cp1252"] = "auto"
    null_values: list[str] | None = None  # None: the default markers ("", NA, N/A, NULL, null)
    schema_overrides: dict[str, str] = Field(default_factory=dict)
    skip_rows: int = 0
    # excel
    sheet: str | int | None = None
    # a glob of many files split into one task per file on workers
    parallel: bool = False

    @field_validator("encoding", mode="before")
    @classmethod
    def _codec_name(cls, v: Any) -> Any:
        return normalise_encoding(v) if isinstance(v, str) else v

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, v: str | None) -> str | None:
        if v is not None and len(v.encode()) != 1:
            raise ValueError("delimiter must be a single one-byte character, e.g. ',' ';' '|' or '\\t'")
        return v


class DatasetSource(_Model):
    kind: Literal["dataset"] = "dataset"
    name: str
    version: int | None = None

    _name = field_validator("name")(lambda cls, v: validate_name(v, "dataset name"))


class QuerySource(_Model):
    """A SQL query against a database; ``db`` is a DSN without password or a connection name."""

    # a rejected db= may hold a password: keep it out of the validation message
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    kind: Literal["query"] = "query"
    sql: str
    db: str
    params: dict[str, Any] = Field(default_factory=dict)
    incremental: Incremental | None = None
    batch_rows: int = 100_000

    _db = field_validator("db")(lambda cls, v: _db_without_password(v))


class Incremental(_Model):
    cursor: str
    initial: Any = None


class UploadSource(_Model):
    """A file uploaded through a presigned URL, referenced by its upload id."""

    kind: Literal["upload"] = "upload"
    upload_id: str
    format: FileFormat = "auto"


Source = Annotated[Union[FileSource, DatasetSource, QuerySource, UploadSource], Field(discriminator="kind")]


# ----------------------------------------------------------------------------- steps
class SqlStep(_Model):
    """DuckDB SQL over the relation ``input`` (and catalog datasets by name), sandboxed."""

    op: Literal["sql"] = "sql"
    query: str
    name: str | None = None


class SelectStep(_Model):
    op: Literal["select"] = "select"
    columns: list[str]
    name: str | None = None


class FilterStep(_Model):
    op: Literal["filter"] = "filter"
    predicate: str  # a SQL expression, e.g. "amount > 0 AND region IS NOT NULL"
    name: str | None = None


class WithColumnsStep(_Model):
    op: Literal["with_columns"] = "with_columns"
    columns: dict[str, str]  # new name -> SQL expression
    name: str | None = None


class RenameStep(_Model):
    op: Literal["rename"] = "rename"
    mapping: dict[str, str]
    name: str | None = None


class CastStep(_Model):
    op: Literal["cast"] = "cast"
    dtypes: dict[str, str]  # column -> type name ("int64", "float64", "date", "string", ...)
    strict: bool = True
    name: str | None = None


class DropStep(_Model):
    op: Literal["drop"] = "drop"
    columns: list[str]
    name: str | None = None


class DropNullsStep(_Model):
    op: Literal["drop_nulls"] = "drop_nulls"
    subset: list[str] | None = None
    name: str | None = None


class UniqueStep(_Model):
    op: Literal["unique"] = "unique"
    subset: list[str] | None = None
    keep: Literal["first", "last", "any", "none"] = "first"
    name: str | None = None


class SortStep(_Model):
    op: Literal["sort"] = "sort"
    by: list[str]
    descending: bool | list[bool] = False
    nulls_last: bool = True
    name: str | None = None


class LimitStep(_Model):
    op: Literal["limit"] = "limit"
    n: int = Field(ge=0)
    name: str | None = None


class PythonStep(_Model):
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


# ----------------------------------------------------------------------------- checks
class _Check(_Model):
    severity: Severity = "error"
    name: str | None = None


class NotNullCheck(_Check):
    check: Literal["not_null"] = "not_null"
    columns: list[str]


class UniqueCheck(_Check):
    check: Literal["is_unique"] = "is_unique"
    columns: list[str]


class AcceptedValuesCheck(_Check):
    check: Literal["accepted_values"] = "accepted_values"
    column: str
    values: list[Any]


class RangeCheck(_Check):
    check: Literal["in_range"] = "in_range"
    column: str
    min: Any = None
    max: Any = None

    @model_validator(mode="after")
    def _bound(self) -> RangeCheck:
        if self.min is None and self.max is None:
            raise ValueError("in_range needs min, max or both")
        return self


class RegexCheck(_Check):
    check: Literal["matches"] = "matches"
    column: str
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"pattern does not compile: {exc}") from None
        return v


class RowCountCheck(_Check):
    check: Literal["row_count"] = "row_count"
    min: int | None = None
    max: int | None = None


class ColumnTypesCheck(_Check):
    check: Literal["column_types"] = "column_types"
    types: dict[str, str]


class SqlPredicateCheck(_Check):
    """Every row must satisfy a SQL boolean expression, e.g. ``amount >= 0 OR refund``."""

    check: Literal["check_sql"] = "check_sql"
    predicate: str


Check = Annotated[
    Union[NotNullCheck, UniqueCheck, AcceptedValuesCheck, RangeCheck, RegexCheck, RowCountCheck,
          ColumnTypesCheck, SqlPredicateCheck],
    Field(discriminator="check"),
]


# ----------------------------------------------------------------------------- sinks
class DatasetSink(_Model):
    kind: Literal["dataset"] = "dataset"
    name: str
    mode: Literal["create", "overwrite", "append", "upsert"] = "overwrite"
    keys: list[str] = Field(default_factory=list)
    partition_by: list[str] = Field(default_factory=list)
    compression: Literal["zstd", "snappy", "gzip", "lz4", "uncompressed"] = "zstd"
    compression_level: int | None = None
    row_group_size: int | None = None

    _name = field_validator("name")(lambda cls, v: validate_name(v, "dataset name"))

    @model_validator(mode="after")
    def _keys(self) -> DatasetSink:
        if self.mode == "upsert" and not self.keys:
            raise ValueError("mode='upsert' needs keys=[...] naming the key columns")
        return self


class TableSink(_Model):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    kind: Literal["table"] = "table"
    table: str
    db: str
    mode: Literal["create", "insert", "append", "replace", "upsert"] = "append"
    keys: list[str] = Field(default_factory=list)
    batch_rows: int = 100_000

    _db = field_validator("db")(lambda cls, v: _db_without_password(v))

    @model_validator(mode="after")
    def _keys(self) -> TableSink:
        if self.mode == "upsert" and not self.keys:
            raise ValueError("mode='upsert' needs keys=[...] naming the key columns")
        return self


Sink = Annotated[Union[DatasetSink, TableSink], Field(discriminator="kind")]


# ----------------------------------------------------------------------------- pipeline
_SOURCE_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class Pipeline(_Model):
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
        data = handler(self)
        if isinstance(data, dict):
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


def _members(union: Any, field: str) -> dict[str, type[_Model]]:
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
    if place is None:
        return []
    kind_field, members = place
    for part in reversed(loc[1:]):
        if isinstance(part, str) and part in members:
            return [f for f in members[part].model_fields if f != kind_field]
    return list(members)  # the place itself: the kinds it may hold


def describe_validation_error(err: ValidationError, file: str | None) -> SpecError:
    """Every problem of a spec, each with its path, and "did you mean" for a misspelt field."""
    return _describe(err, file, tags=_TAGS, fields_at=_fields_at)
