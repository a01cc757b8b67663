"""Typed values hiding in text columns: ISO dates, times, date-times (naive or with ``Z`` or a
UTC offset, fractional seconds on some values only), dates written month or day first when the
values say which, and booleans spelled ``t``/``f``, ``yes``/``no`` or ``y``/``n``, as DuckDB's
sniffer reads them.

Polars' own CSV inference knows none of these (and its date inference costs more than the whole
read); one regular expression per candidate over the sampled values, then one known format at
scan time, costs next to nothing. CSV and NDJSON (string values) share it.
"""

from __future__ import annotations

import re

import polars as pl

# [0-9], not \d: Polars compiles a pattern once per thread, and \d (every Unicode digit) made the
# one below (_ANY) cost 2.5 ms to compile against 0.4 ms, paid by every job that runs on a thread
# or process of its own; strptime takes ASCII digits only anyway
_D = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_T = r"[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
_Z = r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)"

# (kind, strptime format, pattern); the first whose pattern every value matches wins
_CANDIDATES: list[tuple[str, str, str]] = [
    ("date", "%Y-%m-%d", rf"^{_D}$"),
    ("time", "%H:%M:%S%.f", rf"^{_T}$"),
    ("datetime", "%Y-%m-%dT%H:%M:%S%.f", rf"^{_D}T{_T}$"),
    ("datetime", "%Y-%m-%d %H:%M:%S%.f", rf"^{_D} {_T}$"),
    ("datetime", "%Y-%m-%dT%H:%M", rf"^{_D}T[0-9]{{2}}:[0-9]{{2}}$"),
    ("datetime", "%Y-%m-%d %H:%M", rf"^{_D} [0-9]{{2}}:[0-9]{{2}}$"),
    ("datetime_tz", "%Y-%m-%dT%H:%M:%S%.f%#z", rf"^{_D}T{_T}{_Z}$"),
    ("datetime_tz", "%Y-%m-%d %H:%M:%S%.f%#z", rf"^{_D} {_T}{_Z}$"),
]
TRUE = ("true", "t", "yes", "y")
FALSE = ("false", "f", "no", "n")
_BOOL = rf"(?i)^(?:{'|'.join(TRUE + FALSE)})$"
_NS = re.compile(r"\.[0-9]{7,9}")  # more than microseconds: keep nanoseconds
_FRACTION_DIGITS = r":[0-9]{2}\.([0-9]+)"  # the digits after the seconds
_FIXED_FRACTIONS = {3: ".%3f", 6: ".%6f", 9: ".%9f"}  # the fixed widths strptime knows
_UTC_SUFFIXES = ("Z", "+00:00", "+0000", "+00")  # UTC as a literal (PostgreSQL writes +00)
_DAY_MONTH = {sep: rf"^[0-9]{{1,2}}{re.escape(sep)}[0-9]{{1,2}}{re.escape(sep)}[0-9]{{4}}$"
              for sep in "/.-"}
# a value no candidate can take fails this one pattern: most text columns (names, codes, free
# text) are ruled out by one regular expression instead of one per candidate
_ANY = "|".join([f"(?:{p})" for _k, _f, p in _CANDIDATES]
                + [f"(?:{p})" for p in _DAY_MONTH.values()]
                + [rf"(?i:^(?:{'|'.join(TRUE + FALSE)})$)"])


def text_kind(values: pl.Series) -> tuple[str, str] | None:
    """``(kind, format)`` that every non-null value of a text column is written in, or None.
    ``kind`` is ``date``, ``time``, ``datetime``, ``datetime_tz``, or ``bool`` (format ``""``);
    a date-time with more than six fractional digits gets ``@ns`` added to its kind."""
    values = values.drop_nulls()
    if values.len() == 0 or not values.str.contains(_ANY).all():
        return None
    for kind, fmt, pattern in _CANDIDATES:
        if values.str.contains(pattern).all():
            if kind.startswith("datetime") and values.str.contains(_NS.pattern).any():
                kind += "@ns"
            if not _all_parse(values, kind, fmt):
                return None
            fast = _fast_format(values, kind, fmt)
            # the fast format must take every sampled value too (else the pass would fail on
            # one of them): a difference between Polars' two paths keeps the general one
            return kind, (fast if fast == fmt or _all_parse(values, kind, fast) else fmt)
    found = _day_month(values)
    if found is not None:
        return found if _all_parse(values, *found) else None
    if values.str.contains(_BOOL).all():
        lower = set(values.str.to_lowercase().unique().to_list())
        if not lower <= {"true", "false"}:  # Polars reads these itself
            return "bool", ""
    return None


def _fast_format(values: pl.Series, kind: str, fmt: str) -> str:
    """A faster format than ``fmt`` for the date-times sampled: no fraction, or a fixed one
    (``.%3f``, ``.%6f``, ``.%9f``: a dot and exactly that many digits) instead of ``%.f``, and a
    literal UTC (``Z``, ``+00:00``, ``+0000`` or ``+00``) instead of ``%#z`` when every value
    ends in the same one, whenever every sampled value is written so. Polars parses such a fixed
    format on a fast path that ``%.f`` and ``%#z`` leave (3 M values: 0.08 s against 0.54 s
    naive, 0.07 s against 0.65 s with ``Z``; 1 M values with six digits 0.03 s against 0.19 s,
    with ``+00`` 0.02 s against 0.21 s; a time of day costs the same either way). A later value
    written otherwise fails the strict parse, and the reader reads again with
    ``general_format``."""
    base = kind.partition("@")[0]
    if base == "datetime" and fmt.endswith("%S%.f"):
        head, tail = fmt.removesuffix("%.f"), ""
    elif base == "datetime_tz" and fmt.endswith("%S%.f%#z"):
        tail = next((z for z in _UTC_SUFFIXES if values.str.ends_with(z).all()), "")
        if not tail:
            return fmt
        head = fmt.removesuffix("%.f%#z")
    else:
        return fmt
    widths = values.str.extract(_FRACTION_DIGITS, 1).str.len_bytes()
    if widths.null_count() == widths.len():  # whole seconds
        return head + tail
    width = widths.max()
    if widths.null_count() == 0 and widths.min() == width and width in _FIXED_FRACTIONS:
        return head + _FIXED_FRACTIONS[width] + tail  # type: ignore[index]
    return fmt


def general_format(kind: str, fmt: str) -> str | None:
    """The general format (any fraction or none, and any UTC offset when zoned) for a fast one
    ``text_kind`` chose; None for any other."""
    base = kind.partition("@")[0]
    utc = next((z for z in _UTC_SUFFIXES if fmt.endswith(z)), None)  # a literal UTC, not %#z
    if base == "datetime":
        general = "%.f"
    elif base == "datetime_tz" and utc is not None:
        fmt, general = fmt.removesuffix(utc), "%.f%#z"
    else:
        return None
    for fixed in _FIXED_FRACTIONS.values():
        if fmt.endswith("%S" + fixed):
            return fmt.removesuffix(fixed) + general
    return fmt + general if fmt.endswith("%S") else None


def general_formats(kinds: dict[str, tuple[str, str]], failed: str, what: str
                    ) -> tuple[dict[str, tuple[str, str]], str] | None:
    """After ``failed`` met a value its fast format does not take: ``kinds`` with every fast
    date-time format made general (``general_format``), and the note that says so. None when
    ``failed``'s format is general already (the value is of another kind)."""
    if general_format(*kinds[failed]) is None:
        return None
    wider = {c: (k, general_format(k, f) or f) for c, (k, f) in kinds.items()}
    also = [c for c in kinds if c != failed and wider[c] != kinds[c]]
    return wider, (f"{what} {failed!r}: a value further into the file has fractional seconds "
                   f"or a UTC offset written otherwise; read again with any"
                   + (f" (as well as {also})" if also else ""))


def _all_parse(values: pl.Series, kind: str, fmt: str) -> bool:
    """Whether every sampled value is a real date/time in ``fmt`` (``2026-02-30`` matches the
    pattern but is none: the column stays text instead of failing a pass)."""
    parsed = values.str.strptime(kind_dtype(kind), fmt, strict=False)  # type: ignore[arg-type]
    return parsed.null_count() == 0


def _day_month(values: pl.Series) -> tuple[str, str] | None:
    """Dates written day and month first (``12/31/2025``, ``31.12.2025``), as DuckDB's sniffer
    reads them, when the values themselves say which comes first (a number above 12). A column
    where both orders fit stays text: a guess would change values."""
    for sep, pattern in _DAY_MONTH.items():
        if not values.str.contains(pattern).all():
            continue
        parts = values.str.split(sep)
        first = parts.list.get(0).cast(pl.Int32).max()
        second = parts.list.get(1).cast(pl.Int32).max()
        if first > 12 >= second:  # type: ignore[operator]
            return "date", f"%d{sep}%m{sep}%Y"
        if second > 12 >= first:  # type: ignore[operator]
            return "date", f"%m{sep}%d{sep}%Y"
        return None
    return None


def kind_dtype(kind: str) -> pl.DataType:
    base, _, unit = kind.partition("@")
    if base == "date":
        return pl.Date()
    if base == "time":
        return pl.Time()
    if base == "bool":
        return pl.Boolean()
    return pl.Datetime(unit or "us", "UTC" if base == "datetime_tz" else None)  # type: ignore[arg-type]


def parse_expr(column: str, kind: str, fmt: str) -> pl.Expr:
    """The strict expression turning a text column into its kind. A value that does not fit
    fails the pass with Polars' ``conversion from `str` to ... in column '<column>'``, which
    ``is_misfit_error`` recognises."""
    col = pl.col(column)
    dtype = kind_dtype(kind)
    if dtype == pl.Boolean:
        # regex replaces, not ``replace``: a failed cast after it names a temporary column
        return (col.str.replace(rf"(?i)^(?:{'|'.join(TRUE)})$", "1")
                .str.replace(rf"(?i)^(?:{'|'.join(FALSE)})$", "0")
                .cast(pl.UInt8, strict=True).cast(pl.Boolean))
    if dtype == pl.Date:
        return col.str.strptime(pl.Date, fmt, strict=True)
    if dtype == pl.Time:
        return col.str.strptime(pl.Time, fmt, strict=True)
    return col.str.strptime(dtype, fmt, strict=True)  # type: ignore[arg-type]


def fits_expr(column: str, kind: str, fmt: str) -> pl.Expr:
    """True where the text value is null or parses as ``kind`` in ``fmt`` (never fails)."""
    col = pl.col(column)
    dtype = kind_dtype(kind)
    if dtype == pl.Boolean:
        return col.is_null() | col.str.contains(_BOOL)
    parsed = col.str.strptime(dtype, fmt, strict=False)  # type: ignore[arg-type]
    return col.is_null() | parsed.is_not_null()


def misfit_column(exc: BaseException, columns: list[str]) -> str | None:
    """The column of ``columns`` a failed strict parse names, or None."""
    text = str(exc)
    if "conversion from `str` to `" not in text:
        return None
    for c in columns:
        if f"in column '{c}'" in text:
            return c
    return None


def describe(kinds: dict[str, tuple[str, str]]) -> str:
    return ", ".join(f"{c!r} as {k.partition('@')[0].replace('_tz', ' (UTC)')}"
                     for c, (k, _f) in kinds.items())
