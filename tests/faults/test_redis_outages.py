"""Redis stopped under a busy or idle worker (``-c 2``, where kombu 5.7 used to crash the worker
the moment the connection dropped): the worker lives through it, keeps its running task, delivers
that task's events and result once Redis is back, and takes new jobs without a restart."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from celery.result import AsyncResult

import workbench as wb
from servers import start_redis
from wb_cluster import make_cluster, write_csv
from workbench.worker.task_result import wait_for_result

from invariants import assert_clean_dataset, assert_settled, wait_until

pytestmark = pytest.mark.services

TIMEOUT = 240


@pytest.fixture(scope="module")
def outage_cluster(tmp_path_factory):
    redis = start_redis(persistent=True)
    # each restart replays the append-only file (fsync on every write): at a load of 30 the
    # server was not listening after 30 s once; the bound is for a loaded machine, not speed
    redis.start_timeout = 120.0
    cl = make_cluster(tmp_path_factory.mktemp("wb-outage"), redis.url, hard_limit=600,
                      visibility_timeout=900)
    cl.redis_server = redis  # type: ignore[attr-defined]
    cl.start_worker("o1", concurrency=2, cli=True)  # `workbench worker`, two pool processes
    yield cl
    cl.stop()
    redis.stop()


def _outage(cl, seconds: float, during=None) -> None:
    """Stop Redis, let ``during`` act, keep it away for ``seconds`` in all, start it again."""
    t0 = time.monotonic()
    cl.redis_server.proc.kill()  # gone at once, as in a crash or a network cut
    cl.redis_server.proc.wait(30)
    if during is not None:
        during()
    left = seconds - (time.monotonic() - t0)
    if left > 0:
        time.sleep(left)  # the fault's length, not a synchronisation
    cl.redis_server.start()


def _worker_survived(cl) -> None:
    proc = cl.workers["o1"]
    assert proc.poll() is None, cl.logs["o1"].read_text()[-3000:]
    log = cl.logs["o1"].read_text()
    assert "Unrecoverable error" not in log, log[-3000:]


def _next_job_fine(cl, src: Path, name: str) -> None:
    job = cl.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset(name)))
    job.wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    # The worker acknowledges a task after its last event, so the client can see the job end a
    # moment before the ack reaches Redis. The next test's outage must not cut that ack (a lost
    # ack is redelivered only after the visibility timeout, and the next test waits for an empty
    # unacked hash): each test ends with its tasks acknowledged.
    wait_until(lambda: _unacked_empty(cl), "the next job's task to be acknowledged", TIMEOUT)


def _unacked_empty(cl) -> bool:
    r = cl.redis()
    return r.hlen("unacked") == 0


def _mid_job(cl, tmp_path: Path, seconds: float, name: str) -> None:
    src = write_csv(tmp_path / "in.csv", 2_000)
    marker, gate, passed = tmp_path / "running", tmp_path / "gate", tmp_path / "passed"
    job = cl.runner().submit(wb.Pipeline(
        source=wb.file(str(src)),
        steps=[wb.python("wbtest_steps:wait_for_gate", marker=str(marker), gate=str(gate),
                         passed=str(passed))],
        sink=wb.dataset(name)))
    wait_until(marker.exists, "the job to run")

    def finish_during_outage() -> None:
        gate.touch()  # the job finishes while Redis is away
        wait_until(passed.exists, "the step to pass its gate")

    _outage(cl, seconds, finish_during_outage)
    job.wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    # every event written during the outage reached the client, in order, after reconnecting
    kinds = [e.kind for e in job.events]
    assert kinds[0] == "job_started" and kinds[-1] == "job_finished", kinds
    # read from its record, not through this client's result subscription (task_result.py)
    assert wait_for_result(AsyncResult(job.id, app=cl.app), TIMEOUT)["status"] == "succeeded"
    ctx = cl.ctx()
    rec = assert_settled(ctx, [job.id])[0]
    assert rec["status"] == "succeeded" and rec["attempts"] == 1
    assert_clean_dataset(ctx, cl.home / "storage", name, [1])
    _worker_survived(cl)
    wait_until(lambda: _unacked_empty(cl), "the task to be acknowledged", TIMEOUT)
    _next_job_fine(cl, src, f"{name}_next")


def test_redis_down_5s_mid_job(outage_cluster, tmp_path):
    """Redis away 5 s while a job runs: the worker lives, the job runs once, its events and
    result arrive after Redis is back, its message is acknowledged, the next job runs."""
    _mid_job(outage_cluster, tmp_path, 5, "mid5")


def test_redis_down_60s_mid_job(outage_cluster, tmp_path):
    """The same through a 60 s outage (longer than the result backend's old 5 s of retries)."""
    _mid_job(outage_cluster, tmp_path, 60, "mid60")


@pytest.mark.parametrize("seconds", [5, 60])
def test_redis_down_while_idle(outage_cluster, tmp_path, seconds):
    """Redis away while the worker waits for work: it reconnects and takes the next job without
    a restart."""
    cl = outage_cluster
    src = write_csv(tmp_path / "in.csv", 500)
    _outage(cl, seconds)
    job = cl.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset(f"idle{seconds}")))
    job.wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    ctx = cl.ctx()
    assert assert_settled(ctx, [job.id])[0]["attempts"] == 1
    assert_clean_dataset(ctx, cl.home / "storage", f"idle{seconds}", [1])
    _worker_survived(cl)
    wait_until(lambda: _unacked_empty(cl), "the task to be acknowledged", TIMEOUT)
    _next_job_fine(cl, src, f"idle{seconds}_next")
