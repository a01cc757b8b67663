"""Redis restarted (losing everything), whole workers and beat lost: no job is lost, none
doubled; a killed worker's job runs again through the heartbeat check, not the visibility
timeout."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

import workbench as wb
from servers import redis_db, start_redis
from wb_cluster import make_cluster, wait_for, write_csv

from invariants import assert_clean_dataset, assert_settled

pytestmark = pytest.mark.services

TIMEOUT = 120


@pytest.fixture(scope="module")
def restart_cluster(tmp_path_factory):
    """Its own redis-server (restarted by the tests), one worker and beat checking for stuck jobs
    every second; a long visibility timeout, so only the stuck-job check can recover work."""
    redis = start_redis()
    cl = make_cluster(tmp_path_factory.mktemp("wb-restart"), redis.url, hard_limit=60,
                      visibility_timeout=600, WORKBENCH_STUCK_CHECK_INTERVAL="1",
                      # 10 s without a heartbeat (one every 0.5 s) counts as dead: at 3 s, a
                      # re-queued job whose catalog writes waited on a loaded machine (load 14)
                      # was taken over once more by the second of two re-queued messages
                      WORKBENCH_STALE_AFTER="10")
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
    """Redis restarted without persistence while two jobs run and four are queued: all six end
    ``succeeded`` once each; the queued ones come back through the stuck-job check."""
    cl = restart_cluster
    src = write_csv(tmp_path / "in.csv", 2_000)
    runner = cl.runner()
    markers = [tmp_path / f"slow{i}" for i in range(2)]
    gate = tmp_path / "go"  # the two running jobs hold their data until after the restart
    running = [runner.submit(wb.Pipeline(
        source=wb.file(str(src)),
        steps=[wb.python("wbtest_steps:wait_for_gate", marker=str(m), gate=str(gate))],
        sink=wb.dataset(f"running{i}"))) for i, m in enumerate(markers)]
    for m in markers:
        wait_for(m.exists, "both slow jobs to run")
    queued = [runner.submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset(f"queued{i}")))
              for i in range(4)]
    assert {cl.ctx().catalog.get_job(j.id)["status"] for j in queued} == {"queued"}

    from workbench.runners.celery_runner import _hub

    reconnects_before = _hub(cl.broker_url, runner.ctx).reconnects
    restarted_at = time.time()
    cl.redis_server.restart()  # --save "": every queued message and stream is gone
    gate.touch()

    jobs = running + queued
    for j in jobs:
        j.wait(TIMEOUT)
    assert {j.status for j in jobs} == {"succeeded"}, [(j.id, j.status, j.state.error) for j in jobs]
    ctx = cl.ctx()
    for j in jobs:
        name = j.result.name
        assert [v.version for v in ctx.catalog.list_versions(ctx.namespace, name)] == [1]
        assert ctx.catalog.get_job(j.id)["attempts"] == 1
        assert_clean_dataset(ctx, cl.home / "storage", name, [1])  # the manifest's files only
    assert_settled(ctx, [j.id for j in jobs])
    # The queued jobs came back through the stuck-job check, and their progress reached us:
    # the reader reconnected to the new Redis and read streams written after the restart.
    for j in queued:
        assert any("re-queued" in msg and "lost" in msg for msg in j.state.messages)
        assert any(e.kind == "job_started" and e.ts > restarted_at for e in j.events)
    # one restart, one reconnect (the reader is per process: counted from before the restart)
    assert _hub(cl.broker_url, runner.ctx).reconnects == reconnects_before + 1


def test_whole_worker_killed_is_requeued_by_the_stuck_check(restart_cluster, tmp_path):
    """SIGKILL of a worker's main process and pool mid-job: the stuck-job check re-queues the
    job long before the visibility timeout; it commits once, attempt 1's files are gone."""
    cl = restart_cluster
    for name in list(cl.workers):
        cl.stop_worker(name)  # the job runs on r2 alone, a worker that ran nothing else
    cl.start_worker("r2", concurrency=1)
    src = write_csv(tmp_path / "in.csv", 1_000)
    marker, gate = tmp_path / "started", tmp_path / "gate"
    job = cl.runner().submit(wb.Pipeline(
        source=wb.file(str(src)),
        steps=[wb.python("wbtest_steps:wait_for_gate", marker=str(marker), gate=str(gate))],
        sink=wb.dataset("orphan")))
    pid = int(wait_for(lambda: marker.exists() and marker.read_text().split(), "the job to run")[0])
    import os

    assert os.getpgid(pid) == cl.workers["r2"].pid
    cl.kill_worker("r2")  # main process and pool: its unacked message waits 600 s in Redis
    gate.touch()  # attempt 2 goes straight through
    cl.start_worker("r1", concurrency=2)  # takes beat's stuck checks and the re-queued job
    job.wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    assert any("re-queued" in m and "stopped" in m for m in job.state.messages)
    record = cl.ctx().catalog.get_job(job.id)
    assert record["attempts"] == 2 and record["worker"].startswith("r1@wb")
    assert_settled(cl.ctx(), [job.id])
    assert_clean_dataset(cl.ctx(), cl.home / "storage", "orphan", [1])


# ----------------------------------------------------------------------------- default settings
def _start_beat(cl) -> subprocess.Popen:
    log = cl.home / "beat.log"
    return subprocess.Popen([sys.executable, "-m", "workbench", "beat",
                             "--schedule", str(cl.home / "beat-schedule")],
                            cwd=cl.home, env=cl.process_env(), stdout=open(log, "ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture(scope="module")
def default_cluster(redis_server, tmp_path_factory):
    """Two workers and beat on the shipped heartbeat settings (beat every 5 s, stale after
    60 s, stuck check every 20 s) and a long visibility timeout."""
    import os

    cl = make_cluster(tmp_path_factory.mktemp("wb-defaults"),
                      redis_db(redis_server), hard_limit=600,
                      visibility_timeout=3600)
    for var in ("WORKBENCH_HEARTBEAT_INTERVAL", "WORKBENCH_STALE_AFTER"):
        cl.env.pop(var, None)
    cl.start_worker("d1")
    cl.start_worker("d2")
    cl.beat = _start_beat(cl)  # type: ignore[attr-defined]
    yield cl
    cl.beat.kill()
    cl.beat.wait(20)
    cl.stop()
    assert os.environ.get("WORKBENCH_STALE_AFTER") is None


def _killed_mid_job_runs_again(cl, tmp_path, name: str) -> None:
    import os
    import signal

    src = write_csv(tmp_path / "in.csv", 1_000)
    marker, gate = tmp_path / "running", tmp_path / "gate"
    job = cl.runner().submit(wb.Pipeline(
        source=wb.file(str(src)),
        steps=[wb.python("wbtest_steps:wait_for_gate", marker=str(marker), gate=str(gate))],
        sink=wb.dataset(name)))
    pid = int(wait_for(lambda: marker.exists() and marker.read_text().split(), "the job")[0])
    victim = next(n for n, w in cl.workers.items() if os.getpgid(pid) == w.pid)
    gate.touch()  # the second attempt goes straight through
    cl.kill_worker(victim, signal.SIGKILL)
    # the promise: running again within 2 minutes (the visibility timeout is an hour)
    wait_for(lambda: cl.ctx().catalog.get_job(job.id)["attempts"] == 2, "a second attempt", 120)
    job.wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    ctx = cl.ctx()
    assert ctx.catalog.get_job(job.id)["attempts"] == 2
    assert [v.version for v in ctx.catalog.list_versions(ctx.namespace, name)] == [1]
    assert_clean_dataset(ctx, cl.home / "storage", name, [1])
    assert_settled(ctx, [job.id])
    cl.start_worker(victim)  # back to two workers; the next job is fine
    nxt = cl.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset(f"{name}_next")))
    nxt.wait(TIMEOUT)
    assert nxt.status == "succeeded", nxt.error


def test_sigkill_of_main_worker_runs_again_within_two_minutes(default_cluster, tmp_path):
    """SIGKILL of a whole worker (main process and pool) on the shipped settings: its job runs
    again on the other worker within 2 minutes, through the heartbeat/stuck check."""
    _killed_mid_job_runs_again(default_cluster, tmp_path, "default_kill")


def test_beat_restarted(default_cluster, tmp_path):
    """Beat SIGKILLed and started again: its schedule goes on (stuck jobs are still found), so a
    worker killed afterwards still has its job run again within 2 minutes."""
    cl = default_cluster
    cl.beat.kill()
    cl.beat.wait(20)
    cl.beat = _start_beat(cl)
    _killed_mid_job_runs_again(cl, tmp_path, "after_beat_restart")


def test_a_worker_killed_on_the_last_attempt_dead_letters_the_job(restart_cluster, tmp_path):
    """SIGKILL of a whole worker while it runs a job's last attempt (two transient failures
    before it): the stuck-job check does not queue it again but fails it into the dead letters
    with the reason and a resubmit hint; the killed attempt leaves no file (its partial file was
    left behind), and the next job runs."""
    import os

    from workbench.worker.recovery import list_dead_letters

    cl = restart_cluster
    for name in list(cl.workers):
        cl.stop_worker(name)  # the job runs on r3 alone, a worker that ran nothing else
    cl.start_worker("r3", concurrency=1)
    src = write_csv(tmp_path / "in.csv", 1_000)
    counter, marker, gate = tmp_path / "count", tmp_path / "running", tmp_path / "gate"
    job = cl.runner().submit(wb.Pipeline(
        source=wb.file(str(src)),
        steps=[wb.python("wbtest_steps:flaky", counter=str(counter), failures=2),
               wb.python("wbtest_steps:wait_for_gate", marker=str(marker), gate=str(gate))],
        sink=wb.dataset("last_attempt")))
    pid = int(wait_for(lambda: marker.exists() and marker.read_text().split(), "attempt 3",
                       TIMEOUT)[0])
    assert cl.ctx().catalog.get_job(job.id)["attempts"] == 3  # WORKBENCH_MAX_RETRIES=2
    assert os.getpgid(pid) == cl.workers["r3"].pid
    cl.kill_worker("r3")  # main process and pool: its unacked message waits 600 s in Redis
    cl.start_worker("r1", concurrency=2)  # takes beat's stuck checks
    job.wait(TIMEOUT)
    assert job.status == "failed"
    err = job.state.error
    assert err["type"] == "InternalError", err
    assert err["message"].startswith("the job was stuck: its worker r3@wb"), err
    assert err["message"].endswith("after 3 attempts; it was moved to the dead letters"), err
    assert err["hint"] == f"`workbench dead-letters resubmit {job.id}` runs it again"
    assert [e.kind for e in job.events][-1] == "job_failed"
    ctx = cl.ctx()
    rec = assert_settled(ctx, [job.id])[0]
    assert (rec["status"], rec["attempts"]) == ("failed", 3)
    letters = {d["job_id"]: d for d in list_dead_letters(ctx)}
    assert letters[job.id]["task"] == "run_pipeline" and letters[job.id]["attempts"] == 3
    assert letters[job.id]["error"]["message"] == err["message"]
    assert_clean_dataset(ctx, cl.home / "storage", "last_attempt", [])
    nxt = cl.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("after_last")))
    assert nxt.wait(TIMEOUT).status == "succeeded", nxt.error
