"""The SQL sandbox, tried as an attacker would (issue 10, point 6).

Every probe runs a SQL step through ``wb.submit`` (the LocalRunner, in this process) and asserts
the refusal, the error type, and that no forbidden byte (the content of a file it tried to read,
a path a setting would reveal, another job's spill) appears in any output: the error, every
event, the catalog's job record, and no file appears where it tried to write.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import polars as pl
import pytest

import workbench as wb
from workbench.context import Context
from workbench.engines.sql import run_sql
from workbench.engines.sql_sandbox import JobTemp, sandboxed_connection, sweep_dead, temp_root
from workbench.errors import SQLError

SECRET = f"TOPSECRET-{uuid.uuid4().hex}"


@pytest.fixture
def env(wb_home, tmp_path, monkeypatch):
    """A small input file, a secret file, another job's spill with the secret in it, and a cwd
    whose `.tmp` exists (DuckDB's default temp directory, allowed even with external access off)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".tmp").mkdir()
    data = tmp_path / "in.csv"
    data.write_text("a,k\n1,x\n2,y\n")
    secret = tmp_path / "secret.csv"
    secret.write_text(f"s\n{SECRET}\n")
    other = JobTemp(temp_root(wb_home), "victim")  # alive: this process owns it
    spill = other.step_dir() / "duck" / "duckdb_temp_storage_1.tmp"
    spill.write_text(SECRET * 10)
    yield {"data": data, "secret": secret, "spill": spill, "tmp": tmp_path, "home": wb_home,
           "forbidden": [SECRET, "root:x:0:0", str(temp_root(wb_home))]}
    other.remove()


def _outputs(job) -> str:
    parts = [json.dumps(job.error.to_dict()) if job.error else ""]
    parts += [json.dumps(e.to_dict(), default=str) for e in job.events]
    parts.append(json.dumps(Context.from_settings().catalog.get_job(job.id), default=str))
    return "\n".join(parts)


def _refused(env, query: str, *, match: str = "forbidden in user SQL") -> SQLError:
    p = wb.Pipeline(source=wb.file(str(env["data"])), steps=[wb.sql(query, name="attack")],
                    sink=wb.dataset("out"))
    job = wb.submit(p, runner="local").wait(60)
    assert job.status == "failed"
    err = job.error
    assert isinstance(err, SQLError), f"{type(err).__name__}: {err}"
    assert err.step == "attack"
    assert match in err.message, err.message
    text = _outputs(job).replace(json.dumps(query)[1:-1], "<the query>")  # it may name a path
    for forbidden in env["forbidden"]:
        assert forbidden not in text
    assert list((env["tmp"] / ".tmp").iterdir()) == []  # nothing written to DuckDB's default dir
    return err


PROBES = [
    ("copy to default temp dir", "COPY input TO '.tmp/x.csv'"),
    ("copy of a dynamic pivot (MULTI)", "COPY (PIVOT input ON k USING sum(a)) TO '.tmp/p.csv'"),
    ("create as dynamic pivot (MULTI)", "CREATE TABLE t AS PIVOT input ON k USING sum(a)"),
    ("attach in default temp dir", "ATTACH '.tmp/x.duckdb' AS x"),
    ("explain analyze executes", "EXPLAIN ANALYZE COPY input TO '.tmp/e.csv'"),
    ("explain", "EXPLAIN SELECT * FROM input"),
    ("current_setting", "SELECT current_setting('temp_directory') AS t"),
    ("current_setting in a filter", "SELECT * FROM input WHERE current_setting('temp_directory') LIKE '/%'"),
    ("duckdb_settings", "SELECT * FROM duckdb_settings()"),
    ("getenv", "SELECT getenv('HOME') AS h"),
    ("dynamic pivot over current_setting",
     "PIVOT (SELECT current_setting('temp_directory') AS k, 1 AS v) ON k USING sum(v)"),
    ("dynamic pivot over query()", "PIVOT (FROM query('SELECT 1 AS k')) ON k USING count(*)"),
    ("query()", "SELECT * FROM query('SELECT 42')"),
    ("query_table()", "SELECT * FROM query_table('input')"),
    ("read_csv of /etc/passwd", "SELECT * FROM read_csv('/etc/passwd')"),
    ("read_text in a subquery", "SELECT a, (SELECT content FROM read_text('/etc/passwd')) FROM input"),
    ("two statements", "SELECT 1; SELECT 2"),
    ("set", "SET threads = 1"),
    ("reset temp_directory", "RESET temp_directory"),
    ("install", "INSTALL httpfs"),
    ("load", "LOAD httpfs"),
    ("pragma", "PRAGMA database_list"),
    ("create macro", "CREATE MACRO m(x) AS x"),
    ("information_schema", "SELECT * FROM information_schema.tables"),
    ("pg_catalog settings", "SELECT * FROM pg_catalog.pg_settings"),
    ("show tables", "SHOW ALL TABLES"),
]


@pytest.mark.parametrize("query", [q for _, q in PROBES], ids=[n for n, _ in PROBES])
def test_probe_is_refused(env, query):
    _refused(env, query)


def test_glob_and_read_blob_of_another_jobs_spill(env):
    folder = env["spill"].parent
    for q in [f"SELECT * FROM glob('{folder}/*')", f"SELECT * FROM read_blob('{env['spill']}')",
              f"SELECT * FROM read_text('{folder}/*')", "SELECT * FROM glob('.tmp/*')"]:
        _refused(env, q)
    assert env["spill"].read_text().startswith(SECRET)  # and it is untouched


def test_file_as_a_base_table_is_refused(env):
    err = _refused(env, f"SELECT * FROM '{env['secret']}'", match="unknown relation")
    assert "input" in err.hint


def test_python_variable_named_like_a_table_is_not_read(env):
    secret_frame = pl.DataFrame({"s": [SECRET]})  # noqa: F841 - what a replacement scan would find
    _refused(env, "SELECT * FROM secret_frame", match="unknown relation")
    with pytest.raises(SQLError) as err:
        run_sql("SELECT * FROM secret_frame", {"input": pl.LazyFrame({"a": [1]})})
    assert SECRET not in str(err.value.to_dict())
    # and the connection itself never looks at Python variables, with or without the guard
    con = sandboxed_connection(temp_dir=None)
    with pytest.raises(duckdb.CatalogException):
        con.sql("SELECT * FROM secret_frame").fetchall()
    con.close()


def test_the_locked_connection_refuses_files_and_settings_without_the_guard(tmp_path):
    """Defence in depth: the connection alone refuses what the guard refuses first."""
    job_dir = tmp_path / "job" / "duck"
    job_dir.mkdir(parents=True)
    con = sandboxed_connection(temp_dir=job_dir)
    outside = tmp_path / "outside.csv"
    with pytest.raises(duckdb.PermissionException):
        con.execute(f"COPY (SELECT 1) TO '{outside}'")
    with pytest.raises(duckdb.PermissionException):
        con.execute("SELECT * FROM read_csv('/etc/passwd')").fetchall()
    for stmt in [f"SET temp_directory='{tmp_path}'", "RESET temp_directory",
                 "SET enable_external_access=true", "SET max_temp_directory_size='1TB'"]:
        with pytest.raises(duckdb.Error, match="locked"):
            con.execute(stmt)
    assert con.execute("SELECT current_setting('enable_progress_bar_print')").fetchall() == [(False,)]
    con.close()
    assert not outside.exists()


def test_each_job_gets_a_fresh_temp_folder_removed_at_the_end(env):
    root = temp_root(env["home"])
    before = {p.name for p in root.iterdir()}
    q = "SELECT * FROM input WHERE a > (SELECT avg(a) FROM input)"  # reads input twice: spills it
    p = wb.Pipeline(source=wb.file(str(env["data"])), steps=[wb.sql(q)], sink=wb.dataset("o"))
    job = wb.submit(p, runner="local").wait(60)
    assert job.status == "succeeded", job.error
    assert {p.name for p in root.iterdir()} == before  # only the live victim's folder remains


def test_next_start_removes_folders_of_dead_jobs(env):
    root = temp_root(env["home"])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    folder = root / "job-crashed"
    (folder / "step-001" / "duck").mkdir(parents=True)
    (folder / "step-001" / "duck" / "duckdb_temp_block.tmp").write_bytes(b"x" * 1024)
    (folder / "owner.json").write_text(json.dumps({"pid": int(dead.stdout), "host": os.uname().nodename}))
    removed = sweep_dead(root)
    assert str(folder) in removed and not folder.exists()
    assert env["spill"].exists()  # a live job's folder stays


def test_gc_removes_and_lists_dead_jobs_sql_folders(env):
    from workbench.maintenance import gc

    root = temp_root(env["home"])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    folder = root / "job-killed"
    folder.mkdir(parents=True)
    (folder / "owner.json").write_text(json.dumps({"pid": int(dead.stdout), "host": os.uname().nodename}))
    report = gc(Context.from_settings(), retention_seconds=0)
    assert report["sql_temp_removed"] == [str(folder)] and not folder.exists()
    assert env["spill"].exists()
