from __future__ import annotations

import os

import pytest

from servers import free_port, redis_db
from wb_cluster import Cluster, make_cluster, write_csv


@pytest.fixture(scope="session")
def shared_cluster(redis_server, tmp_path_factory) -> Cluster:
    """One worker (2 pool processes, every queue) shared by the tests that do not kill it."""
    metrics_port = free_port()
    cl = make_cluster(tmp_path_factory.mktemp("wb-shared"), redis_db(redis_server),
                      WORKBENCH_METRICS_PORT=str(metrics_port),
                      # the tests write their notebooks in their own tmp_path
                      WORKBENCH_NOTEBOOK_ROOTS=str(tmp_path_factory.getbasetemp()))
    cl.metrics_port = metrics_port  # type: ignore[attr-defined]
    cl.start_worker("shared", concurrency=2)
    yield cl
    cl.stop()


@pytest.fixture(scope="module")
def cluster(shared_cluster: Cluster):
    """The shared cluster, with this process's environment pointing at it for the module."""
    with pytest.MonkeyPatch.context() as mp:
        for var in list(os.environ):
            if var.startswith("WORKBENCH_"):
                mp.delenv(var)
        for key, value in shared_cluster.env.items():
            mp.setenv(key, value)
        yield shared_cluster


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Inputs shared by a module: one CSV and a folder of four CSVs."""
    d = tmp_path_factory.mktemp("wb-data")
    write_csv(d / "sales.csv", 20_000, seed=1)
    (d / "parts").mkdir()
    for k in range(4):
        write_csv(d / "parts" / f"p{k}.csv", 5_000, start=k * 5_000, seed=10 + k)
    return d
