"""Sinkless results: the frame a job returns is the frame it made, on the kernel and on a worker.

Every type goes through a real Celery worker (a redis-server broker) and the LocalRunner, and
``local.result.equals(remote.result)`` holds column by column, with equal dtypes, and both equal
the source frame. Types only DuckDB makes (UUID, JSON, VARIANT, HUGEINT, MAP…) come from a SQL
step, and arrive as docs/types.md says.
"""

from __future__ import annotations

import polars as pl
import pytest

import workbench as wb
from workbench.runners.local import LocalRunner
from typecases import DUCKDB_CASES, duckdb_sql, polars_cases, polars_frame

pytestmark = pytest.mark.services

TIMEOUT = 180


@pytest.fixture(scope="module")
def both(cluster, every_type_parquet):
    """One sinkless job over the every-type file on each runner (results checked per column)."""
    p = wb.Pipeline(source=wb.file(str(every_type_parquet)))
    local = LocalRunner().submit(p).wait(TIMEOUT)
    remote = cluster.runner().submit(p).wait(TIMEOUT)
    assert local.status == "succeeded", local.error
    assert remote.status == "succeeded", remote.error
    return local.result, remote.result


@pytest.mark.parametrize("name", list(polars_cases()))
def test_every_polars_type_round_trips(both, name):
    local, remote = both
    want = polars_frame().select(name)
    assert remote.schema[name] == want.schema[name]
    assert local.select(name).equals(remote.select(name))
    assert remote.select(name).equals(want)


def test_the_whole_frame_is_equal(both):
    local, remote = both
    assert local.equals(remote)
    assert local.schema == remote.schema == polars_frame().schema


# What a SQL step's DuckDB types arrive as (docs/types.md, "SQL step" column).
DUCKDB_ARRIVES: dict[str, pl.DataType] = {
    "uuid": pl.String, "json": pl.String, "variant": pl.String, "hugeint": pl.Int128,
    "uhugeint": pl.UInt128, "map": pl.Map(pl.String, pl.Int32), "bit": pl.String,
    "timetz": pl.String, "union": pl.String, "decimal_38_38": pl.Decimal(38, 38),
    "timestamp_s": pl.Datetime("ms"),
    "timestamptz": pl.Datetime("us", "UTC"),
}


DUCKDB_VALUES: dict[str, object] = {
    "uuid": "0d5e3c1e-7f6a-4e2b-9a0c-3b1f2e4d5c6a", "json": '{"a": [1, 2.5, null], "b": {"c": "ü"}}',
    "variant": '{"a":[1,2]}', "hugeint": -170141183460469231731687303715884105727,
    "uhugeint": 2 ** 128 - 1, "map": {"k1": 1, "k2": None}, "bit": "0101",
    "timetz": "10:00:00+02", "union": "2",
    "decimal_38_38": __import__("decimal").Decimal("0.12345678901234567890123456789012345678"),
    "timestamp_s": __import__("datetime").datetime(2026, 3, 1, 10, 0),
    "timestamptz": __import__("datetime").datetime(2026, 3, 1, 8, 0,
                                                   tzinfo=__import__("zoneinfo").ZoneInfo("UTC")),
}


@pytest.mark.parametrize("name", list(DUCKDB_CASES))
def test_sql_step_types_local_equals_worker(cluster, tmp_path, name):
    src = tmp_path / "one.csv"
    src.write_text("k\n1\n")
    p = wb.Pipeline(source=wb.file(str(src)), steps=[wb.sql(duckdb_sql(name))])
    local = LocalRunner().submit(p).wait(TIMEOUT)
    remote = cluster.runner().submit(p).wait(TIMEOUT)
    assert local.status == "succeeded", local.error
    assert remote.status == "succeeded", remote.error
    a, b = local.result, remote.result
    assert a.equals(b) and a.schema == b.schema
    assert a.height == 2 and a["v"][1] is None
    want = DUCKDB_ARRIVES[name]
    assert b.schema["v"] == want
    assert b["v"][0] == DUCKDB_VALUES[name]
