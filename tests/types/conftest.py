from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "worker"))  # the real-cluster helpers (wb_cluster)
sys.path.insert(0, str(HERE.parent / "storage"))  # the moto helpers (s3_helpers)

from typecases import polars_frame  # noqa: E402
from wb_cluster import Cluster, make_cluster  # noqa: E402
from servers import redis_db  # noqa: E402

RESULT_MAX_BYTES = 8_000_000


@pytest.fixture(scope="session")
def types_cluster(redis_server, tmp_path_factory) -> Cluster:
    """One real Celery worker (redis-server broker) on its own workbench home; results of
    pipelines without a sink are capped at 8 MB here so the limit is tested on both runners."""
    cl = make_cluster(tmp_path_factory.mktemp("wb-types"), redis_db(redis_server),
                      WORKBENCH_RESULT_MAX_BYTES=str(RESULT_MAX_BYTES))
    cl.start_worker("types", concurrency=1)
    yield cl
    cl.stop()


@pytest.fixture(scope="module")
def cluster(types_cluster: Cluster):
    """The cluster, with this process's environment pointing at it for the module."""
    with pytest.MonkeyPatch.context() as mp:
        for var in list(os.environ):
            if var.startswith("WORKBENCH_"):
                mp.delenv(var)
        for key, value in types_cluster.env.items():
            mp.setenv(key, value)
        yield types_cluster


@pytest.fixture(scope="session")
def every_type_parquet(tmp_path_factory) -> Path:
    """One Parquet file holding a column of every Polars type (with nulls and edge values)."""
    path = tmp_path_factory.mktemp("types-data") / "every_type.parquet"
    polars_frame().write_parquet(path)
    return path
