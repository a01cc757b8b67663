"""Table sinks: every mode on PostgreSQL and SQLite, atomicity, and the errors."""

from __future__ import annotations

import datetime as dt
import decimal
import time
import uuid

import polars as pl
import pytest

import workbench as wb
from db_helpers import pg_exec, pg_rows, run, sqlite_exec, sqlite_rows
from workbench.errors import InputError

pytestmark = pytest.mark.services


def _frame_file(tmp_path, df: pl.DataFrame, name: str = "in.parquet") -> str:
    path = tmp_path / name
    df.write_parquet(path)
    return str(path)


def _rows(url: str, sql: str) -> list[tuple]:
    return sqlite_rows(url, sql) if url.startswith("sqlite") else pg_rows(url, sql)


def _exec(url: str, *sql: str) -> None:
    (sqlite_exec if url.startswith("sqlite") else pg_exec)(url, *sql)


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'wh.db'}"
    return request.getfixturevalue("postgres_url")


PEOPLE = pl.DataFrame({"id": [1, 2, 3], "name": ["ann", "bob", "cy"],
                       "score": [1.5, 2.5, None]})


def _load(tmp_path, df, table, db, mode, **kw):
    p = wb.Pipeline(source=wb.file(_frame_file(tmp_path, df, f"{uuid.uuid4().hex}.parquet")),
                    sink=wb.table(table, db=db, mode=mode, **kw), checks=kw.pop("checks", []))
    return run(p)


# ----------------------------------------------------------------------------- create / insert
def test_create_builds_the_table_from_the_schema_then_refuses_to_repeat(tmp_path, db) -> None:
    job = _load(tmp_path, PEOPLE, "people", db, "create")
    assert job.status == "succeeded", job.error
    assert job.result["rows"] == 3 and job.result["created"] is True
    assert sorted(_rows(db, "SELECT id, name, score FROM people")) == \
        [(1, "ann", 1.5), (2, "bob", 2.5), (3, "cy", None)]
    again = _load(tmp_path, PEOPLE, "people", db, "create")
    assert again.status == "failed" and type(again.error).__name__ == "AlreadyExists"
    assert _rows(db, "SELECT count(*) FROM people") == [(3,)]


def test_insert_fails_on_a_conflicting_key_and_writes_nothing(tmp_path, db) -> None:
    _exec(db, "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, score REAL)",
          "INSERT INTO people VALUES (3, 'old', 0)")
    job = _load(tmp_path, PEOPLE, "people", db, "insert")
    assert job.status == "failed"
    assert type(job.error).__name__ == "InputError" and "conflicts" in job.error.message
    assert "upsert" in job.error.hint
    assert _rows(db, "SELECT id, name FROM people") == [(3, "old")]
    ok = _load(tmp_path, PEOPLE.filter(pl.col("id") < 3), "people", db, "insert")
    assert ok.status == "succeeded", ok.error
    assert _rows(db, "SELECT count(*) FROM people") == [(3,)]


# ----------------------------------------------------------------------------- append
def test_append_adds_rows_and_skips_existing_keys(tmp_path, db) -> None:
    _exec(db, "CREATE TABLE keyed (id INTEGER PRIMARY KEY, name TEXT, score REAL)",
          "INSERT INTO keyed VALUES (1, 'old', 0)", "CREATE TABLE loose (id INTEGER, name TEXT, score REAL)")
    job = _load(tmp_path, PEOPLE, "keyed", db, "append")
    assert job.status == "succeeded", job.error
    assert job.result["rows_inserted"] == 2 and job.result["rows_skipped"] == 1
    assert sorted(_rows(db, "SELECT id, name FROM keyed")) == [(1, "old"), (2, "bob"), (3, "cy")]
    for _ in range(2):
        assert _load(tmp_path, PEOPLE, "loose", db, "append").status == "succeeded"
    assert _rows(db, "SELECT count(*) FROM loose") == [(6,)]


# ----------------------------------------------------------------------------- upsert
def test_upsert_updates_and_inserts_in_one_run(tmp_path, db) -> None:
    assert _load(tmp_path, PEOPLE, "people", db, "upsert", keys=["id"]).status == "succeeded"
    change = pl.DataFrame({"id": [2, 3, 4], "name": ["BOB", "CY", "dee"], "score": [9.0, 8.0, 7.0]})
    job = _load(tmp_path, change, "people", db, "upsert", keys=["id"])
    assert job.status == "succeeded", job.error
    assert job.result["rows_inserted"] == 1 and job.result["rows_updated"] == 2
    assert sorted(_rows(db, "SELECT id, name, score FROM people")) == [
        (1, "ann", 1.5), (2, "BOB", 9.0), (3, "CY", 8.0), (4, "dee", 7.0)]


def test_upsert_refuses_repeated_keys_and_a_table_without_a_key(tmp_path, db) -> None:
    assert _load(tmp_path, PEOPLE, "people", db, "upsert", keys=["id"]).status == "succeeded"
    dup = pl.DataFrame({"id": [5, 5], "name": ["a", "b"], "score": [1.0, 2.0]})
    job = _load(tmp_path, dup, "people", db, "upsert", keys=["id"])
    assert job.status == "failed"
    assert type(job.error) is InputError and job.error.step == "write", repr(job.error)
    assert job.error.message.startswith("the rows to upsert repeat a key")
    _exec(db, "CREATE TABLE nokey (id INTEGER, name TEXT, score REAL)")
    job = _load(tmp_path, PEOPLE, "nokey", db, "upsert", keys=["id"])
    assert job.status == "failed"
    assert (type(job.error).__name__, job.error.message, job.error.step) == (
        "InputError", "the table has no primary key or unique index on the upsert keys", "write")
    assert _rows(db, "SELECT count(*) FROM people") == [(3,)]
    assert _rows(db, "SELECT count(*) FROM nokey") == [(0,)]


# ----------------------------------------------------------------------------- replace
def test_replace_swaps_in_a_table_of_the_new_schema(tmp_path, db) -> None:
    _exec(db, "CREATE TABLE people (legacy TEXT)", "INSERT INTO people VALUES ('x')")
    job = _load(tmp_path, PEOPLE, "people", db, "replace")
    assert job.status == "succeeded", job.error
    assert sorted(_rows(db, "SELECT id, name FROM people")) == [(1, "ann"), (2, "bob"), (3, "cy")]
    leftovers = _rows(db, "SELECT tablename FROM pg_tables WHERE tablename LIKE 'people__wb%'") \
        if db.startswith("postgresql") else \
        _rows(db, "SELECT name FROM sqlite_master WHERE name LIKE 'people__wb%'")
    assert leftovers == []


def test_replace_while_a_reader_holds_the_old_table(tmp_path, postgres_url: str) -> None:
    import psycopg

    pg_exec(postgres_url, "CREATE TABLE people (id int, name text)",
            "INSERT INTO people VALUES (100, 'old')")
    reader = psycopg.connect(postgres_url)  # a transaction stays open from the first read on
    try:
        assert reader.execute("SELECT id FROM people").fetchall() == [(100,)]
        p = wb.Pipeline(source=wb.file(_frame_file(tmp_path, PEOPLE)),
                        sink=wb.table("people", db=postgres_url, mode="replace"))
        from workbench.runners.local import LocalRunner

        job = LocalRunner().submit(p)
        # the job builds the new table, then waits for the reader's lock to swap it in
        waiting = []
        for _ in range(600):
            waiting = pg_rows(postgres_url, "SELECT pid FROM pg_stat_activity WHERE application_name"
                              " = 'workbench' AND wait_event_type = 'Lock'")
            if waiting or job.done:
                break
            time.sleep(0.05)
        assert waiting, f"the job did not wait for the reader: {job.status} {job.error}"
        assert reader.execute("SELECT id FROM people").fetchall() == [(100,)]  # still the old one
        reader.commit()
        job.wait(60)
        assert job.status == "succeeded", job.error
        assert sorted(reader.execute("SELECT id FROM people").fetchall()) == [(1,), (2,), (3,)]
    finally:
        reader.close()


# ----------------------------------------------------------------------------- all or nothing
def test_a_value_refused_in_the_second_batch_leaves_the_previous_content(tmp_path, db) -> None:
    _exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
          "INSERT INTO t VALUES (-1, 'before')")
    names = [f"n{i}" for i in range(2500)]
    names[1700] = None  # in the second batch of 1000
    df = pl.DataFrame({"id": list(range(2500)), "name": names})
    p = wb.Pipeline(source=wb.file(_frame_file(tmp_path, df)),
                    sink=wb.table("t", db=db, mode="append", batch_rows=1000))
    job = run(p)
    assert job.status == "failed"
    assert type(job.error) is InputError, repr(job.error)
    assert (job.error.column, job.error.step) == ("name", "write")
    assert job.error.message.startswith("a null value in a column that does not accept nulls")
    assert _rows(db, "SELECT id, name FROM t") == [(-1, "before")]
    ok = run(wb.Pipeline(source=wb.file(_frame_file(tmp_path, df.drop_nulls(), "ok.parquet")),
                         sink=wb.table("t", db=db, mode="append", batch_rows=1000)))
    assert ok.status == "succeeded", ok.error
    assert _rows(db, "SELECT count(*) FROM t") == [(2500,)]


def test_a_failing_check_writes_nothing_in_any_mode(tmp_path, db) -> None:
    _exec(db, "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, score REAL)",
          "INSERT INTO people VALUES (9, 'keep', 0)")
    for mode in ("append", "upsert", "replace", "insert"):
        p = wb.Pipeline(source=wb.file(_frame_file(tmp_path, PEOPLE, f"{mode}.parquet")),
                        checks=[wb.not_null("score")],
                        sink=wb.table("people", db=db, mode=mode, keys=["id"] if mode == "upsert" else []))
        job = run(p)
        assert job.status == "failed" and type(job.error).__name__ == "CheckFailed", (mode, job.error)
        assert _rows(db, "SELECT id, name FROM people") == [(9, "keep")], mode


def test_a_value_too_large_for_the_column_names_column_and_value(tmp_path, postgres_url) -> None:
    pg_exec(postgres_url, "CREATE TABLE small (id int, code varchar(3))")
    df = pl.DataFrame({"id": [1, 2, 3_000_000_000], "code": ["a", "b", "c"]})
    job = run(wb.Pipeline(source=wb.file(_frame_file(tmp_path, df)),
                          sink=wb.table("small", db=postgres_url, mode="append")))
    assert job.status == "failed"
    assert type(job.error) is InputError, repr(job.error)
    assert (job.error.column, job.error.step) == ("id", "write")
    assert job.error.message.startswith(
        "column 'id' has a value that does not fit the table's type (int32): ")
    assert job.error.message.endswith(" (the value 3000000000)")
    df = pl.DataFrame({"id": [1, 2], "code": ["abc", "abcd"]})
    job = run(wb.Pipeline(source=wb.file(_frame_file(tmp_path, df, "b.parquet")),
                          sink=wb.table("small", db=postgres_url, mode="append")))
    assert job.status == "failed"
    assert type(job.error) is InputError, repr(job.error)
    assert (job.error.column, job.error.step) == ("code", "write")
    assert job.error.message == ("the table refused a value: value too long for type "
                                 "character varying(3) (the value 'abcd')")
    assert pg_rows(postgres_url, "SELECT count(*) FROM small") == [(0,)]


# ----------------------------------------------------------------------------- schemas and types
def test_a_type_that_cannot_be_mapped(tmp_path, db) -> None:
    df = pl.DataFrame({"id": [1], "tags": [["a", "b"]]})
    job = _load(tmp_path, df, "tagged", db, "append")
    assert job.status == "failed"
    assert type(job.error) is InputError, repr(job.error)
    assert (job.error.column, job.error.step) == ("tags", "write")
    assert job.error.message == \
        f"column 'tags' has the type {df.schema['tags']}, which has no SQL column type here"
    assert "cast" in job.error.hint
    exists = _rows(db, "SELECT count(*) FROM pg_tables WHERE tablename = 'tagged'") \
        if db.startswith("postgresql") else \
        _rows(db, "SELECT count(*) FROM sqlite_master WHERE name = 'tagged'")
    assert exists == [(0,)]


def test_schema_mismatch_names_the_columns(tmp_path, db) -> None:
    _exec(db, "CREATE TABLE people (id INTEGER, name TEXT, born DATE NOT NULL)")
    job = _load(tmp_path, PEOPLE, "people", db, "append")
    assert job.status == "failed"
    assert type(job.error) is InputError, repr(job.error)
    # the first column the pipeline has and the table lacks is the one named
    assert (job.error.column, job.error.step) == ("score", "write")
    assert job.error.message == (
        "the pipeline's columns do not match table people: not in the table: score; required by "
        "the table (NOT NULL, no default) but not in the pipeline: born")
    _exec(db, "CREATE TABLE typed (id INTEGER, name INTEGER, score REAL)")
    job = _load(tmp_path, PEOPLE, "typed", db, "append")
    assert job.status == "failed"
    assert type(job.error) is InputError, repr(job.error)
    assert (job.error.column, job.error.step) == ("name", "write")
    assert job.error.message.startswith("the table's column types do not match the pipeline's: ")
    assert "name: String ->" in job.error.message


def test_types_round_trip_through_a_created_postgres_table(tmp_path, postgres_url) -> None:
    df = pl.DataFrame({
        "i8": pl.Series([1], dtype=pl.Int8), "u64": pl.Series([2**63 + 5], dtype=pl.UInt64),
        "f32": pl.Series([1.5], dtype=pl.Float32), "dec": pl.Series([decimal.Decimal("12.345")],
                                                                    dtype=pl.Decimal(12, 3)),
        "flag": [True], "day": [dt.date(2026, 1, 2)], "ts": [dt.datetime(2026, 1, 2, 3, 4, 5, 6)],
        "tstz": pl.Series([dt.datetime(2026, 1, 2, 3, 4, 5)]).dt.replace_time_zone("Europe/Paris"),
        "at": [dt.time(1, 2, 3)], "dur": [dt.timedelta(seconds=90)], "raw": [b"\x00\x01"],
        "cat": pl.Series(["x"], dtype=pl.Categorical)})
    job = _load(tmp_path, df, "typed", postgres_url, "create")
    assert job.status == "succeeded", job.error
    types = dict(pg_rows(postgres_url, "SELECT column_name, data_type FROM information_schema.columns"
                                       " WHERE table_name = 'typed'"))
    assert types == {"i8": "smallint", "u64": "numeric", "f32": "real", "dec": "numeric",
                     "flag": "boolean", "day": "date", "ts": "timestamp without time zone",
                     "tstz": "timestamp with time zone", "at": "time without time zone",
                     "dur": "interval", "raw": "bytea", "cat": "text"}
    back = run(wb.Pipeline(source=wb.query("SELECT * FROM typed", db=postgres_url))).result
    row = back.row(0, named=True)
    assert row["u64"] == decimal.Decimal(2**63 + 5) and row["dec"] == decimal.Decimal("12.345")
    assert row["ts"] == dt.datetime(2026, 1, 2, 3, 4, 5, 6)
    assert row["tstz"] == dt.datetime(2026, 1, 2, 2, 4, 5, tzinfo=dt.timezone.utc)
    assert row["raw"] == b"\x00\x01" and row["cat"] == "x" and row["flag"] is True
    assert row["dur"] == dt.timedelta(seconds=90) and row["at"] == dt.time(1, 2, 3)


def test_strings_into_json_and_uuid_columns(tmp_path, postgres_url) -> None:
    pg_exec(postgres_url, "CREATE TABLE docs (id uuid PRIMARY KEY, body jsonb, price numeric)")
    df = pl.DataFrame({"id": ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"], "body": ['{"a": [1, 2]}'],
                       "price": [decimal.Decimal("1.123456789012345")]})
    job = _load(tmp_path, df, "docs", postgres_url, "upsert", keys=["id"])
    assert job.status == "succeeded", job.error
    assert pg_rows(postgres_url, "SELECT id::text, body->'a'->>1, price::text FROM docs") == [
        ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "2", "1.123456789012345")]


# ----------------------------------------------------------------------------- idempotence
def test_a_redelivered_job_does_not_write_twice(tmp_path, db) -> None:
    from workbench.context import Context
    from workbench.execute import run_job

    p = wb.Pipeline(source=wb.file(_frame_file(tmp_path, PEOPLE)),
                    sink=wb.table("people", db=db, mode="append"))
    ctx = Context.from_settings()
    first = run_job(p, job_id="job-once", ctx=ctx)
    second = run_job(p, job_id="job-once", ctx=ctx)
    assert first["rows"] == second["rows"] == 3
    assert _rows(db, "SELECT count(*) FROM people") == [(3,)]
