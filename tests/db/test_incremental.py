"""Incremental loads: the cursor moves only after a committed run."""

from __future__ import annotations

import pytest

import workbench as wb
from db_helpers import pg_exec, pg_rows, run, sqlite_exec, sqlite_rows

pytestmark = pytest.mark.services


def _events(url: str, first: int, last: int) -> None:
    pg_exec(url, f"INSERT INTO events SELECT g, 'e' || g, timestamp '2026-01-01' + g * interval "
                 f"'1 minute' FROM generate_series({first}, {last}) g")


def _pipeline(src: str, dst: str, **inc) -> wb.Pipeline:
    return wb.Pipeline(
        name="events to warehouse",
        source=wb.query("SELECT id, name, updated_at FROM events", db=src,
                        incremental=wb.incremental(cursor="updated_at", **inc)),
        checks=[wb.not_null("name")],
        sink=wb.table("events_copy", db=dst, mode="upsert", keys=["id"]))


def test_the_second_run_reads_only_newer_rows(postgres_url: str, sqlite_url: str) -> None:
    pg_exec(postgres_url, "CREATE TABLE events (id int PRIMARY KEY, name text, updated_at timestamp)")
    _events(postgres_url, 1, 100)
    first = run(_pipeline(postgres_url, sqlite_url))
    assert first.status == "succeeded", first.error
    assert first.result["rows"] == 100
    _events(postgres_url, 101, 130)
    second = run(_pipeline(postgres_url, sqlite_url))
    assert second.status == "succeeded", second.error
    assert second.result["rows"] == 30
    assert any("updated_at >" in m for m in second.progress.messages)
    assert sqlite_rows(sqlite_url, "SELECT count(*), max(id) FROM events_copy") == [(130, 130)]
    third = run(_pipeline(postgres_url, sqlite_url))  # nothing new: nothing read, cursor kept
    assert third.status == "succeeded" and third.result["rows"] == 0
    _events(postgres_url, 131, 131)
    assert run(_pipeline(postgres_url, sqlite_url)).result["rows"] == 1


def test_a_failed_run_does_not_advance_the_cursor(postgres_url: str) -> None:
    pg_exec(postgres_url, "CREATE TABLE events (id int PRIMARY KEY, name text, updated_at timestamp)")
    _events(postgres_url, 1, 10)
    assert run(_pipeline(postgres_url, postgres_url)).result["rows"] == 10
    _events(postgres_url, 11, 20)
    pg_exec(postgres_url, "UPDATE events SET name = NULL WHERE id = 15")
    failed = run(_pipeline(postgres_url, postgres_url))
    assert failed.status == "failed" and type(failed.error).__name__ == "CheckFailed"
    pg_exec(postgres_url, "UPDATE events SET name = 'fixed' WHERE id = 15")
    again = run(_pipeline(postgres_url, postgres_url))
    assert again.status == "succeeded", again.error
    assert again.result["rows"] == 10  # the same ten rows the failed run had read
    assert pg_rows(postgres_url, "SELECT count(*) FROM events_copy") == [(20,)]


def test_initial_value_and_an_integer_cursor_on_sqlite(sqlite_url: str, tmp_path) -> None:
    sqlite_exec(sqlite_url, "CREATE TABLE log (seq INTEGER, msg TEXT)",
                *[f"INSERT INTO log VALUES ({i}, 'm{i}')" for i in range(1, 21)])
    p = wb.Pipeline(name="log", source=wb.query("SELECT * FROM log", db=sqlite_url,
                                                incremental=wb.incremental(cursor="seq", initial=15)),
                    sink=wb.dataset("log"))
    first = run(p)
    assert first.status == "succeeded", first.error
    assert sorted(wb.read("log").collect()["seq"].to_list()) == [15, 16, 17, 18, 19, 20]
    sqlite_exec(sqlite_url, "INSERT INTO log VALUES (21, 'm21')")
    # the same name and sink (whatever the mode) is the same pipeline: it goes on from seq 20
    p2 = p.model_copy(update={"sink": wb.dataset("log", mode="append")})
    assert run(p2).status == "succeeded"
    assert run(p2).status == "succeeded"  # nothing new: appends no rows
    assert sorted(wb.read("log").collect()["seq"].to_list()) == [15, 16, 17, 18, 19, 20, 21]
    # another sink is another pipeline: its cursor starts from the initial value
    p3 = p.model_copy(update={"sink": wb.dataset("log_all")})
    assert run(p3).result.rows == 7


def test_the_cursor_must_be_a_column_of_the_query(postgres_url: str) -> None:
    pg_exec(postgres_url, "CREATE TABLE events (id int, name text, updated_at timestamp)")
    p = wb.Pipeline(name="x", source=wb.query("SELECT id FROM events", db=postgres_url,
                                              incremental=wb.incremental(cursor="updated_at")),
                    sink=wb.dataset("x"))
    job = run(p)
    assert job.status == "failed" and job.error.column == "updated_at"
    assert "not a column of the query" in job.error.message
