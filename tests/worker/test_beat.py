"""`workbench beat` really fires the maintenance: a real beat process, on intervals shortened by
its settings, sends the cleanup and the stream expiry to a real worker, and their effects show
in the catalog, the storage and Redis. Nothing here sends a maintenance task itself."""

from __future__ import annotations

import subprocess
import sys

import pytest

import workbench as wb
from servers import redis_db
from wb_cluster import make_cluster, wait_for
from workbench.worker import keys

pytestmark = pytest.mark.services

TIMEOUT = 120
STREAM_TTL = 20  # seconds a stream without a TTL gets from beat's expiry


@pytest.fixture
def beat_cluster(redis_server, tmp_path):
    """A home and Redis database of this test's own, one worker (two pool processes, every
    queue), and beat's intervals and the cleanup's retention in seconds instead of days."""
    cl = make_cluster(tmp_path, redis_db(redis_server),
                      WORKBENCH_CLEANUP_INTERVAL="2", WORKBENCH_EXPIRE_INTERVAL="2",
                      WORKBENCH_RETENTION_SECONDS="0", WORKBENCH_STREAM_TTL=str(STREAM_TTL))
    cl.start_worker("beatw", concurrency=2)
    cl.beat = None  # type: ignore[attr-defined]
    yield cl
    if cl.beat is not None:  # type: ignore[attr-defined]
        cl.beat.terminate()  # type: ignore[attr-defined]
        try:
            cl.beat.wait(20)  # type: ignore[attr-defined]
        except subprocess.TimeoutExpired:
            cl.beat.kill()  # type: ignore[attr-defined]
            cl.beat.wait(10)  # type: ignore[attr-defined]
    cl.stop()


def start_beat(cl) -> subprocess.Popen:
    log = cl.home / "beat.log"
    cl.logs["beat"] = log
    cl.beat = subprocess.Popen(
        [sys.executable, "-m", "workbench", "beat", "--schedule", str(cl.home / "beat-schedule")],
        cwd=cl.home, env=cl.process_env(), stdout=open(log, "ab"), stderr=subprocess.STDOUT,
        start_new_session=True)
    return cl.beat


def test_beat_fires_the_cleanup_and_the_stream_expiry(beat_cluster, tmp_path):
    cl = beat_cluster
    ctx = cl.ctx()
    r = cl.redis()
    # --- the state beat will find: a soft-deleted version, and streams without a TTL
    from workbench.maintenance import soft_delete

    src = tmp_path / "in.csv"
    src.write_text("a\n1\n2\n")
    runner = cl.runner()
    jobs = []
    for _ in range(2):  # one after the other: version 1, then 2
        jobs.append(runner.submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("purged"))))
        assert jobs[-1].wait(TIMEOUT).status == "succeeded", jobs[-1].error
    assert [j.result.version for j in jobs] == [1, 2]
    first = ctx.catalog.list_versions(ctx.namespace, "purged")[0]
    first_files = [f["key"] for f in jobs[0].result.files]
    assert first_files and all(ctx.storage.exists(k) for k in first_files)
    soft_delete(ctx, "purged", 1)
    assert [(v.version, v.deleted_at is not None) for v in ctx.catalog.list_versions(
        ctx.namespace, "purged", include_deleted=True)] == [(1, True), (2, False)]
    assert ctx.storage.exists(first.manifest_key)

    finished = keys.events("default", jobs[0].id)
    r.persist(finished)  # as an old version left it: no TTL
    orphan = keys.events("default", "0123456789abcdef0123456789abcdef")  # no job record
    r.xadd(orphan, {"e": "{}"})
    assert (r.ttl(finished), r.ttl(orphan)) == (-1, -1)

    # --- beat starts; from here on the test only watches
    start_beat(cl)

    # the cleanup purged the soft-deleted version: its row and its manifest are gone, the
    # live version reads as before
    wait_for(lambda: [v.version for v in ctx.catalog.list_versions(
        ctx.namespace, "purged", include_deleted=True)] == [2], "beat's cleanup", TIMEOUT)
    assert not ctx.storage.exists(first.manifest_key)
    assert not any(ctx.storage.exists(k) for k in first_files)
    from workbench.dataset_store import scan_dataset

    assert scan_dataset(ctx, "purged").collect().height == 2

    # the expiry gave both streams a TTL: a finished job's at most a minute past its end
    # (beat's floor for it), one without a job record the stream TTL
    wait_for(lambda: r.ttl(finished) > 0 and r.ttl(orphan) > 0, "beat's stream expiry", TIMEOUT)
    assert 0 < r.ttl(finished) <= 60 and 0 < r.ttl(orphan) <= STREAM_TTL
    # ... and Redis drops them when it runs out (beat sets it again only on a stream without one)
    wait_for(lambda: not r.exists(orphan), "the stream without a job to expire", STREAM_TTL + TIMEOUT)
    wait_for(lambda: not r.exists(finished), "the finished job's stream to expire", 60 + TIMEOUT)

    # it was beat: the worker received these tasks, sent by nothing else in this test
    beat_log = cl.logs["beat"].read_text(errors="replace")
    assert "workbench-cleanup" in beat_log and "workbench-expire-streams" in beat_log
    worker_log = cl.logs["beatw"].read_text(errors="replace")
    assert "workbench.cleanup" in worker_log and "workbench.expire_streams" in worker_log
    # the job's record outlives its stream: reattaching still shows how it ended
    again = runner.attach(jobs[0].id)
    assert again.status == "succeeded" and again.result.version == 1
