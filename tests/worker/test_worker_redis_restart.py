"""Redis restarted (losing everything) and whole workers lost: no job is lost, none doubled."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

import workbench as wb
from servers import start_redis
from wb_cluster import make_cluster, storage_files, wait_for, write_csv

pytestmark = pytest.mark.services

TIMEOUT = 120


@pytest.fixture(scope="module")
def restart_cluster(tmp_path_factory):
    """Its own redis-server (restarted by the tests), one worker and beat checking for stuck jobs
    every second; a long visibility timeout, so only the stuck-job check can recover work."""
    redis = start_redis()
    cl = make_cluster(tmp_path_factory.mktemp("wb-restart"), redis.url, hard_limit=60,
                      visibility_timeout=600, WORKBENCH_STUCK_CHECK_INTERVAL="1",
                      WORKBENCH_STALE_AFTER="3")
    cl.redis_server = redis  # type: ignore[attr-defined]
    cl.start_worker("r1", concurrency=2)
    log = cl.home / "beat.log"
    beat = subprocess.Popen([sys.executable, "-m", "workbench", "beat",
                             "--schedule", str(cl.home / "beat-schedule")],
                            cwd=cl.home, env=cl.process_env(), stdout=open(log, "ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    yield cl
    beat.terminate()
    beat.wait(20)
    cl.stop()
    redis.stop()


def test_redis_restart_loses_no_job(restart_cluster, tmp_path):
    cl = restart_cluster
    src = write_csv(tmp_path / "in.csv", 2_000)
    runner = cl.runner()
    markers = [tmp_path / f"slow{i}" for i in range(2)]
    running = [runner.submit(wb.Pipeline(
        source=wb.file(str(src)), steps=[wb.python("wbtest_steps:slow", marker=str(m), seconds=3)],
        sink=wb.dataset(f"running{i}"))) for i, m in enumerate(markers)]
    for m in markers:
        wait_for(m.exists, "both slow jobs to run")
    queued = [runner.submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset(f"queued{i}")))
              for i in range(4)]
    assert {cl.ctx().catalog.get_job(j.id)["status"] for j in queued} == {"queued"}

    restarted_at = time.time()
    cl.redis_server.restart()  # --save "": every queued message and stream is gone

    jobs = running + queued
    for j in jobs:
        j.wait(TIMEOUT)
    assert {j.status for j in jobs} == {"succeeded"}, [(j.id, j.status, j.state.error) for j in jobs]
    ctx = cl.ctx()
    for j in jobs:
        name = j.result.name
        assert [v.version for v in ctx.catalog.list_versions(ctx.namespace, name)] == [1]
        assert ctx.catalog.get_job(j.id)["attempts"] == 1
        named = sorted(f["key"].split(f"/datasets/{name}/", 1)[1] for f in j.result.files)
        assert storage_files(cl.home, name) == sorted(named + ["v000001.manifest.json"])
    # The queued jobs came back through the stuck-job check, and their progress reached us:
    # the reader reconnected to the new Redis and read streams written after the restart.
    for j in queued:
        assert any("re-queued" in msg and "lost" in msg for msg in j.state.messages)
        assert any(e.kind == "job_started" and e.ts > restarted_at for e in j.events)
    from workbench.runners.celery_runner import _hub

    assert _hub(cl.broker_url, runner.ctx).reconnects >= 1


def test_whole_worker_killed_is_requeued_by_the_stuck_check(restart_cluster, tmp_path):
    cl = restart_cluster
    cl.start_worker("r2", concurrency=1)
    src = write_csv(tmp_path / "in.csv", 1_000)
    marker = tmp_path / "started"
    job = cl.runner().submit(wb.Pipeline(
        source=wb.file(str(src)), steps=[wb.python("wbtest_steps:slow", marker=str(marker), seconds=2)],
        sink=wb.dataset("orphan")))
    pid = int(wait_for(lambda: marker.exists() and marker.read_text().split(), "the job to run")[0])
    import os

    victim = next(n for n, w in cl.workers.items() if os.getpgid(pid) == w.pid)
    cl.kill_worker(victim)  # main process and pool: its unacked message waits 600 s in Redis
    job.wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    assert any("re-queued" in m and "stopped" in m for m in job.state.messages)
    record = cl.ctx().catalog.get_job(job.id)
    assert record["attempts"] == 2 and not record["worker"].startswith(victim)
    assert storage_files(cl.home, "orphan") == sorted(
        [f["key"].split("/datasets/orphan/", 1)[1] for f in job.result.files]
        + ["v000001.manifest.json"])
