"""The catalog (PostgreSQL) stopped while a job runs: catalog calls wait it out with backoff, the
job's final state is written once it is back, and the task message is acknowledged only then."""

from __future__ import annotations

import time
import uuid

import pytest

import workbench as wb
from servers import create_database, redis_db, start_postgres
from wb_cluster import make_cluster, write_csv

from invariants import assert_clean_dataset, assert_settled, wait_until

pytestmark = pytest.mark.services

TIMEOUT = 240


@pytest.fixture(scope="module")
def pg_cluster(redis_server, tmp_path_factory):
    pg = start_postgres()
    url = create_database(pg, f"cat_{uuid.uuid4().hex[:8]}")
    cl = make_cluster(tmp_path_factory.mktemp("wb-catalog"), redis_db(redis_server),
                      hard_limit=600, visibility_timeout=900, WORKBENCH_CATALOG_URL=url,
                      WORKBENCH_STALE_AFTER="120")
    cl.pg = pg  # type: ignore[attr-defined]
    cl.start_worker("c1", concurrency=2)
    yield cl
    cl.stop()
    pg.stop()


def test_catalog_down_mid_job(pg_cluster, tmp_path):
    """PostgreSQL stopped for 20 s while a job runs and finishes: no raw driver error, the job
    ends ``succeeded`` (written after the catalog came back), its message is acknowledged after
    that, one version exists, and the next job runs."""
    cl = pg_cluster
    src = write_csv(tmp_path / "in.csv", 2_000)
    marker, gate, passed = tmp_path / "running", tmp_path / "gate", tmp_path / "passed"
    job = cl.runner().submit(wb.Pipeline(
        source=wb.file(str(src)),
        steps=[wb.python("wbtest_steps:wait_for_gate", marker=str(marker), gate=str(gate),
                         passed=str(passed))],
        sink=wb.dataset("through_outage")))
    wait_until(marker.exists, "the job to run")
    t0 = time.monotonic()
    cl.pg.stop()
    gate.touch()
    wait_until(passed.exists, "the step to pass its gate")
    r = cl.redis()
    # while the catalog is away the task cannot record its end, so it must not be acknowledged
    assert r.hlen("unacked") == 1
    time.sleep(max(0.0, 20 - (time.monotonic() - t0)))  # the outage's length, not a sync
    assert r.hlen("unacked") == 1
    cl.pg.start()
    job.wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    ctx = cl.ctx()
    rec = assert_settled(ctx, [job.id])[0]
    assert rec["attempts"] == 1
    assert_clean_dataset(ctx, cl.home / "storage", "through_outage", [1])
    wait_until(lambda: r.hlen("unacked") == 0, "the message to be acknowledged", TIMEOUT)
    log = cl.logs["c1"].read_text()
    assert "catalog unreachable, retrying" in log
    nxt = cl.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("after_outage")))
    nxt.wait(TIMEOUT)
    assert nxt.status == "succeeded", nxt.error


def test_catalog_down_past_the_window_is_retried_not_acknowledged(pg_cluster, tmp_path,
                                                                 monkeypatch):
    """Past WORKBENCH_CATALOG_RETRY_WINDOW the task is retried later (a new message) instead of
    being acknowledged with the job still ``running``; once the catalog is back the job ends in a
    final state and no version is doubled."""
    cl = pg_cluster
    cl.start_worker("short", concurrency=1, queues="pipeline",
                    WORKBENCH_CATALOG_RETRY_WINDOW="3", WORKBENCH_RETRY_BACKOFF_MAX="2")
    cl.stop_worker("c1")
    try:
        src = write_csv(tmp_path / "in.csv", 1_000)
        marker, gate, passed = tmp_path / "running", tmp_path / "gate", tmp_path / "passed"
        job = cl.runner().submit(wb.Pipeline(
            source=wb.file(str(src)),
            steps=[wb.python("wbtest_steps:wait_for_gate", marker=str(marker), gate=str(gate),
                             passed=str(passed))],
            sink=wb.dataset("past_window")))
        wait_until(marker.exists, "the job to run")
        cl.pg.stop()
        gate.touch()
        wait_until(lambda: "catalog unavailable, task retried" in cl.logs["short"].read_text(),
                   "the task to give up on the catalog and retry", TIMEOUT)
        cl.pg.start()
        job.wait(TIMEOUT)
        ctx = cl.ctx()
        rec = assert_settled(ctx, [job.id])[0]
        assert rec["status"] == "succeeded", rec
        assert_clean_dataset(ctx, cl.home / "storage", "past_window", [1])
    finally:
        cl.stop_worker("short")
        cl.start_worker("c1", concurrency=2)
