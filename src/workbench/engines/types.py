"""Type names used in specs (``"int64"``, ``"decimal(10,2)"``) mapped to Polars types."""

from __future__ import annotations

import re

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


def parse_type(name: str) -> pl.DataType:
    """``"int64"`` → ``pl.Int64``; raises ValueError listing the allowed names."""
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
        return pl.Datetime(m.group(1), m.group(2))
    raise ValueError(f"unknown type {name!r}; use one of {', '.join(sorted(SIMPLE))}, "
                     "decimal(p,s) or datetime[us, Europe/Paris]")


def type_matches(actual: pl.DataType, wanted: str) -> bool:
    """Whether a column's type satisfies a declared type name (``int`` matches any integer)."""
    key = wanted.strip().lower()
    if key in ("int", "integer"):
        return actual.is_integer()
    if key in ("float", "number", "numeric"):
        return actual.is_numeric()
    if key in ("datetime", "timestamp"):
        return isinstance(actual, pl.Datetime)
    if key == "decimal":
        return isinstance(actual, pl.Decimal)
    return actual == parse_type(wanted)


class _Unparsed(ValueError):
    pass


_MAX_TYPE_TEXT = 10_000  # a schema's type text longer than this is not a type we wrote
_MAX_DEPTH = 32
_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_]\w*)|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
                    r"|(?P<int>-?\d+)|(?P<punct>[(){}\[\],:=]))")


class _TypeText:
    """A recursive-descent reader of ``str(dtype)``: names, quoted strings and integers only;
    nothing in the text is ever evaluated or imported."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                if text[pos:].strip():
                    raise _Unparsed(text)
                break
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "")

    def take(self, kind: str, value: str | None = None) -> str:
        k, v = self.peek()
        if k != kind or (value is not None and v != value):
            raise _Unparsed(f"expected {value or kind}, found {v!r}")
        self.i += 1
        return v

    def accept(self, value: str) -> bool:
        if self.peek() == ("punct", value):
            self.i += 1
            return True
        return False

    def literal(self) -> object:
        kind, v = self.peek()
        if kind == "str":
            self.i += 1
            return re.sub(r"\\(.)", r"\1", v[1:-1])
        if kind == "int":
            self.i += 1
            return int(v)
        if kind == "name" and v == "None":
            self.i += 1
            return None
        if self.accept("(") or self.accept("["):
            close = ")" if self.tokens[self.i - 1][1] == "(" else "]"
            items = []
            while not self.accept(close):
                items.append(self.literal())
                if not self.accept(","):
                    self.take("punct", close)
                    break
            return items
        raise _Unparsed(f"unexpected {v!r}")

    def dtype(self, depth: int = 0) -> pl.DataType:
        if depth > _MAX_DEPTH:
            raise _Unparsed("nested too deep")
        name = self.take("name")
        if name == "List":
            self.take("punct", "(")
            inner = self.dtype(depth + 1)
            self.take("punct", ")")
            return pl.List(inner)
        if name == "Array":
            self.take("punct", "(")
            inner = self.dtype(depth + 1)
            self.take("punct", ",")
            self.take("name", "shape")
            self.take("punct", "=")
            shape = self.literal()
            shape = shape if isinstance(shape, list) else [shape]
            self.take("punct", ")")
            if not shape or not all(isinstance(n, int) and n >= 0 for n in shape):
                raise _Unparsed("bad shape")
            return pl.Array(inner, tuple(shape))  # type: ignore[arg-type]
        if name == "Struct":
            self.take("punct", "(")
            self.take("punct", "{")
            fields: dict[str, pl.DataType] = {}
            while not self.accept("}"):
                key = self.literal()
                if not isinstance(key, str):
                    raise _Unparsed("a field name is a string")
                self.take("punct", ":")
                fields[key] = self.dtype(depth + 1)
                if not self.accept(","):
                    self.take("punct", "}")
                    break
            self.take("punct", ")")
            return pl.Struct(fields)
        kwargs: dict[str, object] = {}
        if self.accept("("):
            while not self.accept(")"):
                key = self.take("name")
                self.take("punct", "=")
                kwargs[key] = self.literal()
                if not self.accept(","):
                    self.take("punct", ")")
                    break
        return _scalar(name, kwargs)


def _scalar(name: str, kwargs: dict[str, object]) -> pl.DataType:
    unit = kwargs.pop("time_unit", "us")
    if name in ("Datetime", "Duration") and unit not in ("ms", "us", "ns"):
        raise _Unparsed(f"time unit {unit!r}")
    if name == "Datetime":
        tz = kwargs.pop("time_zone", None)
        if tz is not None:
            import zoneinfo

            try:
                zoneinfo.ZoneInfo(str(tz))
            except (ValueError, zoneinfo.ZoneInfoNotFoundError):
                raise _Unparsed(f"time zone {tz!r}") from None
        dtype: pl.DataType = pl.Datetime(unit, tz)  # type: ignore[arg-type]
    elif name == "Duration":
        dtype = pl.Duration(unit)  # type: ignore[arg-type]
    elif name == "Decimal":
        precision, scale = kwargs.pop("precision", 38), kwargs.pop("scale", 0)
        if not (isinstance(precision, int) and isinstance(scale, int)
                and 1 <= precision <= 38 and 0 <= scale <= precision):
            raise _Unparsed("decimal out of range")
        dtype = pl.Decimal(precision, scale)
    elif name == "Enum":
        cats = kwargs.pop("categories", None)
        if not (isinstance(cats, list) and all(isinstance(c, str) for c in cats)):
            raise _Unparsed("enum categories")
        dtype = pl.Enum(cats)
    elif name == "Categorical":
        kwargs.pop("ordering", None)
        dtype = pl.Categorical()
    else:
        if unit != "us":
            raise _Unparsed(name)
        cls = getattr(pl, name, None)
        # a concrete column type only: not the DataType base or a class of classes
        if not (isinstance(cls, type) and issubclass(cls, pl.DataType) and cls is not pl.DataType
                and name in _SCALAR_NAMES):
            raise _Unparsed(name)
        dtype = cls()
    if kwargs:
        raise _Unparsed(f"unexpected {', '.join(kwargs)}")
    return dtype


_SCALAR_NAMES = {"Int8", "Int16", "Int32", "Int64", "Int128", "UInt8", "UInt16", "UInt32",
                 "UInt64", "UInt128", "Float16", "Float32", "Float64", "Boolean", "String", "Binary",
                 "Date", "Time", "Null", "Object", "Unknown"}


def dtype_from_str(text: str) -> pl.DataType:
    """The Polars type a schema recorded as ``str(dtype)`` (``"Int64"``,
    ``"Datetime(time_unit='us', time_zone='UTC')"``, ``"Decimal(precision=10, scale=2)"``,
    ``"List(Struct({'a': Int64}))"``, ``"Array(Int8, shape=(3,))"``, ``"Enum(categories=['a'])"``).

    Parsed, never evaluated: the text may have crossed the broker. A form that is not a valid
    type (unknown names, a bad time zone or precision, text after the type) reads as String.
    """
    if not isinstance(text, str) or len(text) > _MAX_TYPE_TEXT:
        return pl.String
    try:
        reader = _TypeText(text)
        dtype = reader.dtype()
        if reader.peek()[0] != "end":
            raise _Unparsed("text after the type")
        return dtype
    except (_Unparsed, TypeError, ValueError, OverflowError):
        return pl.String
