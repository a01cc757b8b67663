"""No lost or doubled work: killed workers, poison jobs, retries, dead letters, cancel, load."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

import workbench as wb
from workbench.cli import main as cli_main
from workbench.worker import keys
from wb_cluster import make_cluster, storage_files, wait_for, write_csv

pytestmark = pytest.mark.services

TIMEOUT = 120


def slow_step(marker: Path, seconds: float = 2.0):
    return wb.python("wbtest_steps:slow", marker=str(marker), seconds=seconds)


def versions(cluster, name: str) -> list[int]:
    ctx = cluster.ctx()
    return [v.version for v in ctx.catalog.list_versions(ctx.namespace, name)]


# ----------------------------------------------------------------------------- killed worker
@pytest.fixture(scope="module")
def kill_cluster(redis_server, tmp_path_factory):
    """Two workers with a short visibility timeout, so a dead worker's task comes back soon."""
    cl = make_cluster(tmp_path_factory.mktemp("wb-kill"), redis_server.url.rsplit("/", 1)[0] + "/4",
                      hard_limit=6, visibility_timeout=8, WORKBENCH_RESTORE_INTERVAL="1")
    cl.start_worker("a", wait=False)
    cl.start_worker("b", wait=False, cli=True)  # through `workbench worker`
    cl.wait_ready("a")
    cl.wait_ready("b")
    yield cl
    cl.stop()


def test_sigkill_mid_ingest_is_redelivered_and_commits_once(kill_cluster, tmp_path):
    cl = kill_cluster
    src = write_csv(tmp_path / "in.csv", 3_000)
    marker = tmp_path / "started"
    p = wb.Pipeline(source=wb.file(str(src)), steps=[slow_step(marker, 2.0)],
                    checks=[wb.is_unique("id")], sink=wb.dataset("killed"))
    job = cl.runner().submit(p)
    pid = int(wait_for(lambda: marker.exists() and marker.read_text().split(), "the job to run")[0])
    victim = next(n for n, w in cl.workers.items() if os.getpgid(pid) == w.pid)
    # Mid-write: the Parquet part of attempt 1 is open as a temporary file right now.
    assert any(".part" in f for f in storage_files(cl.home, "killed"))
    cl.kill_worker(victim)

    job.wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    record = cl.ctx().catalog.get_job(job.id)
    survivor = next(iter(cl.workers))
    assert record["attempts"] == 2 and record["worker"].startswith(f"{survivor}@wb")
    assert any("attempt 1 ended without an outcome" in m for m in job.state.messages)
    assert versions(cl, "killed") == [1]
    assert job.result.rows == 3_000
    named = sorted(f["key"].split("/datasets/killed/", 1)[1] for f in job.result.files)
    assert storage_files(cl.home, "killed") == sorted(named + ["v000001.manifest.json"])
    assert all(f"{job.id}/a2/" in k for k in named)  # attempt 1's files are gone


def test_cancel_queued_job_never_runs(kill_cluster, tmp_path):
    cl = kill_cluster
    for name in list(cl.workers):
        cl.stop_worker(name)
    src = write_csv(tmp_path / "in.csv", 100)
    job = cl.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("never")))
    job.cancel()
    job.wait(TIMEOUT)
    assert job.status == "cancelled"
    cl.start_worker("a")
    later = cl.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("after")))
    assert later.wait(TIMEOUT).status == "succeeded"
    assert cl.ctx().catalog.get_job(job.id)["status"] == "cancelled"
    assert cl.ctx().catalog.get_job(job.id)["attempts"] == 0
    assert storage_files(cl.home, "never") == []


# ----------------------------------------------------------------------------- shared worker
def test_cancel_running_job_leaves_nothing(cluster, tmp_path):
    src = write_csv(tmp_path / "in.csv", 2_000)
    marker = tmp_path / "started"
    job = cluster.runner().submit(wb.Pipeline(source=wb.file(str(src)), steps=[slow_step(marker, 2)],
                                              sink=wb.dataset("cancelled_mid")))
    wait_for(marker.exists, "the job to run")
    job.cancel()
    job.wait(TIMEOUT)
    assert job.status == "cancelled"
    assert job.events[-1].kind == "job_cancelled"
    assert cluster.ctx().catalog.get_job(job.id)["status"] == "cancelled"
    assert storage_files(cluster.home, "cancelled_mid") == []
    with pytest.raises(wb.NotFound):
        wb.info("cancelled_mid")


def test_poison_job_goes_to_dead_letters_and_does_not_block(cluster, tmp_path):
    src = write_csv(tmp_path / "in.csv", 100)
    runner = cluster.runner()
    poison = runner.submit(wb.Pipeline(source=wb.file(str(src)), steps=[wb.python("wbtest_steps:crash")],
                                       sink=wb.dataset("poison")))
    others = [runner.submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset(f"healthy{i}")))
              for i in range(4)]
    for j in others:
        assert j.wait(TIMEOUT).status == "succeeded", j.error
    poison.wait(TIMEOUT)
    assert poison.status == "failed"
    err = poison.state.error
    assert err["type"] == "InternalError" and "dead letters" in err["message"]
    assert "dead-letters resubmit" in err["hint"]
    record = cluster.ctx().catalog.get_job(poison.id)
    assert record["attempts"] == 3  # WORKBENCH_MAX_RETRIES=2 in the tests
    from workbench.worker.recovery import list_dead_letters

    letters = {d["job_id"]: d for d in list_dead_letters(cluster.ctx())}
    assert letters[poison.id]["attempts"] == 3 and letters[poison.id]["spec"]["sink"]["name"] == "poison"
    assert storage_files(cluster.home, "poison") == []


def test_transient_errors_are_retried_with_backoff(cluster, tmp_path):
    src = write_csv(tmp_path / "in.csv", 100)
    counter = tmp_path / "count"
    job = cluster.runner().submit(wb.Pipeline(
        source=wb.file(str(src)), steps=[wb.python("wbtest_steps:flaky", counter=str(counter),
                                                   failures=2)],
        sink=wb.dataset("flaky_ok"))).wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    retries = [e for e in job.events if e.kind == "retrying"]
    assert [r.attempt for r in retries] == [1, 2]
    assert all(r.delay > 0 for r in retries) and retries[0].error["type"] == "TransientError"
    assert job.state.retries == 2
    record = cluster.ctx().catalog.get_job(job.id)
    assert record["attempts"] == 3 and record["status"] == "succeeded"
    assert versions(cluster, "flaky_ok") == [1]


def test_exhausted_retries_dead_letter_then_resubmit(cluster, tmp_path, capsys):
    src = write_csv(tmp_path / "in.csv", 100)
    counter = tmp_path / "count"
    job = cluster.runner().submit(wb.Pipeline(
        source=wb.file(str(src)), steps=[wb.python("wbtest_steps:flaky", counter=str(counter),
                                                   failures=4)],
        sink=wb.dataset("flaky_dead"))).wait(TIMEOUT)
    assert job.status == "failed"
    assert job.state.error["type"] == "TransientError" and job.state.retries == 2
    record = cluster.ctx().catalog.get_job(job.id)
    assert record["attempts"] == 3 and record["error"]["type"] == "TransientError"

    assert cli_main(["dead-letters", "--json"]) == 0
    letters = json.loads(capsys.readouterr().out)["dead_letters"]
    assert any(d["job_id"] == job.id and d["attempts"] == 3 for d in letters)
    assert cli_main(["dead-letters", "resubmit", job.id, "--json"]) == 0
    again = json.loads(capsys.readouterr().out)["resubmitted_as"]
    new = cluster.runner().attach(again).wait(TIMEOUT)
    assert new.status == "succeeded", new.error  # failures 4 and 5 are behind us now
    assert versions(cluster, "flaky_dead") == [1]
    assert cli_main(["dead-letters", "--json"]) == 0
    letters = json.loads(capsys.readouterr().out)["dead_letters"]
    assert next(d for d in letters if d["job_id"] == job.id)["resubmitted_as"] == again


def test_a_redelivered_finished_job_is_not_run_again(cluster, tmp_path):
    src = write_csv(tmp_path / "in.csv", 100)
    p = wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("twice"))
    job = cluster.runner().submit(p).wait(TIMEOUT)
    assert job.status == "succeeded"
    # The same message again, as acks_late may deliver it: the claim sees the job finished.
    res = cluster.app.send_task("workbench.run_pipeline", args=[job.id, p.model_dump(mode="json"), {}],
                                queue="pipeline")
    out = res.get(timeout=TIMEOUT)
    assert out["status"] == "succeeded" and out["attempts"] == 1
    assert versions(cluster, "twice") == [1]


def test_500_jobs_from_threads_none_lost_or_doubled(cluster, tmp_path):
    src = tmp_path / "tiny.csv"
    src.write_text("a,b\n1,2\n3,4\n")
    p = wb.Pipeline(source=wb.file(str(src)), steps=[wb.filter("a > 0")])
    runner = cluster.runner()
    jobs: list = []
    lock = threading.Lock()

    def submit(n: int) -> None:
        for _ in range(n):
            j = runner.submit(p)
            with lock:
                jobs.append(j)

    threads = [threading.Thread(target=submit, args=(100,)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({j.id for j in jobs}) == 500
    for j in jobs:
        j.wait(300)
    assert {j.status for j in jobs} == {"succeeded"}
    for j in jobs:
        kinds = [e.kind for e in j.events]
        assert kinds.count("job_started") == 1 and kinds.count("job_finished") == 1
        assert j.result.height == 2
    ctx = cluster.ctx()
    records = [ctx.catalog.get_job(j.id) for j in jobs]
    assert {(r["status"], r["attempts"]) for r in records} == {("succeeded", 1)}
    r = cluster.redis()
    assert r.llen("pipeline") == 0
    assert not any(r.exists(keys.queued("default", j.id)) for j in jobs[:50])


def test_hard_time_limit_fails_the_job_cleanly(kill_cluster, tmp_path):
    cl = kill_cluster  # hard limit 6 s in this cluster
    if not cl.workers:
        cl.start_worker("a")
    src = write_csv(tmp_path / "in.csv", 500)
    marker = tmp_path / "started"
    job = cl.runner().submit(wb.Pipeline(source=wb.file(str(src)), steps=[slow_step(marker, 30)],
                                         sink=wb.dataset("too_slow")))
    job.wait(TIMEOUT)
    assert job.status == "failed"
    err = job.state.error
    assert err["type"] == "TimeLimitExceeded" and "hard time limit of 6s" in err["message"]
    assert cl.ctx().catalog.get_job(job.id)["attempts"] == 1  # not retried
    assert storage_files(cl.home, "too_slow") == []  # the killed attempt's partial file is gone
    # The next job runs fine (the pool replaced the killed process).
    ok = cl.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("in_time")))
    assert ok.wait(TIMEOUT).status == "succeeded"
