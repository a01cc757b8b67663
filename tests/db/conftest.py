from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from servers import _as_postgres, _pg_bin

PW_ROLE = "wb_pw_user"
PW_SECRET = "Sup3r-Secret-Pw"


@pytest.fixture(autouse=True)
def _home(wb_home: Path) -> Path:
    """Every database test runs against a fresh embedded workbench (catalog, storage)."""
    return wb_home


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'warehouse.db'}"


@pytest.fixture(scope="session")
def password_role(postgres_server) -> str:
    """A role that must log in with a password, on the otherwise trusting test cluster.

    The session cluster trusts every local connection; a pg_hba line for this one role, placed
    before the trust lines, makes PostgreSQL ask it for a scram password.
    """
    import psycopg

    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute(f"CREATE ROLE {PW_ROLE} LOGIN PASSWORD '{PW_SECRET}'")
    hba = postgres_server.workdir / "data" / "pg_hba.conf"
    lines = hba.read_text().splitlines()
    rule = f"host all {PW_ROLE} 127.0.0.1/32 scram-sha-256"
    first = next(i for i, line in enumerate(lines) if line.strip() and not line.startswith("#"))
    lines.insert(first, rule)
    # the file belongs to the postgres user: write through a copy we own, then move it back
    tmp = hba.with_suffix(".new")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, hba)
    if os.geteuid() == 0:
        import shutil

        shutil.chown(hba, "postgres", "postgres")
    _as_postgres([str(_pg_bin() / "pg_ctl"), "-D", str(postgres_server.workdir / "data"), "reload"])
    import time

    for _ in range(100):  # the reload is asynchronous: wait until the rule is in force
        try:
            with psycopg.connect(f"postgresql://{PW_ROLE}@127.0.0.1:{postgres_server.port}/postgres",
                                 connect_timeout=2):
                pass
        except psycopg.OperationalError as exc:
            if "password" in str(exc):
                break
        time.sleep(0.05)
    return f"postgresql://{PW_ROLE}@127.0.0.1:{postgres_server.port}/postgres"


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
