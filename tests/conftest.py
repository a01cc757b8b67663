from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from servers import create_database, redis_db, session_keys, start_moto, start_postgres, start_redis


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


@pytest.fixture(autouse=True)
def _forget_remembered_secrets():
    """The secrets a test's URLs made known to this process (``masking.remember``) are
    forgotten after it: in a long-lived process they are masked in every message, so a test's
    password ``secret`` would mask a later test's path ``…/secret.csv``."""
    from workbench import masking

    known, ordered = dict(masking._KNOWN), masking._KNOWN_SORTED
    yield
    masking._KNOWN.clear()
    masking._KNOWN.update(known)
    masking._KNOWN_SORTED = ordered


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


@pytest.fixture(scope="module")
def own_cluster(redis_server, tmp_path_factory, request):
    """A cluster of the module's own, for tests that stop, kill or race its workers: one worker
    named ``own`` (two pool processes, every queue) on a Redis database of its own (so no other
    cluster reads its queues), with this process's environment pointing at it for the module."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent / "worker"))
    from wb_cluster import make_cluster

    cl = make_cluster(tmp_path_factory.mktemp("wb-own"), redis_db(redis_server))
    cl.start_worker("own", concurrency=2)
    with pytest.MonkeyPatch.context() as mp:
        for var in list(os.environ):
            if var.startswith("WORKBENCH_"):
                mp.delenv(var)
        for key, value in cl.env.items():
            mp.setenv(key, value)
        yield cl
    cl.stop()
