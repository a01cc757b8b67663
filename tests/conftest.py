from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from servers import create_database, session_keys, start_moto, start_postgres, start_redis


@pytest.fixture(scope="session", autouse=True)
def signing_keys():
    """Every process of the session signs task messages with one key set (see session_keys)."""
    keys = session_keys()
    saved = os.environ.get("WORKBENCH_KEYS_DIR")
    os.environ["WORKBENCH_KEYS_DIR"] = str(keys)
    yield keys
    if saved is None:
        os.environ.pop("WORKBENCH_KEYS_DIR", None)
    else:
        os.environ["WORKBENCH_KEYS_DIR"] = saved


@pytest.fixture
def wb_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An embedded-default workbench in a fresh folder, with no servers configured."""
    home = tmp_path / "wbhome"
    for var in list(os.environ):
        if var.startswith("WORKBENCH_") and var != "WORKBENCH_KEYS_DIR":
            monkeypatch.delenv(var)
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def redis_server():
    srv = start_redis()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def postgres_server():
    srv = start_postgres()
    yield srv
    srv.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database on the session's PostgreSQL cluster."""
    return create_database(postgres_server, f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def s3_server():
    srv = start_moto()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def browser():
    """One Debian Chromium under Playwright for the whole run (never a downloaded browser):
    Playwright's sync API allows one instance per process, so every browser test shares it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()
