"""Fixtures for the Iceberg tests: a workbench on local storage or S3 (the session's moto
server), with its catalog (and so its Iceberg SQL catalog) on SQLite or PostgreSQL."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "storage"))  # s3_helpers

from s3_helpers import make_bucket  # noqa: E402

os.environ.setdefault("POLARS_ICEBERG_PLANNER", "pyiceberg")  # no plugin warning


@pytest.fixture(params=["local-sqlite", pytest.param("s3-sqlite", marks=pytest.mark.services),
                        pytest.param("s3-postgres", marks=pytest.mark.services)])
def home(request, wb_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment of a user's workbench; the parameter names storage and catalog."""
    storage, catalog = request.param.split("-")
    monkeypatch.setenv("WORKBENCH_LOCAL_ISOLATION", "thread")
    if storage == "s3":
        s3 = request.getfixturevalue("s3_server")
        monkeypatch.setenv("WORKBENCH_STORAGE_URL", f"s3://{make_bucket(s3.url)}/wb")
        monkeypatch.setenv("WORKBENCH_S3_ENDPOINT_URL", s3.url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    if catalog == "postgres":
        monkeypatch.setenv("WORKBENCH_CATALOG_URL", request.getfixturevalue("postgres_url"))
    return request.param
