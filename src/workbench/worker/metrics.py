"""Prometheus metrics on a worker's port: jobs by state, task durations, retries, queue depth,
rows and bytes processed.

Tasks run in pool processes that come and go (``max_tasks_per_child``), so they add their numbers
to one Redis hash; the worker's main process serves ``/metrics`` and reads that hash, the
catalog (jobs by state) and the queue lengths on each scrape. The counters are therefore
cluster-wide: every worker reports the same totals, and a dashboard takes ``max`` across them.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

from ..catalog import JOB_STATES, jobs
from . import keys
from .config import QUEUES

log = logging.getLogger("workbench.worker.metrics")

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0)


def record_rows(redis: Any, namespace: str, rows: int, nbytes: int) -> None:
    """Rows and input bytes a finished job (or fan-out part) processed."""
    try:
        pipe = redis.pipeline(transaction=False)
        pipe.hincrby(keys.metrics(namespace), "rows", int(rows))
        pipe.hincrby(keys.metrics(namespace), "bytes", int(nbytes))
        pipe.execute()
    except Exception as exc:
        log.debug("metrics not recorded: %s", exc)


def record_task(redis: Any, namespace: str, task: str, state: str, seconds: float,
                *, rows: int = 0, nbytes: int = 0) -> None:
    """Add one task run to the shared counters; never fails the task."""
    try:
        pipe = redis.pipeline(transaction=False)
        h = keys.metrics(namespace)
        pipe.hincrby(h, f"tasks|{task}|{state}", 1)
        pipe.hincrbyfloat(h, f"duration_sum|{task}", seconds)
        pipe.hincrby(h, f"duration_count|{task}", 1)
        for le in BUCKETS:
            if seconds <= le:
                pipe.hincrby(h, f"duration_bucket|{task}|{le}", 1)
        if rows:
            pipe.hincrby(h, "rows", int(rows))
        if nbytes:
            pipe.hincrby(h, "bytes", int(nbytes))
        pipe.execute()
    except Exception as exc:
        log.debug("metrics not recorded: %s", exc)


def record_retry(redis: Any, namespace: str, task: str) -> None:
    try:
        redis.hincrby(keys.metrics(namespace), f"retries|{task}", 1)
    except Exception as exc:
        log.debug("metrics not recorded: %s", exc)


class WorkbenchCollector:
    """A Prometheus collector that reads the shared state at scrape time."""

    def __init__(self, redis: Any, catalog: Any, namespace: str) -> None:
        self.redis, self.catalog, self.namespace = redis, catalog, namespace

    def collect(self) -> Iterator[Any]:
        # heavy optional dependency: imported on first use
        from prometheus_client.core import (
            CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily,
        )

        jobs = GaugeMetricFamily("workbench_jobs", "Jobs in the catalog by state", labels=["state"])
        for state, n in self._job_counts().items():
            jobs.add_metric([state], n)
        yield jobs

        depth = GaugeMetricFamily("workbench_queue_depth", "Messages waiting per queue",
                                  labels=["queue"])
        try:
            pipe = self.redis.pipeline(transaction=False)
            for q in QUEUES:
                pipe.llen(q)
            for q, n in zip(QUEUES, pipe.execute()):
                depth.add_metric([q], n)
        except Exception as exc:
            log.debug("queue depth unavailable: %s", exc)
        yield depth

        try:
            raw = self.redis.hgetall(keys.metrics(self.namespace))
        except Exception:
            raw = {}
        tasks = CounterMetricFamily("workbench_tasks", "Task runs by task and outcome",
                                    labels=["task", "state"])
        retries = CounterMetricFamily("workbench_task_retries", "Task retries", labels=["task"])
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        buckets: dict[str, dict[float, int]] = {}
        for field, value in raw.items():
            parts = field.split("|")
            if parts[0] == "tasks":
                tasks.add_metric([parts[1], parts[2]], float(value))
            elif parts[0] == "retries":
                retries.add_metric([parts[1]], float(value))
            elif parts[0] == "duration_sum":
                sums[parts[1]] = float(value)
            elif parts[0] == "duration_count":
                counts[parts[1]] = int(value)
            elif parts[0] == "duration_bucket":
                buckets.setdefault(parts[1], {})[float(parts[2])] = int(value)
        yield tasks
        yield retries
        hist = HistogramMetricFamily("workbench_task_duration_seconds", "Task run time",
                                     labels=["task"])
        for task, count in counts.items():
            b = buckets.get(task, {})
            pairs = [(str(le), b.get(le, 0)) for le in BUCKETS] + [("+Inf", count)]
            hist.add_metric([task], pairs, sums.get(task, 0.0))
        yield hist
        rows = CounterMetricFamily("workbench_rows_processed", "Rows read by finished jobs")
        rows.add_metric([], float(raw.get("rows", 0)))
        yield rows
        nbytes = CounterMetricFamily("workbench_bytes_processed", "Input bytes read by finished jobs")
        nbytes.add_metric([], float(raw.get("bytes", 0)))
        yield nbytes

    def _job_counts(self) -> dict[str, int]:
        # heavy optional dependency: imported on first use
        import sqlalchemy as sa

        counts = {s: 0 for s in JOB_STATES}
        try:
            q = (sa.select(jobs.c.status, sa.func.count()).where(jobs.c.namespace == self.namespace)
                 .group_by(jobs.c.status))
            for status, n in self.catalog.rows(q):
                counts[status] = int(n)
        except Exception as exc:
            log.debug("job counts unavailable: %s", exc)
        return counts


def serve(port: int, redis: Any, catalog: Any, namespace: str) -> Any:
    """Start ``/metrics`` on ``port`` in this process (a daemon thread); returns the server."""
    # heavy optional dependency: imported on first use
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkbenchCollector(redis, catalog, namespace))
    server = start_http_server(port, registry=registry)
    log.info("metrics on port %d", port)
    return server
