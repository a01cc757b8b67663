from __future__ import annotations

import os
from pathlib import Path

import pytest

from servers import _as_postgres, _pg_bin

from db_helpers import PW_ROLE, PW_SECRET


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

    # The reload is asynchronous: wait until the rule is in force, and fail here if it never is
    # (under the trust lines a password test would pass without any password being asked).
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(f"postgresql://{PW_ROLE}@127.0.0.1:{postgres_server.port}/postgres",
                                 connect_timeout=5):
                pass
            seen = "the login succeeded without a password"
        except psycopg.OperationalError as exc:
            if "no password supplied" in str(exc) or "password authentication" in str(exc):
                break
            seen = str(exc)
        if time.monotonic() > deadline:
            pytest.fail(f"the pg_hba password rule for {PW_ROLE} never applied: {seen}")
        time.sleep(0.05)
    return f"postgresql://{PW_ROLE}@127.0.0.1:{postgres_server.port}/postgres"
