"""Shared pieces of the security probes: a cluster with one worker, and "did anything leak?"."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from data_probes import redis_dump
from wb_cluster import Cluster, make_cluster, wait_for


def start_cluster(tmp: Path, broker_url: str, name: str, **env: str) -> Cluster:
    cl = make_cluster(tmp, broker_url, **env)
    cl.start_worker(name, concurrency=1)
    return cl


def use_env(cluster: Cluster) -> Any:
    """This process's WORKBENCH_* environment set to the cluster's, for a module."""
    mp = pytest.MonkeyPatch()
    for var in list(os.environ):
        if var.startswith("WORKBENCH_"):
            mp.delenv(var)
    for key, value in cluster.env.items():
        mp.setenv(key, value)
    return mp


def all_output(cluster: Cluster, *extra: Any) -> bytes:
    """Logs of every worker, every Redis key and stream, the catalog's rows, and ``extra``."""
    import json

    import sqlalchemy as sa

    out = bytearray()
    for log in cluster.logs.values():
        if log.exists():
            out += log.read_bytes()
    out += redis_dump(cluster)
    catalog = cluster.ctx().catalog
    with catalog.engine.connect() as conn:
        meta = sa.MetaData()
        meta.reflect(bind=conn)
        for table in meta.sorted_tables:
            for row in conn.execute(table.select()):
                out += json.dumps([str(v) for v in row]).encode() + b"\n"
    for item in extra:
        out += str(item).encode() + b"\n"
    return bytes(out)


def log_lines(cluster: Cluster, name: str, needle: str) -> list[str]:
    return [ln for ln in cluster.logs[name].read_text(errors="replace").splitlines() if needle in ln]


def wait_log(cluster: Cluster, name: str, needle: str, count: int = 1) -> list[str]:
    """Wait (a guard against hangs) until the worker's log holds ``needle`` ``count`` times."""
    return wait_for(lambda: (lines := log_lines(cluster, name, needle)) and len(lines) >= count
                    and lines, f"{needle!r} in the log of worker {name}")


__all__ = ["all_output", "log_lines", "start_cluster", "use_env", "wait_log"]
