"""Polars expression steps and check predicates never run subqueries or table functions.

Issue case: ``wb.with_columns(z="a IN (SELECT x FROM read_csv('/etc/passwd'))")`` failed with the
file's first line in the error, locally and on a worker, and so did ``wb.filter`` and
``wb.check_sql``. Every expression is now parsed with sqlglot and allow-listed before Polars sees
it; the refusal names the construct and no byte of the file reaches any output.
"""

from __future__ import annotations

import polars as pl
import pytest

import workbench as wb
from data_probes import PASSWD_MARK, assert_no_leak, forbidden_file
from workbench.context import Context
from workbench.engines.expressions import check_expression, sql_expr
from workbench.errors import SQLError

ATTACK = "a IN (SELECT x FROM read_csv('{path}'))"


@pytest.fixture
def source(wb_home, tmp_path):
    path = tmp_path / "in" / "a.csv"
    path.parent.mkdir()
    path.write_text("a,b\n1,x\n2,y\n")
    return str(path)


def _run(pipeline):
    return wb.submit(pipeline, runner="local").wait(60)


@pytest.mark.parametrize("where", ["with_columns", "filter", "check_sql"])
@pytest.mark.parametrize("target", ["passwd", "own-secret"])
def test_subquery_reading_a_file_is_refused_without_leaking_it(where, target, source, wb_home, tmp_path):
    if target == "passwd":
        path, mark = "/etc/passwd", PASSWD_MARK
    else:
        secret, mark = forbidden_file(tmp_path / "outside")
        path = str(secret)
    expr = ATTACK.format(path=path)
    steps, checks = [], []
    if where == "with_columns":
        steps = [wb.with_columns(z=expr)]
    elif where == "filter":
        steps = [wb.filter(expr)]
    else:
        checks = [wb.check_sql(expr)]
    job = _run(wb.Pipeline(source=wb.file(source), steps=steps, checks=checks, sink=wb.dataset("out")))
    assert job.status == "failed"
    assert type(job.error).__name__ == "SQLError"
    assert "subquery" in job.error.message and "not allowed" in job.error.message
    assert job.error.step == ("check" if where == "check_sql" else "1:" + where)
    assert_no_leak([mark], job=job, ctx=Context.from_settings(), home=wb_home)
    with pytest.raises(wb.NotFound):
        wb.info("out")


@pytest.mark.parametrize("expr, construct", [
    ("(SELECT max(x) FROM read_csv('/etc/passwd')) > a", "subquery"),
    ("EXISTS (SELECT 1 FROM read_csv('/etc/passwd'))", "subquery"),
    ("read_csv('/etc/passwd') IS NULL", "read_csv"),
    ("a IN (SELECT * FROM read_parquet('/etc/passwd'))", "subquery"),
    ("length(read_text('/etc/passwd')) > 0", "read_text"),
    ("getenv('HOME') = 'x'", "getenv"),
    ("current_setting('temp_directory') = 'x'", "current_setting"),
    ("a > 0; DROP TABLE x", "2 statements"),
    ("sum(a) OVER () > 0", "window (OVER)"),
    ("sum(a) > 0", "function sum()"),
    ("my_udf(a) > 0", "my_udf"),
    ("t.a > 0", "qualified column"),
    ("a IN (TABLE secrets)", "IN (subquery)"),
    ("query('SELECT 1') IS NULL", "query"),
])
def test_forbidden_constructs_are_named_and_never_parsed_by_polars(expr, construct):
    with pytest.raises(SQLError) as info:
        check_expression(expr, "1:filter")
    assert construct in info.value.message
    assert info.value.step == "1:filter"
    assert PASSWD_MARK not in str(info.value)


def test_missing_and_existing_files_give_the_same_refusal():
    """The refusal happens before any file is opened, so it cannot tell whether a file exists."""
    msgs = []
    for path in ("/etc/passwd", "/no/such/file.csv"):
        with pytest.raises(SQLError) as info:
            sql_expr(ATTACK.format(path=path))
        msgs.append(str(info.value).replace(path, "<path>"))
    assert msgs[0] == msgs[1]


# The expressions the project's tests, README and notebooks use, and common analyst forms:
# each still evaluates, to what Polars' own SQL gives for it.
ALLOWED = [
    "amount > 100", "amount * qty", "amount / 2", "qty / 2", "CAST(amount * 100 AS INTEGER)",
    "amount IS NULL OR amount >= 0", "amount + 100", "qty > 2",
    "amount > 0 AND region IS NOT NULL", "upper(name)", "coalesce(region, 'n/a') || '-' || lower(name)",
    "CASE WHEN qty > 1 THEN 'many' ELSE 'one' END", "qty BETWEEN 1 AND 3", "qty IN (1, 2)",
    "name LIKE 'A%'", "name ILIKE 'a%'", "round(abs(amount), 1) > 5 OR NOT flag", "qty::int",
    "'it''s'", "amount > 0 -- a comment", "substr(name, 1, 2)", "length(name)", "sqrt(qty)",
    "qty % 2", "nullif(qty, 1)", "greatest(qty, 2)", "EXTRACT(year FROM d)", "date_part('month', d)",
    "strftime(d, '%Y')", "CAST(d AS VARCHAR)", "qty NOT IN (3)", "regexp_like(name, '^A')",
    "\"quoted col\" + 1",
]


@pytest.mark.parametrize("expr", ALLOWED)
def test_allowed_expressions_evaluate_as_before(expr):
    df = pl.DataFrame({"amount": [1.5, 200.0, None], "qty": [1, 3, 5], "name": ["Ann", "bob", "c"],
                       "region": ["x", None, "y"], "flag": [True, False, True],
                       "quoted col": [1, 2, 3]}).with_columns(d=pl.date(2024, 3, 2))
    ours = df.select(sql_expr(expr).alias("r"))["r"].to_list()
    theirs = df.select(pl.sql_expr(expr).alias("r"))["r"].to_list()
    assert ours == theirs


def test_pipeline_with_allowed_steps_and_checks_still_runs(source):
    job = _run(wb.Pipeline(source=wb.file(source),
                           steps=[wb.filter("a > 1"), wb.with_columns(c="CAST(a * 100 AS INTEGER)",
                                                                      u="upper(b) || '-'")],
                           checks=[wb.check_sql("c >= 100")], sink=wb.dataset("ok")))
    assert job.status == "succeeded", job.error
    assert wb.read("ok").collect().to_dicts() == [{"a": 2, "b": "y", "c": 200, "u": "Y-"}]


def test_unparsable_expression_is_an_sql_error_naming_the_step(source):
    job = _run(wb.Pipeline(source=wb.file(source), steps=[wb.filter("a >")]))
    assert job.status == "failed" and type(job.error).__name__ == "SQLError"
    assert job.error.step == "1:filter" and "cannot parse" in job.error.message


def test_a_remembered_expression_gives_the_same_sql_and_a_refused_one_is_refused_every_time():
    first = check_expression("qty > 1 AND upper(name) = 'A'")
    assert check_expression("qty > 1 AND upper(name) = 'A'") == first
    for label in ("1:filter", "2:with_columns"):
        with pytest.raises(SQLError) as info:
            check_expression("a IN (SELECT x FROM read_csv('/etc/passwd'))", label)
        assert info.value.step == label  # checked again, so the error names this step
