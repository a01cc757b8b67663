"""Data checks a pipeline runs over its result: not null, unique, accepted values, ranges, patterns,
row counts, column types and SQL predicates; each an error or a warning.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import Field, field_validator, model_validator

from .base import SpecModel

Severity = Literal["error", "warn"]


# ----------------------------------------------------------------------------- checks
class CheckBase(SpecModel):
    severity: Severity = "error"
    name: str | None = None


class NotNullCheck(CheckBase):
    check: Literal["not_null"] = "not_null"
    columns: list[str]


class UniqueCheck(CheckBase):
    check: Literal["is_unique"] = "is_unique"
    columns: list[str]


class AcceptedValuesCheck(CheckBase):
    check: Literal["accepted_values"] = "accepted_values"
    column: str
    values: list[Any]


class RangeCheck(CheckBase):
    check: Literal["in_range"] = "in_range"
    column: str
    min: Any = None
    max: Any = None

    @model_validator(mode="after")
    def _bound(self) -> RangeCheck:
        if self.min is None and self.max is None:
            raise ValueError("in_range needs min, max or both")
        return self


class RegexCheck(CheckBase):
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


class RowCountCheck(CheckBase):
    check: Literal["row_count"] = "row_count"
    min: int | None = None
    max: int | None = None


class ColumnTypesCheck(CheckBase):
    check: Literal["column_types"] = "column_types"
    types: dict[str, str]


class SqlPredicateCheck(CheckBase):
    """Every row must satisfy a SQL boolean expression, e.g. ``amount >= 0 OR refund``."""

    check: Literal["check_sql"] = "check_sql"
    predicate: str


Check = Annotated[
    Union[NotNullCheck, UniqueCheck, AcceptedValuesCheck, RangeCheck, RegexCheck, RowCountCheck,
          ColumnTypesCheck, SqlPredicateCheck],
    Field(discriminator="check"),
]
