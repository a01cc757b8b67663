"""Every type the project can produce, as one-column frames with nulls, for the fidelity suite.

``polars_cases()`` are frames Polars can hold and a Parquet file (our datasets' format) can
carry; ``duckdb_cases()`` are the types only a SQL step produces (UUID, JSON, VARIANT, HUGEINT,
MAP, …), given as the SQL that makes them.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

HUGE_TEXT = "x" * 1_000_000  # a 1 MB field
NON_BMP = "\U0001F600 \U00010348 mañana 東京"


def _dt(unit: str, tz: str | None) -> pl.Series:
    values = [dt.datetime(2026, 3, 29, 0, 30, 0, 123456), None, dt.datetime(1969, 12, 31, 23, 59, 59),
              dt.datetime(2026, 10, 25, 1, 30)]
    s = pl.Series(values, dtype=pl.Datetime(unit))
    return s.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null") if tz else s


def polars_cases() -> dict[str, pl.Series]:
    """name -> a Series of that type with a null (and edge values)."""
    c: dict[str, pl.Series] = {
        "boolean": pl.Series([True, None, False, True]),
        "null": pl.Series([None, None, None, None], dtype=pl.Null),
        "float32": pl.Series([1.5, None, float("nan"), float("inf")], dtype=pl.Float32),
        "float64": pl.Series([-0.0, None, float("nan"), float("-inf")], dtype=pl.Float64),
        "string": pl.Series(["", None, NON_BMP, HUGE_TEXT]),
        "binary": pl.Series([b"", None, b"a-bin", bytes(range(256))], dtype=pl.Binary),
        "date": pl.Series([dt.date(2026, 3, 1), None, dt.date(1, 1, 1), dt.date(9999, 12, 31)]),
        "time": pl.Series([dt.time(0, 0), None, dt.time(23, 59, 59, 999999), dt.time(12, 0, 1)]),
        "categorical": pl.Series(["a", None, "b", "a"], dtype=pl.Categorical()),
        "enum": pl.Series(["lo", None, "hi", "lo"], dtype=pl.Enum(["lo", "mid", "hi"])),
        "list_int": pl.Series([[1, 2], None, [], [None, 3]], dtype=pl.List(pl.Int64)),
        "list_str": pl.Series([["a"], None, [], [None, "ü"]], dtype=pl.List(pl.String)),
        "array": pl.Series([[1, 2, 3], None, [4, None, 6], [7, 8, 9]], dtype=pl.Array(pl.Int32, 3)),
        "struct_nested": pl.Series([{"a": 1, "b": {"c": "x", "d": [1.5]}}, None,
                                    {"a": None, "b": None}, {"a": 2, "b": {"c": None, "d": []}}]),
        "list_of_struct": pl.Series([[{"k": "a", "v": 1}], None, [], [{"k": None, "v": None}]]),
    }
    for bits in (8, 16, 32, 64, 128):
        for signed in (True, False):
            dtype = getattr(pl, f"{'' if signed else 'U'}Int{bits}")
            lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
            c[f"{'' if signed else 'u'}int{bits}"] = pl.Series([lo, None, 0, hi], dtype=dtype)
    for p, s in ((1, 0), (9, 2), (18, 4), (19, 0), (38, 10), (38, 0)):
        big = "9" * (p - s) + ("." + "9" * s if s else "")
        c[f"decimal_{p}_{s}"] = pl.Series([big, None, "-" + big, "0"]).cast(pl.Decimal(p, s))
    for unit in ("ms", "us", "ns"):
        c[f"datetime_{unit}"] = _dt(unit, None)
        c[f"duration_{unit}"] = pl.Series([dt.timedelta(days=-1, microseconds=1), None,
                                           dt.timedelta(0), dt.timedelta(days=36500)],
                                          dtype=pl.Duration(unit))
    for tz in ("UTC", "Europe/Paris", "America/St_Johns"):
        for unit in ("ms", "us", "ns"):
            c[f"datetime_{unit}_{tz}"] = _dt(unit, tz)
    return c


def polars_frame() -> pl.DataFrame:
    return pl.DataFrame([s.alias(name) for name, s in polars_cases().items()])


# SQL over one row of ``input`` (ignored) giving each DuckDB-only type with a null row.
DUCKDB_CASES: dict[str, str] = {
    "uuid": "'0d5e3c1e-7f6a-4e2b-9a0c-3b1f2e4d5c6a'::UUID",
    "json": """'{"a": [1, 2.5, null], "b": {"c": "ü"}}'::JSON""",
    "variant": "{'a': [1, 2]}::VARIANT",
    "hugeint": "(-170141183460469231731687303715884105727)::HUGEINT",
    "uhugeint": "340282366920938463463374607431768211455::UHUGEINT",
    "map": "MAP {'k1': 1, 'k2': NULL}",
    "bit": "'0101'::BIT",
    "timetz": "'10:00:00+02'::TIMETZ",
    "union": "union_value(num := 2)::UNION(num INTEGER, str VARCHAR)",
    "decimal_38_38": "'0.12345678901234567890123456789012345678'::DECIMAL(38,38)",
    "timestamp_s": "'2026-03-01 10:00:00'::TIMESTAMP_S",
    "timestamptz": "'2026-03-01 10:00:00+02'::TIMESTAMPTZ",
}


def duckdb_sql(name: str) -> str:
    """Two rows: the value, then a null of the same type."""
    expr = DUCKDB_CASES[name]
    return (f"SELECT * FROM (SELECT {expr} AS v, 1 AS k UNION ALL SELECT NULL, 2) ORDER BY k")
