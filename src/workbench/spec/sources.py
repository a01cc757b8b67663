"""Pipeline sources: files (CSV, JSON, Excel, Parquet; local or s3://), catalog datasets, database
queries (optionally incremental) and browser uploads.
"""

from __future__ import annotations

import codecs
import re
from typing import Annotated, Any, Literal, Union
from urllib.parse import parse_qsl, urlsplit

from pydantic import ConfigDict, Field, field_validator

from ..names import INT64_MAX, validate_name
from .base import SpecModel


def db_without_password(value: str) -> str:
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


FileFormat = Literal["auto", "csv", "tsv", "json", "ndjson", "excel", "parquet"]


# ----------------------------------------------------------------------------- sources
class FileSource(SpecModel):
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

    @field_validator("quote_char")
    @classmethod
    def _one_byte_quote(cls, v: str | None) -> str | None:
        # the reader and Polars take one byte; '' or None: no quoting
        if v and len(v.encode()) != 1:
            raise ValueError("quote_char must be a single one-byte character such as '\"' or "
                             "\"'\", or '' for none")
        return v


class DatasetSource(SpecModel):
    kind: Literal["dataset"] = "dataset"
    name: str
    # versions count from 1; the catalog stores no number above INT64_MAX
    version: int | None = Field(default=None, ge=1, le=INT64_MAX)

    _name = field_validator("name")(lambda cls, v: validate_name(v, "dataset name"))


class QuerySource(SpecModel):
    """A SQL query against a database; ``db`` is a DSN without password or a connection name."""

    # a rejected db= may hold a password: keep it out of the validation message
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    kind: Literal["query"] = "query"
    sql: str
    db: str
    params: dict[str, Any] = Field(default_factory=dict)
    incremental: Incremental | None = None
    batch_rows: int = 100_000

    _db = field_validator("db")(lambda cls, v: db_without_password(v))


class Incremental(SpecModel):
    cursor: str
    initial: Any = None


class UploadSource(SpecModel):
    """A file uploaded through a presigned URL, referenced by its upload id."""

    kind: Literal["upload"] = "upload"
    upload_id: str
    format: FileFormat = "auto"


Source = Annotated[Union[FileSource, DatasetSource, QuerySource, UploadSource], Field(discriminator="kind")]
