"""Workers killed, poisoned, overloaded and handed a job twice: no job lost, none doubled, none
left without a final state; the next job is fine. (Moved here from tests/worker.)"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import workbench as wb
from workbench.worker import keys
from wb_cluster import make_cluster, storage_files, write_csv
from servers import redis_db

from invariants import assert_clean_dataset, assert_settled, wait_until

pytestmark = pytest.mark.services

TIMEOUT = 120


def gated_step(marker: Path, gate: Path):
    """A step that writes its process id to ``marker`` and holds the rows until the test
    creates ``gate`` (``wbtest_steps.wait_for_gate``)."""
    return wb.python("wbtest_steps:wait_for_gate", marker=str(marker), gate=str(gate))


def gated_job(tmp_path: Path, name: str) -> tuple[wb.Pipeline, Path, Path]:
    """A job of 500 rows into ``name`` whose step writes its process id to ``marker`` and holds
    the rows until the test creates ``gate``."""
    src = write_csv(tmp_path / "in.csv", 500)
    marker, gate = tmp_path / "running", tmp_path / "gate"
    p = wb.Pipeline(source=wb.file(str(src)), steps=[gated_step(marker, gate)],
                    sink=wb.dataset(name))
    return p, marker, gate


def versions(cluster, name: str) -> list[int]:
    ctx = cluster.ctx()
    return [v.version for v in ctx.catalog.list_versions(ctx.namespace, name)]


@pytest.fixture(scope="module")
def cluster(own_cluster):
    return own_cluster


# ----------------------------------------------------------------------------- killed worker
@pytest.fixture(scope="module")
def kill_cluster(redis_server, tmp_path_factory):
    """Two workers with a short visibility timeout, so a dead worker's task comes back soon (it
    must exceed the hard limit: 20 s, room for the redelivered job on a loaded machine)."""
    cl = make_cluster(tmp_path_factory.mktemp("wb-kill"), redis_db(redis_server),
                      hard_limit=20, visibility_timeout=24, WORKBENCH_RESTORE_INTERVAL="1")
    cl.start_worker("a", wait=False)
    cl.start_worker("b", wait=False, cli=True)  # through `workbench worker`
    cl.wait_ready("a")
    cl.wait_ready("b")
    yield cl
    cl.stop()


def test_sigkill_mid_ingest_is_redelivered_and_commits_once(kill_cluster, tmp_path):
    """SIGKILL of the worker running a job, mid-write (a .part file open): its unacknowledged
    message is delivered again after the visibility timeout (24 s here) to the other worker; the
    job commits once and attempt 1's files are gone."""
    cl = kill_cluster
    src = write_csv(tmp_path / "in.csv", 3_000)
    marker, gate = tmp_path / "started", tmp_path / "gate"
    p = wb.Pipeline(source=wb.file(str(src)), steps=[gated_step(marker, gate)],
                    checks=[wb.is_unique("id")], sink=wb.dataset("killed"))
    job = cl.runner().submit(p)
    pid = int(wait_until(lambda: marker.exists() and marker.read_text().split(),
                         "attempt 1 to reach its held step")[0])
    victim = next(n for n, w in cl.workers.items() if os.getpgid(pid) == w.pid)
    # Mid-write, held there: the Parquet part of attempt 1 is open as a temporary file (the
    # writer opens it before the rows flow) and stays so until the gate opens.
    parts = [f for f in storage_files(cl.home, "killed") if f.endswith(".part")]
    assert len(parts) == 1 and f"/{job.id}/a1/" in f"/{parts[0]}", parts
    cl.kill_worker(victim)
    gate.touch()  # for attempt 2, on the other worker

    job.wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    record = cl.ctx().catalog.get_job(job.id)
    survivor = next(iter(cl.workers))
    assert record["attempts"] == 2 and record["worker"].startswith(f"{survivor}@wb")
    assert len(set(marker.read_text().split()) - {str(pid)}) == 1  # attempt 2's process
    assert any("attempt 1 ended without an outcome" in m for m in job.state.messages)
    assert versions(cl, "killed") == [1]
    assert job.result.rows == 3_000
    named = sorted(f["key"].split("/datasets/killed/", 1)[1] for f in job.result.files)
    assert all(f"{job.id}/a2/" in k for k in named)  # attempt 1's files are gone
    ctx = cl.ctx()
    assert_settled(ctx, [job.id])
    assert_clean_dataset(ctx, cl.home / "storage", "killed", [1])
    nxt = cl.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("killed_next")))
    assert nxt.wait(TIMEOUT).status == "succeeded", nxt.error


@pytest.fixture(scope="module")
def limit_cluster(tmp_path_factory):
    """A 15 s hard limit on a cluster of its own (its own redis-server): no other test's job has
    to fit in it, and the next job (on a pool process started afresh) has room on a loaded
    machine."""
    from servers import start_redis

    redis = start_redis()
    cl = make_cluster(tmp_path_factory.mktemp("wb-limit"), redis.url, hard_limit=15,
                      visibility_timeout=18)
    cl.start_worker("a")
    yield cl
    cl.stop()
    redis.stop()


def test_hard_time_limit_fails_the_job_cleanly(limit_cluster, tmp_path):
    """A task killed at its hard time limit fails its job with TimeLimitExceeded (not
    retried), its partial file is removed, and the next job runs."""
    cl = limit_cluster  # hard limit 15 s in this cluster
    src = write_csv(tmp_path / "in.csv", 500)
    marker = tmp_path / "started"
    job = cl.runner().submit(wb.Pipeline(
        source=wb.file(str(src)), steps=[wb.python("wbtest_steps:hang", marker=str(marker))],
        sink=wb.dataset("too_slow")))
    # the job reached its step with the rows, its writer's temporary file open; the step never
    # returns, so only the hard limit ends it
    wait_until(lambda: marker.exists() and marker.read_text().split(), "the job to reach its step")
    parts = [f for f in storage_files(cl.home, "too_slow") if f.endswith(".part")]
    assert len(parts) == 1 and f"/{job.id}/a1/" in f"/{parts[0]}", parts
    job.wait(TIMEOUT)
    assert job.status == "failed"
    err = job.state.error
    assert err["type"] == "TimeLimitExceeded" and "hard time limit of 15s" in err["message"]
    assert cl.ctx().catalog.get_job(job.id)["attempts"] == 1  # not retried
    assert storage_files(cl.home, "too_slow") == []  # the killed attempt's partial file is gone
    # The next job runs fine (the pool replaced the killed process).
    ok = cl.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("in_time")))
    assert ok.wait(TIMEOUT).status == "succeeded"
def test_poison_job_goes_to_dead_letters_and_does_not_block(cluster, tmp_path):
    """A job that SIGKILLs its task process every time ends in the dead letters after its
    attempts, with a reason and a resubmit hint; jobs beside it succeed."""
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
    ctx = cluster.ctx()
    assert_settled(ctx, [poison.id, *(j.id for j in others)])
    assert_clean_dataset(ctx, cluster.home / "storage", "poison", [])
    for i in range(4):
        assert_clean_dataset(ctx, cluster.home / "storage", f"healthy{i}", [1])


def test_a_redelivered_finished_job_is_not_run_again(cluster, tmp_path):
    """The same task message again after the job finished (at-least-once delivery): the claim
    sees the final state and nothing runs or commits twice."""
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
    ctx = cluster.ctx()
    assert assert_settled(ctx, [job.id])[0]["attempts"] == 1
    assert_clean_dataset(ctx, cluster.home / "storage", "twice", [1])


def test_500_jobs_from_threads_none_lost_or_doubled(cluster, tmp_path):
    """500 jobs submitted concurrently from 5 threads: every one runs exactly once and ends
    succeeded; nothing is left queued."""
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


def test_two_workers_racing_one_job(cluster, tmp_path):
    """The same job's message delivered to two pool processes at once (a duplicate publish):
    one claims and runs it, the other sees it held and stands back; one version, one attempt."""
    p, marker, gate = gated_job(tmp_path, "raced")
    job = cluster.runner().submit(p)
    dup = cluster.app.send_task("workbench.run_pipeline",
                                args=[job.id, p.model_dump(mode="json"), {}], queue="pipeline")
    wait_until(marker.exists, "one of them to run it")
    wait_until(lambda: "job held by" in cluster.logs["own"].read_text(),
               "the other to stand back")
    gate.touch()
    job.wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    out = dup.get(timeout=TIMEOUT) if dup.state != "RETRY" else None
    ctx = cluster.ctx()
    rec = assert_settled(ctx, [job.id])[0]
    assert rec["attempts"] == 1
    assert len(marker.read_text().split()) == 1  # the step ran in one process only
    assert_clean_dataset(ctx, cluster.home / "storage", "raced", [1])
    if out is not None:
        assert out["status"] == "succeeded"


@pytest.fixture(scope="module")
def takeover_cluster(redis_server, tmp_path_factory):
    """One worker, two pool processes; a job whose heartbeat is 4 s old counts as dead (the
    heartbeat comes every second)."""
    cl = make_cluster(tmp_path_factory.mktemp("wb-takeover"), redis_db(redis_server),
                      WORKBENCH_STALE_AFTER="4", WORKBENCH_HEARTBEAT_INTERVAL="1")
    cl.start_worker("t", concurrency=2)
    yield cl
    cl.stop()


def test_an_attempt_taken_over_while_frozen_commits_nothing(takeover_cluster, tmp_path):
    """The process running a job is frozen (SIGSTOP: a starved or swapped-out process) until its
    heartbeat is stale; the job's message, delivered again, is taken over by the other pool
    process as attempt 2, which commits v1. Thawed, attempt 1 runs on and stops without an outcome
    (at its commit, or earlier when the files it was writing are gone): no second version, its
    files gone, the record attempt 2's."""
    import signal
    import time

    cl = takeover_cluster
    p, marker, gate = gated_job(tmp_path, "taken_over")
    job = cl.runner().submit(p)
    # the pid, not only the file: the step creates the marker and writes to it in two calls
    first = int(wait_until(lambda: marker.exists() and marker.read_text().split(),
                           "attempt 1 to reach its held step")[0])
    since = cl.logs["t"].stat().st_size
    os.kill(first, signal.SIGSTOP)
    try:
        ctx = cl.ctx()
        wait_until(lambda: time.time() - ctx.catalog.get_job(job.id)["heartbeat_at"] > 6,
                   "attempt 1's heartbeat to go stale")
        # the message again, as Redis hands out an unacknowledged one after its visibility timeout
        cl.app.send_task("workbench.run_pipeline", args=[job.id, p.model_dump(mode="json"), {}],
                         queue="pipeline")
        wait_until(lambda: len(marker.read_text().split()) == 2, "attempt 2 to reach the step")
        gate.touch()
        job.wait(TIMEOUT)
        assert job.status == "succeeded", job.error
    finally:
        os.kill(first, signal.SIGCONT)
    wait_until(lambda: f"attempt 1 of job {job.id} was taken over" in
               cl.logs["t"].read_bytes()[since:].decode(errors="replace"),
               "attempt 1 to stop")
    rec = assert_settled(ctx, [job.id])[0]
    assert (rec["status"], rec["attempts"]) == ("succeeded", 2)
    assert_clean_dataset(ctx, cl.home / "storage", "taken_over", [1])
    assert [v.rows for v in ctx.catalog.list_versions(ctx.namespace, "taken_over")] == [500]
    later = cl.runner().submit(wb.Pipeline(source=p.source, sink=wb.dataset("after_takeover")))
    assert later.wait(TIMEOUT).status == "succeeded", later.error


def test_cancel_queued_job_never_runs(cluster, tmp_path):
    """A job cancelled while queued with no worker up: it ends ``cancelled`` at once; its message,
    taken later by a worker started afresh (which never heard the revoke), is answered from the
    record without running anything, and the next job is fine."""
    from celery.result import AsyncResult

    for name in list(cluster.workers):
        cluster.stop_worker(name)
    src = write_csv(tmp_path / "in.csv", 100)
    job = cluster.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("never")))
    job.cancel()
    job.wait(TIMEOUT)
    assert job.status == "cancelled"
    cluster.start_worker("own", concurrency=2)
    out = AsyncResult(job.id, app=cluster.app).get(timeout=TIMEOUT)
    assert (out["status"], out["attempts"]) == ("cancelled", 0)
    later = cluster.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("after")))
    assert later.wait(TIMEOUT).status == "succeeded", later.error
    ctx = cluster.ctx()
    rec = assert_settled(ctx, [job.id])[0]
    assert (rec["status"], rec["attempts"]) == ("cancelled", 0)
    assert_clean_dataset(ctx, cluster.home / "storage", "never", [])
    assert storage_files(cluster.home, "never") == []


def test_sigkill_of_the_task_process(cluster, tmp_path):
    """SIGKILL of the pool process running a job (its worker lives): the job is handed out again
    at once, runs to the end on attempt 2, commits once, and the next job is fine."""
    import signal

    p, marker, gate = gated_job(tmp_path, "child_killed")
    job = cluster.runner().submit(p)
    pid = int(wait_until(lambda: marker.exists() and marker.read_text().split(),
                         "attempt 1 to reach its held step")[0])
    os.kill(pid, signal.SIGKILL)  # held in the step: the job cannot have ended
    gate.touch()  # for attempt 2, in the pool process that replaces it
    job.wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    ctx = cluster.ctx()
    rec = assert_settled(ctx, [job.id])[0]
    assert rec["attempts"] == 2
    # attempt 2 reached the step in another pool process than the killed one
    assert len(set(marker.read_text().split()) - {str(pid)}) == 1
    assert_clean_dataset(ctx, cluster.home / "storage", "child_killed", [1])
    assert cluster.workers["own"].poll() is None
    nxt = cluster.runner().submit(wb.Pipeline(source=p.source, sink=wb.dataset("ck_next")))
    assert nxt.wait(TIMEOUT).status == "succeeded"


CLIENT = """
import sys
import workbench as wb
from workbench.runners.celery_runner import CeleryRunner
job = CeleryRunner().attach(sys.argv[1])
for ev in job:
    print(ev.kind, flush=True)
"""


def test_client_killed_while_reading_progress(cluster, tmp_path):
    """A client process SIGKILLed while it reads a job's progress stream: the job is not
    affected and succeeds; a new client replays every event from the start."""
    import signal
    import subprocess
    import sys

    src = write_csv(tmp_path / "in.csv", 1_000)
    marker, gate = tmp_path / "running", tmp_path / "gate"
    job = cluster.runner().submit(wb.Pipeline(
        source=wb.file(str(src)),
        steps=[wb.python("wbtest_steps:wait_for_gate", marker=str(marker), gate=str(gate))],
        sink=wb.dataset("watched")))
    wait_until(marker.exists, "the job to run")
    out = tmp_path / "client.out"
    client = subprocess.Popen([sys.executable, "-c", CLIENT, job.id],
                              env=cluster.process_env(), stdout=open(out, "w"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    wait_until(lambda: "job_started" in out.read_text(), "the client to read the stream")
    os.killpg(client.pid, signal.SIGKILL)
    client.wait(30)
    gate.touch()
    job.wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    again = cluster.runner().attach(job.id).wait(TIMEOUT)
    kinds = [e.kind for e in again.events]
    assert kinds[0] == "job_started" and kinds[-1] == "job_finished" and kinds.count("job_finished") == 1
    ctx = cluster.ctx()
    assert assert_settled(ctx, [job.id])[0]["attempts"] == 1
    assert_clean_dataset(ctx, cluster.home / "storage", "watched", [1])


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
def test_json_nested_100000_deep_on_a_worker(cluster, tmp_path, fmt):
    """On a worker as in the kernel: a JSON value nested 100,000 deep is a SourceError naming
    WORKBENCH_MAX_JSON_DEPTH (never an InternalError from a RecursionError, never a retry or a
    dead letter); the pool process lives on and the next job is fine."""
    path = tmp_path / f"deep.{fmt}"
    deep = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path.write_text('{"a": 1}\n' + deep + "\n" if fmt == "ndjson" else '[{"a": 1}, ' + deep + "]")
    job = cluster.runner().submit(wb.Pipeline(source=wb.file(str(path)),
                                              sink=wb.dataset(f"deep_{fmt}")))
    job.wait(TIMEOUT)
    assert job.status == "failed"
    err = job.state.error
    assert err["type"] == "SourceError" and "WORKBENCH_MAX_JSON_DEPTH" in err["hint"], err
    if fmt == "ndjson":
        assert "line 2" in err["message"]
    ctx = cluster.ctx()
    rec = assert_settled(ctx, [job.id])[0]
    assert rec["attempts"] == 1
    assert_clean_dataset(ctx, cluster.home / "storage", f"deep_{fmt}", [])
    src = write_csv(tmp_path / "in.csv", 100)
    nxt = cluster.runner().submit(wb.Pipeline(source=wb.file(str(src)),
                                              sink=wb.dataset(f"after_deep_{fmt}")))
    assert nxt.wait(TIMEOUT).status == "succeeded"


def test_a_killed_pool_process_holds_no_temp_space(cluster, tmp_path):
    """SIGKILL of the pool process running a job that holds a reader's inflated copy and
    DuckDB's temp folder: the process that replaces it removes them at its start, the job runs
    again to the end, and once it succeeded no temp folder of it is left."""
    import gzip
    import json
    import signal

    src = tmp_path / "in.csv.gz"
    with gzip.open(src, "wt") as f:
        f.write("id,v\n" + "".join(f"{i},{i * 0.5}\n" for i in range(5000)))
    marker, gate = tmp_path / "running", tmp_path / "gate"
    job = cluster.runner().submit(wb.Pipeline(
        source=wb.file(str(src)),
        steps=[wb.sql("SELECT * FROM input"),
               wb.python("wbtest_steps:wait_for_gate", marker=str(marker), gate=str(gate))],
        sink=wb.dataset("temp_killed")))
    home = cluster.home

    def owned(pid: int) -> list[Path]:
        found = []
        for d in [*(home / "tmp").glob("wb-read-*"), *(home / "tmp" / "duckdb").glob("job-*")]:
            try:
                if json.loads((d / "owner.json").read_text())["pid"] == pid:
                    found.append(d)
            except (OSError, ValueError, KeyError):
                continue
        return found

    pid = int(wait_until(lambda: marker.exists() and marker.read_text().split(), "the job")[0])
    assert len(owned(pid)) == 2  # the reader's copy and the SQL temp folder
    os.kill(pid, signal.SIGKILL)
    again = int(wait_until(lambda: [p for p in marker.read_text().split() if int(p) != pid],
                           "the job's second attempt")[0])
    assert owned(pid) == []  # removed when the replacement process started
    gate.touch()
    job.wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    ctx = cluster.ctx()
    assert assert_settled(ctx, [job.id])[0]["attempts"] == 2
    assert_clean_dataset(ctx, cluster.home / "storage", "temp_killed", [1])
    assert owned(again) == []


def test_sql_out_of_memory_on_a_worker(cluster, tmp_path):
    """SQL that needs more than WORKBENCH_SQL_MEMORY_LIMIT on a worker fails its job with an
    SQLError naming the setting (not retried, no dead letter), leaves no spill or temp folder,
    and the next job on the same pool is fine."""
    src = write_csv(tmp_path / "in.csv", 100)
    job = cluster.runner().submit(wb.Pipeline(
        source=wb.file(str(src)),
        steps=[wb.sql("SELECT string_agg(repeat('x', 400), ',') AS s FROM range(12000000)")],
        sink=wb.dataset("sql_oom")))
    job.wait(300)
    assert job.status == "failed"
    err = job.state.error
    assert err["type"] == "SQLError" and "WORKBENCH_SQL_MEMORY_LIMIT" in err["message"], err
    ctx = cluster.ctx()
    assert assert_settled(ctx, [job.id])[0]["attempts"] == 1
    assert_clean_dataset(ctx, cluster.home / "storage", "sql_oom", [])
    assert list((cluster.home / "tmp" / "duckdb").glob("job-*")) == []
    nxt = cluster.runner().submit(wb.Pipeline(source=wb.file(str(src)),
                                              sink=wb.dataset("after_sql_oom")))
    assert nxt.wait(TIMEOUT).status == "succeeded", nxt.error


def test_huge_cell_xlsx_on_a_worker(cluster, tmp_path):
    """A 5 KB xlsx with a cell at A1000000000 on a worker: a SourceError naming Excel's grid
    before the reader allocates it (four pool processes crashed on it, and the job went to the
    dead letters as an InternalError); one attempt, and the next job is fine."""
    from test_hostile_inputs import _xlsx_with_cell

    path = _xlsx_with_cell(tmp_path, 1_000_000_000)
    job = cluster.runner().submit(wb.Pipeline(source=wb.file(str(path)), sink=wb.dataset("huge_cell")))
    job.wait(TIMEOUT)
    assert job.status == "failed"
    err = job.state.error
    assert err["type"] == "SourceError" and "A1000000000" in err["message"], err
    ctx = cluster.ctx()
    assert assert_settled(ctx, [job.id])[0]["attempts"] == 1
    assert_clean_dataset(ctx, cluster.home / "storage", "huge_cell", [])
    src = write_csv(tmp_path / "in.csv", 100)
    nxt = cluster.runner().submit(wb.Pipeline(source=wb.file(str(src)),
                                              sink=wb.dataset("after_huge_cell")))
    assert nxt.wait(TIMEOUT).status == "succeeded", nxt.error


def test_a_job_cancelled_while_its_process_died_is_not_run_again(cluster, tmp_path):
    """A cancel asked while the job's pool process is stuck in a step, then that process
    SIGKILLed: the message handed out again finds the cancel before running anything; the job
    ends ``cancelled`` after its one attempt, with nothing written, and the next job is fine."""
    import signal

    src = write_csv(tmp_path / "in.csv", 500)
    marker, gate = tmp_path / "running", tmp_path / "gate"
    job = cluster.runner().submit(wb.Pipeline(
        source=wb.file(str(src)),
        steps=[wb.python("wbtest_steps:wait_for_gate", marker=str(marker), gate=str(gate))],
        sink=wb.dataset("cancelled_dead")))
    pid = int(wait_until(lambda: marker.exists() and marker.read_text().split(), "the job")[0])
    job.cancel()  # the step holds its data: nothing in the job sees the cancel yet
    assert cluster.ctx().catalog.get_job(job.id)["status"] == "running"
    os.kill(pid, signal.SIGKILL)
    job.wait(TIMEOUT)
    assert job.status == "cancelled", job.error
    kinds = [e.kind for e in job.events]
    assert kinds[-1] == "job_cancelled" and kinds.count("job_cancelled") == 1, kinds
    assert any("attempt 1 ended without an outcome" in m for m in job.state.messages)
    assert len(marker.read_text().split()) == 1  # the step never ran again
    ctx = cluster.ctx()
    rec = assert_settled(ctx, [job.id])[0]
    assert (rec["status"], rec["attempts"]) == ("cancelled", 1)
    assert_clean_dataset(ctx, cluster.home / "storage", "cancelled_dead", [])
    assert storage_files(cluster.home, "cancelled_dead") == []
    assert cluster.workers["own"].poll() is None
    nxt = cluster.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("cd_next")))
    assert nxt.wait(TIMEOUT).status == "succeeded", nxt.error
