"""Types in readers: declared type names, parsing text into a type, widening an inferred type."""

from __future__ import annotations

from typing import Any, Callable

import polars as pl

from ..errors import SourceError, SpecError
from .types import parse_type


def declared_types(overrides: dict[str, str], file: str | None = None) -> dict[str, pl.DataType]:
    out: dict[str, pl.DataType] = {}
    for column, name in overrides.items():
        try:
            out[column] = parse_type(name)
        except ValueError as exc:
            raise SpecError(f"schema_overrides[{column!r}]: {exc}", file=file, column=column,
                            hint="e.g. schema_overrides={'amount': 'decimal(12,2)', "
                                 "'day': 'date', 'id': 'int64'}") from None
    return out


def check_declared_columns(declared: dict[str, pl.DataType], columns: list[str], file: str) -> None:
    missing = [c for c in declared if c not in columns]
    if missing:
        raise SourceError(
            f"schema_overrides names columns the file does not have: {', '.join(map(repr, missing))}",
            file=file, column=missing[0],
            hint=f"the file's columns are: {', '.join(map(repr, columns[:50]))}")


def parse_text(expr: pl.Expr, dtype: pl.DataType, *, strict: bool) -> pl.Expr:
    """Text → ``dtype`` with the same meaning as Polars' CSV parser; ``strict=False`` gives null
    where a value does not fit (that is how misfits are found)."""
    if dtype == pl.String:
        return expr
    if dtype == pl.Boolean:
        low = expr.str.to_lowercase()
        if strict:
            return low.replace_strict({"true": True, "false": False}, return_dtype=pl.Boolean)
        return low.replace_strict({"true": True, "false": False}, default=None,
                                  return_dtype=pl.Boolean)
    if dtype == pl.Date:
        return expr.str.to_date(strict=strict)
    if isinstance(dtype, pl.Datetime):
        return expr.str.to_datetime(time_unit=dtype.time_unit, time_zone=dtype.time_zone,
                                    strict=strict)
    if dtype == pl.Time:
        return expr.str.to_time(strict=strict)
    if isinstance(dtype, pl.Decimal):
        # Polars rounds a value with more decimal places than the scale (1.005 as decimal(12,2)
        # is 1.00): such a value does not fit. Strict, it is made text no cast takes, so the
        # pass fails on it and the failure is located like any other misfit.
        rounded = expr.str.contains(r"\.[0-9]{%d}[0-9]*[1-9]" % (dtype.scale or 0))
        if strict:
            expr = pl.when(rounded).then(pl.concat_str([pl.lit("rounds "), expr])).otherwise(expr)
        else:
            expr = pl.when(rounded).then(pl.lit(None, pl.String)).otherwise(expr)
    return expr.cast(dtype, strict=strict)


def misfit(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """True where a (non-null) text value does not parse as ``dtype``."""
    return expr.is_not_null() & parse_text(expr, dtype, strict=False).is_null()


FLOAT_EXACT = 2**53  # every integer up to this is a Float64 exactly; past it, some round


def past_float(expr: pl.Expr) -> pl.Expr:
    """True where a text value is an integer a float would round (past 2**53, Int128 or not)."""
    return expr.str.contains(r"^\s*[+-]?[0-9]{16,}\s*$") & \
        (expr.cast(pl.Int128, strict=False).abs() > FLOAT_EXACT).fill_null(True)


def widen(dtype: pl.DataType, fits_float: bool) -> pl.DataType:
    """One step up the ladder int → float → string (anything else → string)."""
    if dtype.is_integer() and fits_float:
        return pl.Float64
    return pl.String


def type_name(dtype: pl.DataType) -> str:
    text = str(dtype)
    return {"Int64": "int64", "Float64": "float64", "String": "string", "Boolean": "bool",
            "Date": "date", "Int32": "int32", "Float32": "float32"}.get(text, text.lower())


def py_fits(value: Any, dtype: pl.DataType) -> bool:
    """Whether a decoded JSON value fits ``dtype`` (for locating a bad NDJSON record)."""
    if value is None or dtype == pl.String:
        return True  # Polars writes any JSON value into a text column as its JSON text
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if dtype.is_integer():
        return number and float(value).is_integer()
    if dtype.is_float() or isinstance(dtype, pl.Decimal):
        return number
    if dtype == pl.Boolean:
        return isinstance(value, bool)
    if isinstance(value, str):
        try:
            return pl.select(parse_text(pl.lit(value), dtype, strict=False)).item() is not None
        except Exception:
            return False
    try:
        pl.Series([value]).cast(dtype, strict=True)
    except Exception:
        return False
    return True


def apply_declared_eager(df: pl.DataFrame, declared: dict[str, pl.DataType], file: str, *,
                         row_offset: int = 0, where: Callable[[int], str] | None = None,
                         ) -> pl.DataFrame:
    """Cast an in-memory frame to the declared types; the first value that does not fit is a
    ``SourceError`` with its row (1-based data row + ``row_offset``) and column."""
    for column, dtype in declared.items():
        if column not in df.columns:
            raise SourceError(
                f"schema_overrides names a column the file does not have: {column!r}", file=file,
                column=column, hint=f"the columns are: {', '.join(map(repr, df.columns[:50]))}")
        src = df[column]
        if src.dtype == dtype:
            continue
        if src.dtype == pl.String:
            conv = df.select(parse_text(pl.col(column), dtype, strict=False)).to_series()
        else:
            try:
                conv = src.cast(dtype, strict=False)
            except Exception:
                conv = pl.Series(column, [None] * len(src), dtype=dtype)
        bad = src.is_not_null() & conv.is_null()
        if bad.any():
            i = int(bad.arg_true()[0])
            row = i + 1 + row_offset
            value = src[i]
            extra = f" ({where(i)})" if where else ""
            raise SourceError(
                f"value {value!r} does not fit the declared type {type_name(dtype)}{extra}",
                file=file, row=row, column=column,
                hint=f"fix the value, declare a wider type (schema_overrides={{{column!r}: "
                     "'string'}), or add it to null_values if it means missing")
        df = df.with_columns(conv.alias(column))
    return df
