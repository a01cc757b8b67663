"""The client side: fail fast without a broker, fall back to the kernel, attach and replay."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

import workbench as wb
from servers import free_port, redis_db
from workbench.runners.celery_runner import CeleryJob, CeleryRunner
from workbench.runners.local import LocalJob
from workbench.worker import keys
from wb_cluster import ROOT, wait_for

pytestmark = pytest.mark.services


@pytest.fixture
def tiny(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("id,x\n1,a\n2,b\n3,NA\n")
    return src


@pytest.mark.timeout(60)
def test_unreachable_broker_fails_fast_with_a_clear_error(cluster, tiny):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    p = wb.Pipeline(source=wb.file(str(tiny)), sink=wb.dataset("nobroker"))
    before = len(wb.list_jobs(limit=1000))
    with pytest.raises(wb.TransientError) as info:
        CeleryRunner(cluster.ctx(), broker_url=dead).submit(p)
    err = info.value
    assert type(err).__name__ == "BrokerUnavailable"
    assert "unreachable" in err.message and "fallback='local'" in err.hint
    assert len(wb.list_jobs(limit=1000)) == before  # nothing half-submitted


@pytest.mark.timeout(60)
def test_fallback_local_runs_in_this_process_and_says_so(cluster, tiny, monkeypatch):
    monkeypatch.setenv("WORKBENCH_BROKER_URL", f"redis://127.0.0.1:{free_port()}/0")
    job = wb.submit(wb.Pipeline(source=wb.file(str(tiny)), sink=wb.dataset("fellback")),
                    fallback="local")
    assert isinstance(job, LocalJob)
    assert job.wait(60).status == "succeeded"
    assert any("running in this process instead" in m for m in job.state.messages)
    assert job.result.rows == 3
    record = cluster.ctx().catalog.get_job(job.id)
    assert record["runner"] == "local" and record["status"] == "succeeded"


@pytest.mark.timeout(120)
def test_cli_submit_without_broker(cluster, tiny, tmp_path):
    spec = tmp_path / "p.json"
    spec.write_text(json.dumps({"source": {"kind": "file", "path": str(tiny)},
                                "sink": {"kind": "dataset", "name": "cli_nobroker"}}))
    env = cluster.process_env(WORKBENCH_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0")
    out = subprocess.run([sys.executable, "-m", "workbench", "submit", str(spec), "--json"],
                         env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 1
    assert json.loads(out.stdout)["error"]["type"] == "BrokerUnavailable"
    assert "Traceback" not in out.stderr


def test_late_attach_replays_everything(cluster, tiny):
    job = cluster.runner().submit(wb.Pipeline(source=wb.file(str(tiny)), checks=[wb.not_null("id")],
                                              sink=wb.dataset("replayed")))
    job.wait(120)
    again = wb.job(job.id)  # as after a kernel restart
    assert isinstance(again, CeleryJob)
    again.wait(60)
    assert [e.kind for e in again.events] == [e.kind for e in job.events]
    assert again.status == "succeeded" and again.result.version == job.result.version
    assert again.state.checks == job.state.checks


def test_attach_after_the_stream_expired_uses_the_catalog(cluster, tiny):
    job = cluster.runner().submit(wb.Pipeline(source=wb.file(str(tiny)), sink=wb.dataset("expired")))
    job.wait(120)
    cluster.redis().delete(keys.events("default", job.id))
    again = cluster.runner().attach(job.id).wait(60)
    assert again.status == "succeeded"
    assert again.result.name == "expired" and again.result.version == 1
    assert [e.kind for e in again.events][0] == "job_started"


def test_second_handle_while_running_sees_the_same_job(cluster, tiny, tmp_path):
    marker, gate = tmp_path / "started", tmp_path / "go"
    job = cluster.runner().submit(wb.Pipeline(
        source=wb.file(str(tiny)),
        steps=[wb.python("wbtest_steps:wait_for_gate", marker=str(marker), gate=str(gate))],
        sink=wb.dataset("watched")))
    wait_for(marker.exists, "the job to run", 120)
    other = cluster.runner().attach(job.id)  # while the job is held mid-run
    wait_for(lambda: other.status == "running", "the second handle to replay the start", 60)
    gate.touch()
    job.wait(120)
    other.wait(60)
    assert other.status == job.status == "succeeded"
    assert [e.kind for e in other.events] == [e.kind for e in job.events]


def test_stream_is_bounded_and_expires(cluster, tiny, tmp_path):
    marker, gate = tmp_path / "running", tmp_path / "gate"
    held = cluster.runner().submit(wb.Pipeline(
        source=wb.file(str(tiny)),
        steps=[wb.python("wbtest_steps:wait_for_gate", marker=str(marker), gate=str(gate))]))
    job = cluster.runner().submit(wb.Pipeline(source=wb.file(str(tiny)), sink=wb.dataset("ttl")))
    job.wait(120)
    wait_for(marker.exists, "the held job to run")
    r = cluster.redis()
    key, held_key = keys.events("default", job.id), keys.events("default", held.id)
    assert 0 < r.xlen(key) <= 10_000
    assert 86_400 < r.ttl(key) <= 604_800 and 86_400 < r.ttl(held_key) <= 604_800
    r.persist(key)  # as if written by an old version without a TTL
    streams = list(r.scan_iter(match=keys.events_pattern()))  # every test's on this Redis
    assert [k for k in streams if r.ttl(k) == -1] == [key]
    report = cluster.app.send_task("workbench.expire_streams", queue="maintenance").get(timeout=60)
    assert (report["streams"], report["ttl_set"]) == (len(streams), 1)
    assert 0 < r.ttl(key) <= 86_400  # a finished job's stream is kept one day
    assert r.ttl(held_key) > 86_400  # a running job's stream keeps its whole TTL
    gate.touch()
    assert held.wait(120).status == "succeeded", held.error
    report = cluster.app.send_task("workbench.expire_streams", queue="maintenance").get(timeout=60)
    assert report["ttl_set"] == 0
    assert 0 < r.ttl(held_key) <= 86_400 and 0 < r.ttl(key) <= 86_400


def test_retrying_status_and_cancel_of_unknown_job(cluster):
    with pytest.raises(wb.NotFound):
        cluster.runner().cancel("no-such-job")
    with pytest.raises(wb.NotFound):
        cluster.runner().attach("no-such-job")


def test_a_batch_written_twice_is_read_once(redis_server):
    """A stream write whose reply is lost (Redis wrote it, the client timed out) is written
    again; a reader sees each event once. (A duplicated ``retrying`` counted a retry that never
    happened: the S3-restart test's job record had one attempt fewer than its view's retries.)"""
    import redis as redis_lib

    from workbench.events import JobFinished, JobStarted, Retrying
    from workbench.job_handle import Job
    from workbench.worker.stream import StreamHub, StreamPublisher, redis_client

    url = redis_db(redis_server)
    real = redis_client(url)
    lost = []

    class ReplyLost:
        """The client of a loaded machine: the first pipeline is written, its reply times out."""

        def pipeline(self, **kw):
            pipe = real.pipeline(**kw)
            execute = pipe.execute

            def once():
                out = execute()
                if not lost:
                    lost.append(out)
                    raise redis_lib.TimeoutError("Timeout reading from socket")
                return out

            pipe.execute = once
            return pipe

        def __getattr__(self, name):
            return getattr(real, name)

    job_id = "dupe-" + str(time.time_ns())
    key = keys.events("default", job_id)
    pub = StreamPublisher(ReplyLost(), key, maxlen=100, ttl=60)
    pub(JobStarted(job_id=job_id, attempt=1))
    pub(Retrying(job_id=job_id, attempt=1, delay=0.1, error={"type": "StorageUnavailable"}))
    deadline = time.monotonic() + 30
    while pub.sent < 2 and time.monotonic() < deadline:  # the first batch, lost reply and all
        time.sleep(0.02)
    assert pub.sent == 2 and len(lost) == 1
    pub(JobStarted(job_id=job_id, attempt=2))
    pub(JobFinished(job_id=job_id, result={}))
    assert pub.close(30) == 0
    written = [json.loads(f["e"])["kind"] for _, f in real.xrange(key)]
    # the lost batch really is in the stream twice
    assert written == ["job_started", "retrying"] * 2 + ["job_started", "job_finished"]

    class Plain(Job):
        runner = "test"

        def cancel(self) -> None:
            raise AssertionError("not cancelled here")

    job = Plain(job_id)
    hub = StreamHub(url, "default", catalog=None)
    hub.subscribe(job)
    job.wait(30)
    assert [e.kind for e in job.events] == ["job_started", "retrying", "job_started",
                                            "job_finished"]
    assert (job.state.retries, job.state.attempt) == (1, 2)
