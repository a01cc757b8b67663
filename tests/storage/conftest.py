"""Fixtures for the storage tests: buckets on the session's moto server, and a storage of
each kind for the contract suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.settings import Settings
from workbench.storage.local import LocalStorage
from workbench.storage.s3 import S3Storage

from s3_helpers import FAST_RETRY, PART, make_bucket


@pytest.fixture
def bucket(s3_server) -> str:
    return make_bucket(s3_server.url)


@pytest.fixture
def s3_settings(s3_server, bucket, wb_home: Path) -> Settings:
    return Settings(home=wb_home, storage_url=f"s3://{bucket}/wb",
                    catalog_url=f"sqlite:///{wb_home / 'catalog.db'}",
                    s3_endpoint_url=s3_server.url, s3_region="auto", s3_addressing="path",
                    s3_access_key_id="testing", s3_secret_access_key="testing", part_size=PART)


@pytest.fixture
def s3_storage(s3_settings) -> S3Storage:
    return S3Storage.from_url(s3_settings.storage_url, s3_settings, retry=FAST_RETRY)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.services)])
def storage(request, tmp_path: Path):
    """The same contract suite runs on every backend."""
    if request.param == "local":
        return LocalStorage(tmp_path / "store")
    return request.getfixturevalue("s3_storage")


@pytest.fixture
def local_settings(wb_home: Path) -> Settings:
    return Settings(home=wb_home, storage_url=str(wb_home / "storage"),
                    catalog_url=f"sqlite:///{wb_home / 'catalog.db'}", part_size=PART)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.services)])
def any_settings(request) -> Settings:
    """Settings for a workbench on local storage, then on S3: same tests, both homes."""
    return request.getfixturevalue("local_settings" if request.param == "local" else "s3_settings")
