"""Values a PostgreSQL table sink must keep exactly: the binary COPY encoder (``sinks/pg_copy``)
against the server's own reading of them, checked with psycopg (not through workbench)."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid

import polars as pl
import pytest

import workbench as wb
from db_helpers import pg_exec, pg_rows, run

pytestmark = pytest.mark.services

D = decimal.Decimal
UTC = dt.timezone.utc
LONG = "".join(chr(0x20 + i % 90) for i in range(3_000_000)) + "\t\n\\\"'end"
TEXTS = ["tab\there", "line\nbreak\r\nand cr\r", 'double "quotes"', "single 'quotes'",
         "back\\slash \\N \\t", "\\.", "", ",;|", "é 漢字 😀", LONG, None, "a\\"]


def _file(tmp_path, df: pl.DataFrame) -> str:
    path = tmp_path / f"{uuid.uuid4().hex}.parquet"
    df.write_parquet(path)
    return str(path)


def _load(tmp_path, df: pl.DataFrame, table: str, url: str, mode: str = "create", **kw):
    return run(wb.Pipeline(source=wb.file(_file(tmp_path, df)),
                           sink=wb.table(table, db=url, mode=mode, **kw)))


def _same(got, want) -> bool:
    if isinstance(want, float) and math.isnan(want):
        return isinstance(got, float) and math.isnan(got)
    if isinstance(want, float) and want == 0.0:
        return got == 0.0 and math.copysign(1, got) == math.copysign(1, want)
    return got == want and type(got) is type(want)


def _column(url: str, table: str, col: str) -> list:
    return [r[0] for r in pg_rows(url, f'SELECT "{col}" FROM {table} ORDER BY rid')]


def test_text_floats_and_nulls_arrive_as_they_were(tmp_path, postgres_url) -> None:
    n = len(TEXTS)
    floats = [0.1, math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308, None,
              1e-300, 123456.789, 2.0 ** 53 + 1, -1.5]
    df = pl.DataFrame({
        "rid": list(range(n)), "txt": TEXTS, "f64": floats[:n],
        "f32": pl.Series([1.5, math.nan, math.inf, None] * 3, dtype=pl.Float32),
        "flag": [True, False, None] * 4, "raw": [b"\x00\xff\\\n", b"", None] * 4,
        "i16": pl.Series([-32768, 32767, None, 0] * 3, dtype=pl.Int16),
        "u32": pl.Series([0, 2**32 - 1, None, 7] * 3, dtype=pl.UInt32),
        "empty": pl.Series([None] * n, dtype=pl.String),
    })
    # batches of 5 rows: several COPYs, and Arrow slices that do not start at offset 0
    job = _load(tmp_path, df, "vals", postgres_url, batch_rows=5)
    assert job.status == "succeeded", job.error
    for col in ("txt", "f64", "flag", "raw", "i16", "u32", "empty"):
        got = _column(postgres_url, "vals", col)
        want = df[col].to_list()
        if col == "raw":
            got = [bytes(v) if v is not None else None for v in got]
        bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if not (
            g is None and w is None or w is not None and _same(g, w))]
        assert not bad and len(got) == n, (col, [(i, str(g)[:40], str(w)[:40]) for i, g, w in bad])
    f32 = pg_rows(postgres_url, "SELECT f32::text FROM vals ORDER BY rid")
    assert [r[0] for r in f32] == ["1.5", "NaN", "Infinity", None] * 3
    assert pg_rows(postgres_url, "SELECT length(txt), right(txt, 8) FROM vals WHERE rid = 9") == \
        [(len(LONG), "\t\n\\\"'end")]


def test_decimals_times_and_zones_keep_every_digit_and_instant(tmp_path, postgres_url) -> None:
    decimal.getcontext().prec = 60
    d38 = [D("-99999999999999999999999999.999999999999"), D("0.000000000001"), D(0),
           D("12345678901234567890123456.123456789012"), None, D("-0.5")]
    paris = [dt.datetime(2026, 3, 29, 1, 59, 59, 999999), dt.datetime(2026, 3, 29, 3, 0),
             dt.datetime(1969, 12, 31, 23, 59, 59), dt.datetime(1999, 12, 31, 23, 59, 59, 1),
             None, dt.datetime(1, 1, 1, 12)]
    df = pl.DataFrame({
        "rid": list(range(6)),
        "d38": pl.Series(d38, dtype=pl.Decimal(38, 12)),
        "d5": pl.Series([D("-99999"), D("1"), None, D("0"), D("10000"), D("-1")],
                        dtype=pl.Decimal(5, 0)),
        "d38_38": pl.Series([D("0." + "9" * 38), D("-0." + "0" * 37 + "1"), None, D(0),
                             D("0.5"), D("-0." + "12345678901234567890123456789012345678")],
                            dtype=pl.Decimal(38, 38)),
        "u64": pl.Series([2**64 - 1, 0, None, 2**63, 1, 10**19], dtype=pl.UInt64),
        "tstz": pl.Series(paris).dt.replace_time_zone("Europe/Paris", ambiguous="earliest"),
        "kolkata": pl.Series(paris[:5] + [dt.datetime(9999, 12, 31, 23, 59, 59, 999999)]
                             ).dt.replace_time_zone("Asia/Kolkata"),
        "ns": pl.Series([dt.datetime(2026, 1, 2, 3, 4, 5, 678901)] * 6).cast(pl.Datetime("ns")),
        "day": [dt.date(1, 1, 1), dt.date(1969, 12, 31), dt.date(1999, 12, 31), dt.date(2000, 1, 1),
                None, dt.date(9999, 12, 31)],
        "clock": [dt.time(0), dt.time(23, 59, 59, 999999), None, dt.time(12), dt.time(1, 2, 3),
                  dt.time(0, 0, 0, 1)],
        "dur": [dt.timedelta(days=-3, microseconds=1), dt.timedelta(0), None,
                dt.timedelta(days=40000), dt.timedelta(microseconds=-1), dt.timedelta(hours=25)],
    })
    job = _load(tmp_path, df, "exact", postgres_url, batch_rows=4)
    assert job.status == "succeeded", job.error
    text = {c: [r[0] for r in pg_rows(postgres_url, f"SELECT {c}::text FROM exact ORDER BY rid")]
            for c in ("d38", "d5", "d38_38", "u64")}
    for c in text:
        want = [None if v is None else str(v) for v in df[c].to_list()]
        assert [None if v is None else str(D(v)) for v in text[c]] == \
            [None if v is None else str(D(v)) for v in want], c
    assert _column(postgres_url, "exact", "d38")[0] == d38[0]
    for c in ("tstz", "kolkata"):
        want = [None if v is None else v.astimezone(UTC) for v in df[c].to_list()]
        got = [None if v is None else v.astimezone(UTC) for v in _column(postgres_url, "exact", c)]
        assert got == want, c
    # finer than microseconds: truncated to PostgreSQL's precision (docs/types.md)
    assert set(_column(postgres_url, "exact", "ns")) == {dt.datetime(2026, 1, 2, 3, 4, 5, 678901)}
    for c in ("day", "clock", "dur"):
        assert _column(postgres_url, "exact", c) == df[c].to_list(), c
    types = dict(pg_rows(postgres_url, "SELECT column_name, format_type(atttypid, atttypmod) FROM "
                                       "information_schema.columns c JOIN pg_attribute a ON "
                                       "a.attrelid = 'exact'::regclass AND a.attname = c.column_name"
                                       " WHERE table_name = 'exact'"))
    assert types["d38"] == "numeric(38,12)" and types["d38_38"] == "numeric(38,38)"
    assert types["kolkata"] == "timestamp with time zone" and types["u64"] == "numeric(20,0)"


def test_into_existing_typed_columns_and_upsert(tmp_path, postgres_url) -> None:
    pg_exec(postgres_url, "CREATE TABLE acc (id int PRIMARY KEY, code varchar(4), "
                          "amount numeric(12,2), note text DEFAULT 'none', seen timestamptz)")
    pg_exec(postgres_url, "INSERT INTO acc (id, code, amount) VALUES (1, 'old', 1.00)")
    df = pl.DataFrame({"id": [1, 2, 3], "code": ["ab\tc", None, "d\\e"],
                       "amount": [2.5, -1234567890.12, None],
                       "seen": pl.Series([dt.datetime(2026, 5, 1, 12)] * 3
                                         ).dt.replace_time_zone("America/New_York")})
    job = _load(tmp_path, df, "acc", postgres_url, mode="upsert", keys=["id"])
    assert job.status == "succeeded", job.error
    assert job.result["rows_inserted"] == 2 and job.result["rows_updated"] == 1
    assert pg_rows(postgres_url, "SELECT id, code, amount::text, note, seen FROM acc ORDER BY id") \
        == [(1, "ab\tc", "2.50", "none", dt.datetime(2026, 5, 1, 16, tzinfo=UTC)),
            (2, None, "-1234567890.12", "none", dt.datetime(2026, 5, 1, 16, tzinfo=UTC)),
            (3, "d\\e", None, "none", dt.datetime(2026, 5, 1, 16, tzinfo=UTC))]


def test_a_timestamp_before_postgres_range_fails_naming_the_column(tmp_path, postgres_url) -> None:
    pg_exec(postgres_url, "CREATE TABLE old (id int, at timestamp)", "INSERT INTO old VALUES (0, NULL)")
    df = pl.DataFrame({"id": [1, 2],
                       "at": pl.Series([dt.datetime(2026, 1, 1), None]).cast(pl.Datetime("us"))})
    # about 5950 BC: PostgreSQL starts at 4713 BC
    df = df.with_columns(pl.when(pl.col("id") == 2).then(pl.lit(-250_000_000_000_000_000))
                         .otherwise(pl.col("at").cast(pl.Int64)).cast(pl.Datetime("us")).alias("at"))
    job = _load(tmp_path, df, "old", postgres_url, mode="append")
    assert job.status == "failed" and type(job.error).__name__ == "InputError", job.error
    assert job.error.column == "at" and "out of range" in job.error.message
    assert pg_rows(postgres_url, "SELECT id FROM old") == [(0,)]


def test_a_refused_value_in_a_later_batch_of_one_copy_is_shown(tmp_path, postgres_url) -> None:
    # batches of 1000 rows share one COPY: the server's line number spans them
    pg_exec(postgres_url, "CREATE TABLE codes (id int, code varchar(3))")
    codes = ["ab"] * 2500
    codes[1700] = "toolong"
    df = pl.DataFrame({"id": list(range(2500)), "code": codes})
    job = _load(tmp_path, df, "codes", postgres_url, mode="append", batch_rows=1000)
    assert job.status == "failed" and type(job.error).__name__ == "InputError", job.error
    assert job.error.column == "code" and "'toolong'" in job.error.message, job.error.message
    assert pg_rows(postgres_url, "SELECT count(*) FROM codes") == [(0,)]
