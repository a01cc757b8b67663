"""Queries as sources, end to end through the LocalRunner, against real PostgreSQL and SQLite."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import polars as pl
import pytest

import workbench as wb
from db_helpers import PW_SECRET
from db_helpers import pg_exec, run, sqlite_exec

pytestmark = pytest.mark.services


def _orders(url: str, n: int = 100) -> None:
    pg_exec(url,
            "CREATE TABLE orders (id int PRIMARY KEY, name text, amount numeric(10,2), "
            "updated_at timestamp, note jsonb)",
            f"INSERT INTO orders SELECT g, 'n' || g, g * 1.25, timestamp '2026-01-01' + g * "
            f"interval '1 hour', jsonb_build_object('g', g) FROM generate_series(1, {n}) g")


def test_postgres_query_with_bound_parameters_into_a_dataset(postgres_url: str) -> None:
    _orders(postgres_url)
    p = wb.Pipeline(
        source=wb.query("SELECT * FROM orders WHERE updated_at > :since AND id <= :top;",
                        db=postgres_url, params={"since": "2026-01-02", "top": 90}),
        steps=[wb.sql("SELECT id, upper(name) AS name, amount, note FROM input")],
        sink=wb.dataset("orders_copy"))
    job = run(p)
    assert job.status == "succeeded", job.error
    df = wb.read("orders_copy").sort("id").collect()
    # updated_at > 2026-01-02 00:00 means g > 24; and id <= 90
    assert df["id"].to_list() == list(range(25, 91))
    assert df.schema["amount"] == pl.Decimal(10, 2)
    assert df["amount"][0] == decimal.Decimal("31.25")
    assert df["name"][0] == "N25"
    assert json.loads(df["note"][0]) == {"g": 25}


def test_a_parameter_value_is_data_never_sql(postgres_url: str) -> None:
    _orders(postgres_url, 3)
    evil = "n1' OR '1'='1"
    p = wb.Pipeline(source=wb.query("SELECT id FROM orders WHERE name = :name", db=postgres_url,
                                    params={"name": evil}))
    job = run(p)
    assert job.status == "succeeded", job.error
    assert job.result.height == 0
    drop = wb.Pipeline(source=wb.query("SELECT :x AS x", db=postgres_url,
                                       params={"x": "1; DROP TABLE orders; --"}))
    assert run(drop).result["x"].to_list() == ["1; DROP TABLE orders; --"]
    assert run(wb.Pipeline(source=wb.query("SELECT count(*) AS n FROM orders",
                                           db=postgres_url))).result["n"][0] == 3


def test_sqlite_query_with_parameters(sqlite_url: str) -> None:
    sqlite_exec(sqlite_url, "CREATE TABLE t (id INTEGER, name TEXT, price REAL, day TEXT)",
                *[f"INSERT INTO t VALUES ({i}, 'x{i}', {i / 2}, '2026-01-{i:02d}')" for i in range(1, 11)])
    p = wb.Pipeline(source=wb.query("SELECT * FROM t WHERE day >= :day AND id != :skip",
                                    db=sqlite_url, params={"day": "2026-01-05", "skip": 7}),
                    sink=wb.dataset("t_copy"))
    job = run(p)
    assert job.status == "succeeded", job.error
    df = wb.read("t_copy").sort("id").collect()
    assert df["id"].to_list() == [5, 6, 8, 9, 10]
    assert df.schema["price"] == pl.Float64 and df["price"][0] == 2.5


def test_numeric_without_scale_and_types_without_polars_equivalent(postgres_url: str) -> None:
    p = wb.Pipeline(source=wb.query("SELECT 1::numeric / 3 AS third, 2.5::numeric(5,2) AS fixed, "
                                    "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u",
                                    db=postgres_url))
    job = run(p)
    assert job.status == "succeeded", job.error
    row = job.result.row(0, named=True)
    assert row == {"third": decimal.Decimal("0.3333333333"), "fixed": decimal.Decimal("2.50"),
                   "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}
    assert any("numeric without a declared precision" in m for m in job.progress.messages)

    bad = run(wb.Pipeline(source=wb.query("SELECT interval '1 month' AS wait", db=postgres_url)))
    assert bad.status == "failed"
    assert type(bad.error).__name__ == "SourceError" and bad.error.column == "wait"
    assert "wait::text" in bad.error.hint


def test_a_query_with_a_syntax_error(postgres_url: str) -> None:
    job = run(wb.Pipeline(source=wb.query("SELECT id,\n  FROM orders WHERE", db=postgres_url),
                          sink=wb.dataset("never")))
    assert job.status == "failed"
    err = job.error
    assert type(err).__name__ == "SQLError" and err.step == "read"
    assert "syntax error" in err.message and "line 2" in err.message
    assert run(wb.Pipeline(source=wb.query("SELECT 1 AS ok", db=postgres_url))).status == "succeeded"


def test_a_missing_table_in_sqlite_is_an_sql_error(sqlite_url: str) -> None:
    sqlite_exec(sqlite_url, "CREATE TABLE present (x INTEGER)")
    job = run(wb.Pipeline(source=wb.query("SELECT * FROM absent", db=sqlite_url)))
    assert job.status == "failed" and type(job.error).__name__ == "SQLError"
    assert "no such table: absent" in job.error.message


def test_connection_refused_is_transient_and_names_the_masked_server(monkeypatch) -> None:
    from servers import free_port

    port = free_port()  # nothing listens there
    monkeypatch.setenv("WORKBENCH_CONN_DOWN", f"postgresql://app:Pw4Down@127.0.0.1:{port}/x")
    job = run(wb.Pipeline(source=wb.query("SELECT 1", db="down")))
    assert job.status == "failed"
    assert type(job.error).__name__ == "TransientError"
    assert "refused" in job.error.message.lower()
    assert f"postgresql://app:***@127.0.0.1:{port}/x" in job.error.message
    assert "Pw4Down" not in json.dumps([e.to_dict() for e in job.events])


def test_wrong_password_shows_no_password_anywhere(password_role: str, monkeypatch) -> None:
    from workbench.context import Context

    wrong = "Wr0ng-Guess-42"
    good_dsn = password_role.replace("@", f":{PW_SECRET}@")
    monkeypatch.setenv("WORKBENCH_CONN_SHOP", password_role.replace("@", f":{wrong}@"))
    job = run(wb.Pipeline(source=wb.query("SELECT 1", db="shop"), sink=wb.dataset("x")))
    assert job.status == "failed"
    assert type(job.error).__name__ == "AccessDenied"
    assert "password authentication failed" in job.error.message
    record = Context.from_settings().catalog.get_job(job.id)
    shown = json.dumps([e.to_dict() for e in job.events]) + json.dumps(record) + str(job.error)
    assert wrong not in shown and PW_SECRET not in shown
    assert ":***@" in shown

    # the right password, from the environment only, works; the spec and record hold none
    monkeypatch.setenv("WORKBENCH_CONN_SHOP", good_dsn)
    ok = run(wb.Pipeline(source=wb.query("SELECT 1 AS one", db="shop")))
    assert ok.status == "succeeded", ok.error
    assert PW_SECRET not in json.dumps(Context.from_settings().catalog.get_job(ok.id))


def test_a_password_from_pgpassword_with_a_dsn_without_one(password_role: str, monkeypatch) -> None:
    monkeypatch.setenv("PGPASSWORD", PW_SECRET)
    job = run(wb.Pipeline(source=wb.query("SELECT current_user AS who", db=password_role)))
    assert job.status == "succeeded", job.error
    assert job.result["who"][0] == "wb_pw_user"


def test_preview_reads_only_the_first_rows(postgres_url: str) -> None:
    _orders(postgres_url, 500)
    df = wb.preview(wb.Pipeline(source=wb.query("SELECT id FROM orders ORDER BY id",
                                                db=postgres_url)), rows=7)
    assert df["id"].to_list() == list(range(1, 8))


def test_a_date_parameter_against_a_date_column(postgres_url: str) -> None:
    pg_exec(postgres_url, "CREATE TABLE d (day date, n int)",
            "INSERT INTO d VALUES ('2026-03-01', 1), ('2026-03-05', 2)")
    job = run(wb.Pipeline(source=wb.query("SELECT n FROM d WHERE day BETWEEN :a AND :b",
                                          db=postgres_url,
                                          params={"a": dt.date(2026, 3, 2), "b": "2026-03-31"})))
    assert job.status == "succeeded", job.error
    assert job.result["n"].to_list() == [2]


def test_a_password_from_pgpass_with_a_dsn_without_one(password_role: str, tmp_path,
                                                      monkeypatch) -> None:
    """``~/.pgpass`` (libpq's own lookup, through the driver): without it the login is refused."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.delenv("PGPASSFILE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    refused = run(wb.Pipeline(source=wb.query("SELECT current_user AS who", db=password_role)))
    assert refused.status == "failed" and "password" in refused.error.message
    port = password_role.rsplit(":", 1)[1].split("/", 1)[0]
    pgpass = tmp_path / ".pgpass"
    pgpass.write_text(f"127.0.0.1:{port}:postgres:wb_pw_user:{PW_SECRET}\n")
    pgpass.chmod(0o600)  # libpq ignores a file others can read
    job = run(wb.Pipeline(source=wb.query("SELECT current_user AS who", db=password_role)))
    assert job.status == "succeeded", job.error
    assert job.result["who"][0] == "wb_pw_user"
