"""Type names used in specs (``"int64"``, ``"decimal(10,2)"``) mapped to Polars types."""

from __future__ import annotations

import re
from collections.abc import Callable

import polars as pl

SIMPLE: dict[str, pl.DataType] = {
    "int8": pl.Int8, "int16": pl.Int16, "int32": pl.Int32, "int64": pl.Int64, "int": pl.Int64,
    "integer": pl.Int64, "bigint": pl.Int64,
    "uint8": pl.UInt8, "uint16": pl.UInt16, "uint32": pl.UInt32, "uint64": pl.UInt64,
    "float32": pl.Float32, "float64": pl.Float64, "float": pl.Float64, "double": pl.Float64,
    "string": pl.String, "str": pl.String, "text": pl.String, "utf8": pl.String, "varchar": pl.String,
    "bool": pl.Boolean, "boolean": pl.Boolean,
    "date": pl.Date, "datetime": pl.Datetime("us"), "timestamp": pl.Datetime("us"),
    "time": pl.Time, "duration": pl.Duration("us"), "binary": pl.Binary,
    "categorical": pl.Categorical(),
}

_DECIMAL = re.compile(r"^decimal\((\d+)\s*,\s*(\d+)\)$")
_DATETIME_TZ = re.compile(r"^(?:datetime|timestamp)\[(ms|us|ns)(?:,\s*([\w/+\-]+))?\]$")

# The longest name a spec may give: every accepted one is far shorter (the longest time zone
# name has 32 characters); a longer text is refused without being parsed or repeated whole.
MAX_TYPE_NAME = 100


def _shown(name: str) -> str:
    return repr(name) if len(name) <= 60 else f"{name[:60]!r}… ({len(name):,} characters)"


def parse_type(name: str) -> pl.DataType:
    """``"int64"`` → ``pl.Int64``; raises ValueError listing the allowed names."""
    if not isinstance(name, str) or len(name) > MAX_TYPE_NAME:
        raise ValueError(f"unknown type {_shown(str(name))}: a type name has at most "
                         f"{MAX_TYPE_NAME} characters")
    key = name.strip().lower()
    if key in SIMPLE:
        return SIMPLE[key]
    m = _DECIMAL.match(key)
    if m:
        precision, scale = int(m.group(1)), int(m.group(2))
        if not 1 <= precision <= 38 or scale > precision:
            raise ValueError(f"decimal({precision},{scale}) is out of range: precision 1..38, scale <= precision")
        return pl.Decimal(precision, scale)
    m = _DATETIME_TZ.match(name.strip())
    if m:
        dtype = pl.Datetime(m.group(1), m.group(2))
        if m.group(2) is not None:
            try:  # Polars' own check of the zone name (a typo fails here, not in the job)
                pl.Series([], dtype=dtype)
            except pl.exceptions.ComputeError:
                raise ValueError(f"unknown time zone {m.group(2)!r} in {_shown(name)}; use an "
                                 "IANA name such as UTC or Europe/Paris") from None
        return dtype
    raise ValueError(f"unknown type {_shown(name)}; use one of {', '.join(sorted(SIMPLE))}, "
                     "decimal(p,s) or datetime[us, Europe/Paris]")


# names a check may give for a family of types, with what each family takes
_FAMILIES: dict[str, Callable[[pl.DataType], bool]] = {
    **dict.fromkeys(("int", "integer"), lambda t: t.is_integer()),
    **dict.fromkeys(("float", "number", "numeric"), lambda t: t.is_numeric()),
    **dict.fromkeys(("datetime", "timestamp"), lambda t: isinstance(t, pl.Datetime)),
    "decimal": lambda t: isinstance(t, pl.Decimal),
}


def check_type_name(wanted: str) -> None:
    """Raise ValueError if ``type_matches`` cannot understand ``wanted``."""
    if isinstance(wanted, str) and len(wanted) <= MAX_TYPE_NAME and \
            wanted.strip().lower() in _FAMILIES:
        return
    parse_type(wanted)


def type_matches(actual: pl.DataType, wanted: str) -> bool:
    """Whether a column's type satisfies a declared type name (``int`` matches any integer)."""
    family = _FAMILIES.get(wanted.strip().lower())
    if family is not None:
        return family(actual)
    return actual == parse_type(wanted)
