"""Helpers for the database tests (a module of its own: ``conftest`` names clash across folders)."""

from __future__ import annotations

import uuid

PW_ROLE = "wb_pw_user"
PW_SECRET = "Sup3r-Secret-Pw"

def pg_exec(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for st in statements:
            conn.execute(st)


def pg_rows(url: str, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def sqlite_path(url: str) -> str:
    return url.split("sqlite:///", 1)[1]


def sqlite_exec(url: str, *statements: str) -> None:
    import sqlite3

    conn = sqlite3.connect(sqlite_path(url))
    try:
        for st in statements:
            conn.execute(st)
        conn.commit()
    finally:
        conn.close()


def sqlite_rows(url: str, sql: str) -> list[tuple]:
    import sqlite3

    conn = sqlite3.connect(sqlite_path(url))
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def run(pipeline, job_id: str | None = None):
    """Submit on the LocalRunner and wait; returns the finished Job."""
    from workbench.runners.local import LocalRunner

    job = LocalRunner().submit(pipeline, job_id=job_id or uuid.uuid4().hex)
    job.wait(120)
    assert job.done, "the job did not finish"
    return job
