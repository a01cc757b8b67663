"""``wb.preview`` agrees with the run: exact first rows for row-wise SQL, a flag when sampled."""

from __future__ import annotations

import polars as pl
import pytest

import workbench as wb
from workbench.engines.sql_preview import is_row_wise

N = 5000


@pytest.fixture
def big(wb_home, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_PREVIEW_SAMPLE", "1000")
    path = tmp_path / "big.parquet"
    pl.DataFrame({"id": range(N), "region": [["n", "s", "e"][i % 3] for i in range(N)],
                  "amount": [(i * 37) % 101 for i in range(N)]}).write_parquet(path)
    return path


def _full(p: wb.Pipeline) -> pl.DataFrame:
    job = wb.submit(p, runner="local").wait(60)
    assert job.status == "succeeded", job.error
    return job.result


@pytest.mark.parametrize("query", [
    "SELECT id, amount * 2 AS d FROM input WHERE amount > 90",  # selective: rows from past the sample
    "SELECT id, upper(region) AS r, CASE WHEN amount > 50 THEN 'hi' END AS c FROM input",
    "SELECT * FROM input WHERE id >= 4990",
    "SELECT id, unnest([1, 2]) AS k FROM input",
])
def test_row_wise_sql_previews_exactly_the_first_rows(big, query):
    p = wb.Pipeline(source=wb.file(str(big)), steps=[wb.sql(query), wb.filter("id >= 0")])
    preview = wb.preview(p, rows=20)
    assert not preview.sampled and preview.sampled_steps == []
    assert preview.rows() == _full(p).head(20).rows()
    assert "sampled" not in repr(preview)


@pytest.mark.parametrize("query", [
    "SELECT region, count(*) AS n FROM input GROUP BY region",
    "SELECT id, sum(amount) OVER () AS total FROM input",
    "SELECT * FROM input ORDER BY amount DESC, id",
    "SELECT * FROM input WHERE amount > (SELECT avg(amount) FROM input)",
    "SELECT DISTINCT region FROM input",
])
def test_queries_over_every_row_are_flagged_as_sampled(big, query):
    p = wb.Pipeline(source=wb.file(str(big)), steps=[wb.sql(query, name="agg")])
    preview = wb.preview(p, rows=10)
    assert preview.sampled and preview.sampled_steps == ["agg"] and preview.sample_rows == 1000
    assert "sampled preview: step agg ran on the first 1,000 rows" in repr(preview)
    assert "sampled preview" in preview._repr_html_()


def test_a_sort_after_row_wise_sql_makes_it_sampled(big):
    p = wb.Pipeline(source=wb.file(str(big)),
                    steps=[wb.sql("SELECT id, amount FROM input", name="pick"), wb.sort("amount", "id")])
    preview = wb.preview(p, rows=5)
    assert preview.sampled_steps == ["pick"]


def test_small_inputs_are_never_flagged(big, monkeypatch):
    monkeypatch.setenv("WORKBENCH_PREVIEW_SAMPLE", str(N + 1))
    p = wb.Pipeline(source=wb.file(str(big)), steps=[wb.sql("SELECT region, count(*) AS n FROM input GROUP BY 1")])
    preview = wb.preview(p, rows=10)
    assert not preview.sampled
    assert sorted(preview.rows()) == sorted(_full(p).rows())


@pytest.mark.parametrize("sql,row_wise", [
    ("SELECT a FROM input", True),
    ("SELECT a FROM input WHERE b IN (1, 2) LIMIT 5", True),
    ("SELECT count(*) FROM input", False),
    ("SELECT arg_max(a, b) FROM input", False),
    ("SELECT a FROM input WHERE b IN (SELECT b FROM input)", False),
    ("SELECT a FROM input JOIN other USING (k)", False),
    ("SELECT a FROM input QUALIFY row_number() OVER (PARTITION BY a) = 1", False),
    ("SELECT a FROM input UNION ALL SELECT a FROM input", False),
    ("WITH t AS (SELECT a FROM input) SELECT * FROM t", False),
    ("FROM input", True),  # DuckDB's FROM-first form is a plain SELECT *
])
def test_row_wise_analysis(sql, row_wise):
    assert is_row_wise(sql) is row_wise
