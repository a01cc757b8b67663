"""Redis lost while a worker is still catching up with the catalog, in the first moments of a task:
the task goes on without the Redis calls it can do without (the queued marker, the stuck check of
a job, a health probe), ends with its final state, and the worker serves the next job.

The gate is the catalog itself: PostgreSQL is stopped before the task arrives, so the task waits
in its first catalog call (the worker logs that it is retrying); Redis is killed there, and only
then the catalog started again, so the task's next Redis call meets a dead server. Redis keeps
its data across the stop (an append-only file), as production does.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from celery.result import AsyncResult

import workbench as wb
from servers import create_database, start_postgres, start_redis
from wb_cluster import make_cluster, write_csv
from workbench.catalog_identity import catalog_id
from workbench.worker import keys
from workbench.worker.submit import send_run
from workbench.worker.task_result import wait_for_result

from invariants import assert_clean_dataset, assert_settled, wait_until

pytestmark = pytest.mark.services

TIMEOUT = 240

JOB_QUEUES = "ingestion,transformation,persistence,pipeline,notebooks"
M1 = {"WORKBENCH_STALE_AFTER": "3600"}


@pytest.fixture(scope="module")
def pickup_cluster(tmp_path_factory):
    """A PostgreSQL catalog and a Redis of its own (both stopped by the tests); ``p1`` runs the
    jobs, ``m1`` the maintenance tasks, one pool process each, both through one task before
    the first test (a first task also loads what the later ones find loaded). To ``m1``
    no job is stale for an hour: the stuck checks every worker queues at its start leave the
    tests' jobs alone."""
    pg = start_postgres()
    redis = start_redis(persistent=True)
    url = create_database(pg, f"cat_{uuid.uuid4().hex[:8]}")
    tmp = tmp_path_factory.mktemp("wb-pickup")
    cl = make_cluster(tmp, redis.url, hard_limit=600, visibility_timeout=900,
                      WORKBENCH_CATALOG_URL=url)
    cl.pg, cl.redis_server = pg, redis  # type: ignore[attr-defined]
    cl.start_worker("p1", queues=JOB_QUEUES, cli=True)
    _start_maintenance(cl, "m1", **M1)
    _serves_next_job(cl, tmp, "warm_up")
    yield cl
    cl.stop()
    redis.stop()
    pg.stop()


def _start_maintenance(cl, name: str, **env: str) -> None:
    """A maintenance worker, once it has run the stuck-job check every worker queues at its
    start (so that check is not the task the test's outage meets)."""
    since = _log_from(cl, name) if name in cl.logs else 0
    cl.start_worker(name, queues="maintenance", cli=True, **env)
    wait_until(lambda: _logged(cl, name, since, "stuck jobs checked"),
               f"{name} to run its start-up stuck check", TIMEOUT)


def _log_from(cl, name: str) -> int:
    return cl.logs[name].stat().st_size


def _log_records(cl, name: str, since: int) -> list[dict]:
    with open(cl.logs[name], "rb") as f:
        f.seek(since)
        lines = f.read().decode(errors="replace").splitlines()
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # Celery's own lines are not JSON
    return out


def _logged(cl, name: str, since: int, text: str, **fields: str) -> list[dict]:
    return [r for r in _log_records(cl, name, since) if text in r.get("message", "")
            and all(r.get(k) == v for k, v in fields.items())]


def _redis_killed_while_catalog_waits(cl, name: str, since: int, **fields: str) -> None:
    """The task is waiting for the stopped catalog: kill Redis there, then start the catalog."""
    wait_until(lambda: _logged(cl, name, since, "catalog unreachable, retrying", **fields),
               "the task to wait for the catalog", TIMEOUT)
    cl.redis_server.proc.kill()  # gone at once, as in a crash or a network cut
    cl.redis_server.proc.wait(30)
    cl.pg.start()


def _serves_next_job(cl, tmp_path: Path, name: str) -> None:
    for worker in cl.workers:
        assert cl.workers[worker].poll() is None, cl.logs[worker].read_text()[-3000:]
    src = write_csv(tmp_path / "next.csv", 100)
    job = cl.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset(name)))
    assert job.wait(TIMEOUT).status == "succeeded", job.error
    out = wait_for_result(cl.app.send_task("workbench.health_check", queue="maintenance"), TIMEOUT)
    assert out["ok"] is True, out
    # every message acknowledged, so the next test's outage cuts no ack
    wait_until(lambda: cl.redis().hlen("unacked") == 0, "every task to be acknowledged", TIMEOUT)


def test_redis_lost_before_the_queued_marker_is_dropped(pickup_cluster, tmp_path):
    """Redis killed as the worker takes a job (before it drops the job's queued marker): the job
    runs to the end once, its events reach the client after Redis is back, and the marker it
    could not drop is left to expire (the stuck check reads it only for a job still queued).
    The catalog's restart dropped the worker's pooled connections: the job's Iceberg commit gets
    a fresh one (it used to fail the job with the raw AdminShutdown error)."""
    cl = pickup_cluster
    src = write_csv(tmp_path / "in.csv", 1_000)
    marker, gate = tmp_path / "running", tmp_path / "gate"
    pipeline = wb.Pipeline(
        source=wb.file(str(src)),
        steps=[wb.python("wbtest_steps:wait_for_gate", marker=str(marker), gate=str(gate))],
        sink=wb.dataset("marker_kept"))
    # What CeleryRunner.submit does, with the catalog stopped between its record and its message
    ctx = cl.ctx()
    job_id = uuid.uuid4().hex
    spec = pipeline.model_dump(mode="json")
    ctx.catalog.create_job(job_id=job_id, namespace=ctx.namespace, spec=spec, runner="celery",
                           name=pipeline.name)
    options = {"catalog": catalog_id(ctx.catalog)}
    since = _log_from(cl, "p1")
    cl.pg.stop()
    send_run(cl.app, cl.redis(), ctx.namespace, job_id, spec, options)
    _redis_killed_while_catalog_waits(cl, "p1", since, job_id=job_id)
    wait_until(marker.exists, "the job to run with Redis away", TIMEOUT)
    cl.redis_server.start()
    gate.touch()

    job = cl.runner().attach(job_id).wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    kinds = [e.kind for e in job.events]
    assert kinds[0] == "job_started" and kinds[-1] == "job_finished", kinds
    # read from its record, not through this client's result subscription (task_result.py)
    assert wait_for_result(AsyncResult(job_id, app=cl.app), TIMEOUT)["status"] == "succeeded"
    ctx = cl.ctx()
    rec = assert_settled(ctx, [job_id])[0]
    assert (rec["status"], rec["attempts"]) == ("succeeded", 1)
    assert_clean_dataset(ctx, cl.home / "storage", "marker_kept", [1])
    r = cl.redis()
    marker_key = keys.queued(ctx.namespace, job_id)
    assert r.exists(marker_key) == 1 and 0 < r.ttl(marker_key) <= 30 * 86400
    _serves_next_job(cl, tmp_path, "after_marker_kept")


def test_redis_lost_during_the_stuck_check(pickup_cluster, tmp_path):
    """Redis killed while the stuck-job check reads the open jobs: the check of a queued job is
    skipped with a warning (never a re-queue on a guess) and the task reports nothing done; run
    again with Redis back, it finds the job's message still there and leaves it alone. A queued
    job younger than the stale threshold is not looked at at all."""
    cl = pickup_cluster
    nothing = {"requeued": [], "failed": [], "lost_messages": []}
    cl.stop_worker("p1")  # the job stays queued
    src = write_csv(tmp_path / "in.csv", 100)
    job = cl.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("waited")))
    young = cl.app.send_task("workbench.detect_stuck_jobs", queue="maintenance")
    assert wait_for_result(young, TIMEOUT) == nothing  # m1: stale after an hour
    cl.stop_worker("m1")
    # stale after 0 s: a queued job is at once old enough for the check to look for its message
    _start_maintenance(cl, "m_stale", WORKBENCH_STALE_AFTER="0")
    try:
        since = _log_from(cl, "m_stale")
        cl.pg.stop()
        res = cl.app.send_task("workbench.detect_stuck_jobs", queue="maintenance")
        _redis_killed_while_catalog_waits(cl, "m_stale", since, task="detect_stuck_jobs")
        wait_until(lambda: _logged(cl, "m_stale", since, f"stuck check of {job.id} skipped"),
                   "the check of the queued job to be skipped", TIMEOUT)
        cl.redis_server.start()
        assert wait_for_result(res, TIMEOUT) == nothing
        again = cl.app.send_task("workbench.detect_stuck_jobs", queue="maintenance")
        assert wait_for_result(again, TIMEOUT) == nothing
        assert cl.ctx().catalog.get_job(job.id)["status"] == "queued"
        assert cl.redis().llen("pipeline") == 1  # its one message, never sent twice
    finally:
        cl.stop_worker("m_stale")
        _start_maintenance(cl, "m1", **M1)
        cl.start_worker("p1", queues=JOB_QUEUES, cli=True)
    assert job.wait(TIMEOUT).status == "succeeded", job.error
    ctx = cl.ctx()
    assert assert_settled(ctx, [job.id])[0]["attempts"] == 1
    assert_clean_dataset(ctx, cl.home / "storage", "waited", [1])
    _serves_next_job(cl, tmp_path, "after_waited")


def test_a_failing_health_probe_is_reported_not_raised(pickup_cluster, tmp_path):
    """The catalog down past a worker's retry window while it answers a health check: the
    catalog probe says why (masked), storage and Redis still answer, and the check is not ok."""
    cl = pickup_cluster
    cl.stop_worker("m1")
    _start_maintenance(cl, "m_short", WORKBENCH_CATALOG_RETRY_WINDOW="2")
    try:
        cl.pg.stop()
        try:
            out = wait_for_result(cl.app.send_task("workbench.health_check",
                                                  queue="maintenance"), TIMEOUT)
        finally:
            cl.pg.start()
        assert out["ok"] is False
        checks = out["checks"]
        assert checks["storage"]["ok"] is True and checks["redis"]["ok"] is True, checks
        assert checks["catalog"]["ok"] is False
        assert checks["catalog"]["error"].startswith("CatalogUnavailable: "), checks["catalog"]
        ok = wait_for_result(cl.app.send_task("workbench.health_check", queue="maintenance"),
                             TIMEOUT)
        assert ok["ok"] is True, ok
    finally:
        cl.stop_worker("m_short")
        _start_maintenance(cl, "m1", **M1)
    _serves_next_job(cl, tmp_path, "after_probe")
