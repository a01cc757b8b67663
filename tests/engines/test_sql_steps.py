"""SQL steps that read `input` more than once, INTERVAL results, and the streaming/spilling choice.

Each query of issue 18 runs through ``wb.submit`` (LocalRunner) and ``wb.preview`` and must give
the rows bare DuckDB gives over the same file.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest

import workbench as wb
from workbench.engines.sql import count_scans, run_sql
from workbench.engines.sql_guard import check_query
from workbench.engines.sql_sandbox import sandboxed_connection
from workbench.errors import SQLError

N = 3000

ISSUE_QUERIES = [
    "SELECT * FROM input WHERE amount > (SELECT avg(amount) FROM input)",
    "WITH t AS (SELECT region, avg(amount) AS a FROM input GROUP BY 1) SELECT i.* FROM input i "
    "JOIN t USING (region) WHERE i.amount > t.a",
    "SELECT a.id, b.id AS next_id FROM input a JOIN input b ON b.id = a.id + 1",
    "SELECT id FROM input UNION ALL SELECT id + 100000 FROM input",
    "SELECT * FROM input o WHERE EXISTS (SELECT 1 FROM input i WHERE i.region = o.region "
    "AND i.amount > o.amount + 90)",
    "PIVOT (SELECT region, id % 3 AS k, amount FROM input) ON region USING sum(amount) GROUP BY k",
    "SELECT region, max(ts) - min(ts) AS span FROM input GROUP BY region",
]


@pytest.fixture(scope="module")
def orders_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("orders")
    df = pl.DataFrame({
        "id": list(range(N)),
        "region": [["n", "s", "e", "w"][(i * 7) % 4] if i % 50 else None for i in range(N)],
        "amount": [round((i * 37) % 1000 / 10, 1) for i in range(N)],
        "ts": [dt.datetime(2024, 1, 1) + dt.timedelta(minutes=17 * i, microseconds=i) for i in range(N)],
    })
    path = folder / "orders.parquet"
    df.write_parquet(path)
    return path


def _bare(query: str, path) -> pl.DataFrame:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW input AS FROM read_parquet('{path}')")
    table = con.sql(query).to_arrow_table()
    return table


def _rows(df: pl.DataFrame) -> list[tuple]:
    """Rows in a canonical order; floats rounded (sums differ in the last bits by summing order)."""
    def norm(v):
        return round(v, 6) if isinstance(v, float) else v
    return sorted((tuple(norm(v) for v in r) for r in df.rows()), key=repr)


@pytest.mark.parametrize("query", ISSUE_QUERIES, ids=[f"q{i}" for i in range(len(ISSUE_QUERIES))])
def test_issue_queries_run_in_submit_and_preview(wb_home, orders_file, query):
    p = wb.Pipeline(source=wb.file(str(orders_file)), steps=[wb.sql(query)])
    job = wb.submit(p, runner="local").wait(120)
    assert job.status == "succeeded", job.error
    got = job.result
    expected = _bare(query.replace("max(ts) - min(ts)", "date_diff('microsecond', min(ts), max(ts))"),
                     orders_file)
    expected = pl.from_arrow(expected)
    if "span" in got.columns:
        assert got.schema["span"] == pl.Duration("us")
        got = got.with_columns(pl.col("span").dt.total_microseconds())
    assert _rows(got) == _rows(expected)
    preview = wb.preview(p, rows=7)
    assert preview.columns == got.columns
    assert preview.height == min(7, got.height)
    assert not preview.sampled  # the whole input is smaller than the preview's sample


def _scans(query: str) -> dict[str, int]:
    con = sandboxed_connection(temp_dir=None)
    frame = pl.LazyFrame(schema={"id": pl.Int64, "region": pl.String, "amount": pl.Float64})
    checked = check_query(con, query, {"input"})
    return count_scans(con, checked, {"input": frame}, "sql")


@pytest.mark.parametrize("query,scans", [
    ("SELECT * FROM input", 1),
    ("SELECT region, sum(amount) OVER (PARTITION BY region) FROM input", 1),
    ("WITH t AS MATERIALIZED (SELECT * FROM input) SELECT * FROM t a JOIN t b USING (id)", 1),
    # DuckDB 2.0 materialises this CTE anyway over an Arrow scan (a reader reads it once)
    ("WITH t AS NOT MATERIALIZED (SELECT * FROM input) SELECT * FROM t a JOIN t b USING (id)", 1),
    ("SELECT * FROM input a WHERE EXISTS (SELECT 1 FROM input b WHERE b.id = a.id + 1)", 2),
    ("SELECT region, count(*) FROM input GROUP BY ROLLUP (region)", 1),
    ("SELECT * FROM input WHERE amount > (SELECT avg(amount) FROM input)", 2),
    ("SELECT id FROM input UNION ALL SELECT id FROM input", 2),
    ("PIVOT input ON region USING sum(amount)", 2),  # dynamic PIVOT: values first, then rows
])
def test_scan_count_decides_stream_or_spill(query, scans):
    """The count from the dry plan is what a real one-shot reader allows: 1 streams, 2 fails."""
    assert _scans(query)["input"] == scans
    import pyarrow as pa

    table = pa.table({"id": list(range(10)), "region": ["a", "b"] * 5, "amount": [1.0] * 10})
    con = duckdb.connect()
    con.register("input", pa.RecordBatchReader.from_batches(table.schema, table.to_batches()))
    if scans == 1:
        con.sql(query).fetchall()
    else:
        with pytest.raises(duckdb.Error, match="already been consumed"):
            con.sql(query).fetchall()


def test_interval_becomes_exact_duration_with_nulls():
    frame = pl.LazyFrame({"a": [dt.datetime(2024, 1, 1), None, dt.datetime(2024, 1, 3, 5, 6, 7, 8)],
                          "b": [dt.datetime(2024, 1, 2, 0, 0, 0, 1), dt.datetime(2024, 1, 1), None]})
    out = run_sql("SELECT b - a AS d, INTERVAL '3 days 4 hours' AS c FROM input", {"input": frame}).collect()
    assert out.schema["d"] == pl.Duration("us") and out.schema["c"] == pl.Duration("us")
    assert out["d"].to_list() == [dt.timedelta(days=1, microseconds=1), None, None]
    assert out["c"].to_list() == [dt.timedelta(days=3, hours=4)] * 3


def test_interval_with_months_is_refused_with_a_hint():
    frame = pl.LazyFrame({"a": [dt.date(2023, 1, 1)], "b": [dt.date(2023, 3, 1)]})
    with pytest.raises(SQLError) as err:
        run_sql("SELECT age(b, a) AS gap FROM input", {"input": frame}, step="gaps").collect()
    assert err.value.column == "gap" and err.value.step == "gaps"
    assert "months" in err.value.message and "date_diff" in err.value.hint


def test_interval_inside_a_list_and_struct():
    frame = pl.LazyFrame({"a": [dt.datetime(2024, 1, 1)]})
    out = run_sql("SELECT [INTERVAL 1 HOUR, NULL] AS l, {'x': INTERVAL 2 SECOND} AS s FROM input",
                  {"input": frame}).collect()
    assert out["l"].to_list() == [[dt.timedelta(hours=1), None]]
    assert out["s"].to_list() == [{"x": dt.timedelta(seconds=2)}]


def test_self_join_of_a_catalog_dataset(wb_home, orders_file):
    wb.ingest(str(orders_file), name="orders_ds")
    p = wb.Pipeline(source=wb.file(str(orders_file)),
                    steps=[wb.sql("SELECT count(*) AS n FROM orders_ds a JOIN orders_ds b ON b.id = a.id + 1")])
    job = wb.submit(p, runner="local").wait(120)
    assert job.status == "succeeded", job.error
    assert job.result["n"].to_list() == [N - 1]
