"""Jobs in the kernel run in their own process: a crash, a kill or a hang ends the job, never
the kernel, and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

import workbench as wb
from workbench.context import Context
from workbench.errors import ProcessDied, TimeLimitExceeded
from workbench.runners.local import LocalRunner

from invariants import assert_clean_dataset, assert_settled, wait_until

HERE = Path(__file__).resolve().parent
TIMEOUT = 120


@pytest.fixture
def src(wb_home, tmp_path) -> Path:
    path = tmp_path / "in.csv"
    pl.DataFrame({"id": range(5000), "v": [i * 0.5 for i in range(5000)]}).write_csv(path)
    return path


def _next_job_fine(src: Path, name: str) -> None:
    job = LocalRunner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset(name)),
                               wait=True)
    assert job.status == "succeeded", job.error
    assert job.result.rows == 5000


def test_native_abort_fails_the_job_and_the_kernel_lives(src, wb_home, tmp_path):
    """A step that aborts its process (SIGABRT, as a failed native allocation does) fails its job
    with a ProcessDied error naming the signal; the kernel keeps running, nothing the job wrote
    stays, and the next job succeeds."""
    marker = tmp_path / "abort"
    job = LocalRunner().submit(wb.Pipeline(
        source=wb.file(str(src)), steps=[wb.python("wbtest_steps:abort", marker=str(marker))],
        sink=wb.dataset("aborted")))
    job.wait(TIMEOUT)
    assert job.status == "failed"
    assert isinstance(job.error, ProcessDied) and "SIGABRT" in str(job.error)
    ctx = Context.from_settings()
    assert_settled(ctx, [job.id])
    assert_clean_dataset(ctx, wb_home / "storage", "aborted", [])
    assert not (wb_home / "tmp" / f"job-{job.id}").exists()
    _next_job_fine(src, "after_abort")


def test_a_job_killed_from_outside_fails_with_the_reason(src, wb_home, tmp_path):
    """SIGKILL of a job's process (what the OOM killer does) fails the job with the reason; its
    half-written files are removed at once."""
    marker, gate = tmp_path / "running", tmp_path / "never"
    job = LocalRunner().submit(wb.Pipeline(
        source=wb.file(str(src)),
        steps=[wb.python("wbtest_steps:wait_for_gate", marker=str(marker), gate=str(gate))],
        sink=wb.dataset("killed")))
    pid = int(wait_until(lambda: marker.exists() and marker.read_text().split(), "the step")[0])
    assert pid == job.pid and pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    job.wait(TIMEOUT)
    assert job.status == "failed" and "SIGKILL" in str(job.error)
    ctx = Context.from_settings()
    assert_settled(ctx, [job.id])
    assert_clean_dataset(ctx, wb_home / "storage", "killed", [])
    _next_job_fine(src, "after_kill")


def test_cancel_stops_a_hung_job_at_once(src, wb_home, tmp_path, monkeypatch):
    """``cancel()`` of a job stuck in a call that never returns: SIGTERM, then a kill after the
    grace period; the job ends cancelled and leaves no file."""
    monkeypatch.setenv("WORKBENCH_KILL_GRACE", "0.5")
    marker = tmp_path / "hung"
    job = LocalRunner().submit(wb.Pipeline(
        source=wb.file(str(src)), steps=[wb.python("wbtest_steps:hang", marker=str(marker))],
        sink=wb.dataset("hung")))
    wait_until(marker.exists, "the step to hang")
    job.cancel()
    job.wait(TIMEOUT)
    assert job.status == "cancelled"
    ctx = Context.from_settings()
    assert_settled(ctx, [job.id])
    assert ctx.catalog.get_job(job.id)["status"] == "cancelled"
    assert_clean_dataset(ctx, wb_home / "storage", "hung", [])
    with pytest.raises(ProcessLookupError):
        os.kill(job.pid, 0)
    _next_job_fine(src, "after_cancel")


def test_job_time_limit_in_the_kernel(src, wb_home, tmp_path, monkeypatch):
    """A kernel job past WORKBENCH_JOB_TIME_LIMIT is stopped and fails with TimeLimitExceeded,
    whose hint names the setting."""
    monkeypatch.setenv("WORKBENCH_JOB_TIME_LIMIT", "1")
    monkeypatch.setenv("WORKBENCH_KILL_GRACE", "0.5")
    marker = tmp_path / "hung"
    job = LocalRunner().submit(wb.Pipeline(
        source=wb.file(str(src)), steps=[wb.python("wbtest_steps:hang", marker=str(marker))],
        sink=wb.dataset("slow")))
    job.wait(TIMEOUT)
    assert job.status == "failed"
    assert isinstance(job.error, TimeLimitExceeded)
    assert "WORKBENCH_JOB_TIME_LIMIT" in str(job.error)
    ctx = Context.from_settings()
    assert_settled(ctx, [job.id])
    assert_clean_dataset(ctx, wb_home / "storage", "slow", [])
    monkeypatch.setenv("WORKBENCH_JOB_TIME_LIMIT", "600")
    _next_job_fine(src, "after_limit")


KERNEL = textwrap.dedent("""
    import sys
    import polars as pl
    import workbench as wb
    from workbench.runners.local import LocalRunner

    def add_one(frame):            # a step defined in the "notebook" itself
        return frame.with_columns(w=pl.col("id") + 1)

    src, mode = sys.argv[1], sys.argv[2]
    pl.DataFrame({"a": range(100_000)}).group_by("a").len()   # the kernel's thread pool is up
    if mode == "main-step":
        job = LocalRunner().submit(wb.Pipeline(source=wb.file(src),
                                               steps=[wb.python("__main__:add_one")]), wait=True)
        print(job.status, job.result["w"].sum())
    else:
        job = LocalRunner().submit(wb.Pipeline(
            source=wb.file(src), steps=[wb.python("wbtest_steps:hang", marker=sys.argv[3])],
            sink=wb.dataset("orphan")))
        job.wait()
""")


def _kernel(args: list[str], home: Path) -> subprocess.Popen:
    env = {**os.environ, "WORKBENCH_HOME": str(home),
           "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    return subprocess.Popen([sys.executable, "-c", KERNEL, *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def test_cell_defined_step_runs_in_the_job_process(src, wb_home):
    """A ``"__main__:f"`` step defined in the kernel works in the job's process, even after the
    kernel used Polars' thread pool (a plain fork of the kernel would deadlock there)."""
    proc = _kernel([str(src), "main-step"], wb_home)
    out, _ = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, out
    assert out.strip().splitlines()[-1] == f"succeeded {sum(range(1, 5001))}"


def test_a_dead_kernels_job_is_settled_by_the_next_start(src, wb_home, tmp_path):
    """A kernel killed while its job runs takes the job's process with it (the fork server sees
    the kernel go); the next kernel to submit fails that job with the reason and removes its
    files and temp folder."""
    marker = tmp_path / "hung"
    proc = _kernel([str(src), "orphan", str(marker)], wb_home)
    child = int(wait_until(lambda: marker.exists() and marker.read_text().split(), "the step")[0])
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(TIMEOUT)
    wait_until(lambda: not _alive(child), "the orphaned job process to go")
    ctx = Context.from_settings()
    orphan = [j for j in ctx.catalog.list_jobs(ctx.namespace) if j["status"] == "running"]
    assert len(orphan) == 1
    _next_job_fine(src, "after_dead_kernel")  # this submit settles the dead kernel's job
    rec = assert_settled(ctx, [orphan[0]["id"]])[0]
    assert rec["status"] == "failed" and "stopped without an outcome" in rec["error"]["message"]
    assert_clean_dataset(ctx, wb_home / "storage", "orphan", [])
    assert not (wb_home / "tmp" / f"job-{orphan[0]['id']}").exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("landing", ["mid_write", "after_commit_killed", "after_commit_noticed"])
def test_cancel_during_commit_is_all_or_nothing(src, wb_home, tmp_path, monkeypatch, landing):
    """A cancel that lands while the job writes ends it ``cancelled`` with no version and no
    file; one that lands after the commit (whether the process is killed there or notices the
    cancel and carries on) ends it ``succeeded`` with its whole version, in the catalog and on
    the handle alike. The state reported is always the one that is visible; never a partial
    version."""
    monkeypatch.setenv("WORKBENCH_KILL_GRACE", "0.05" if landing != "after_commit_noticed" else "300")
    marker, gate = tmp_path / "held", tmp_path / "gate"
    step = (wb.python("wbtest_steps:wait_for_gate", marker=str(marker), gate=str(gate))
            if landing == "mid_write" else
            wb.python("wbtest_steps:hold_after_commit", marker=str(marker), gate=str(gate)))
    job = LocalRunner().submit(wb.Pipeline(source=wb.file(str(src)), steps=[step],
                                           sink=wb.dataset("c")))
    wait_until(marker.exists, "the job to reach the landing point")
    ctx = Context.from_settings()
    committed = [v.version for v in ctx.catalog.list_versions(ctx.namespace, "c")]
    assert committed == ([] if landing == "mid_write" else [1])
    job.cancel()
    if landing != "after_commit_killed":
        wait_until(lambda: ctx.catalog.cancel_requested(job.id), "the cancel to be recorded")
        gate.touch()  # the process carries on past the landing point, with the cancel set
    job.wait(TIMEOUT)
    rec = assert_settled(ctx, [job.id])[0]
    want = "cancelled" if landing == "mid_write" else "succeeded"
    assert (job.status, rec["status"]) == (want, want), (job.status, rec, job.error)
    assert_clean_dataset(ctx, wb_home / "storage", "c", [] if want == "cancelled" else [1])
    if want == "succeeded":
        assert job.result.version == 1 and job.result.rows == 5000
    _next_job_fine(src, "after_cancel")


def _owned_by(root: Path, prefix: str, pid: int) -> list[Path]:
    """Temp folders under ``root`` whose owner marker names ``pid``."""
    import json

    out = []
    for d in root.glob(f"{prefix}*"):
        try:
            if json.loads((d / "owner.json").read_text())["pid"] == pid:
                out.append(d)
        except (OSError, ValueError, KeyError):
            continue
    return out


def test_a_killed_job_process_holds_no_temp_space(wb_home, tmp_path):
    """SIGKILL of a kernel job's process while it holds a reader's inflated copy and DuckDB's
    temp folder: both are gone once the job is reported failed (a killed child holds no
    space), and the next job is fine."""
    import gzip

    src = tmp_path / "in.csv.gz"
    with gzip.open(src, "wt") as f:
        f.write("id,v\n" + "".join(f"{i},{i * 0.5}\n" for i in range(5000)))
    marker, gate = tmp_path / "running", tmp_path / "never"
    job = LocalRunner().submit(wb.Pipeline(
        source=wb.file(str(src)),
        steps=[wb.sql("SELECT * FROM input"),
               wb.python("wbtest_steps:wait_for_gate", marker=str(marker), gate=str(gate))],
        sink=wb.dataset("spilled")))
    pid = int(wait_until(lambda: marker.exists() and marker.read_text().split(), "the step")[0])
    assert _owned_by(wb_home / "tmp", "wb-read-", pid), "the reader's copy is there"
    assert _owned_by(wb_home / "tmp" / "duckdb", "job-", pid), "the SQL temp folder is there"
    os.kill(pid, signal.SIGKILL)
    job.wait(TIMEOUT)
    assert job.status == "failed" and "SIGKILL" in str(job.error)
    assert not _owned_by(wb_home / "tmp", "wb-read-", pid)
    assert not _owned_by(wb_home / "tmp" / "duckdb", "job-", pid)
    ctx = Context.from_settings()
    assert_settled(ctx, [job.id])
    assert_clean_dataset(ctx, wb_home / "storage", "spilled", [])
    _next_job_fine(tmp_path / "in.csv.gz", "after_spill")


DIES_HOLDING_TEMP = textwrap.dedent("""
    import os, signal, sys
    from workbench.storage.disk import duckdb_temp_root, owned_temp_dir, temp_base
    for root, prefix in ((temp_base(sys.argv[1]), "wb-read-"),
                         (duckdb_temp_root(sys.argv[1]), "job-")):
        d = owned_temp_dir(root, prefix)
        (d / "data").write_bytes(b"x" * 1_000_000)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_gc_lists_and_removes_temp_of_dead_processes(wb_home):
    """Temp folders of a process killed on this machine (a reader's copy, DuckDB spill) are
    removed by ``workbench gc``, which lists them; folders of live processes stay."""
    from workbench.maintenance import gc
    from workbench.storage.disk import duckdb_temp_root, owned_temp_dir, temp_base

    proc = subprocess.run([sys.executable, "-c", DIES_HOLDING_TEMP, str(wb_home)],
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == -signal.SIGKILL
    dead = sorted(str(p) for p in [*temp_base(wb_home).glob("wb-read-*"),
                                   *duckdb_temp_root(wb_home).glob("job-*")])
    assert len(dead) == 2
    mine = owned_temp_dir(temp_base(wb_home), "wb-read-")  # this live process's: kept
    report = gc(Context.from_settings(), retention_seconds=3600)
    assert sorted(report["read_temp_removed"] + report["sql_temp_removed"]) == dead
    assert not any(Path(p).exists() for p in dead) and mine.is_dir()
    # the command says what it removed
    subprocess.run([sys.executable, "-c", DIES_HOLDING_TEMP, str(wb_home)],
                   env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    dead = [str(p) for p in temp_base(wb_home).glob("wb-read-*") if p != mine]
    assert len(dead) == 1
    out = subprocess.run([sys.executable, "-m", "workbench", "gc"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0, out.stderr
    assert "reader temp folders of dead jobs removed" in out.stdout and dead[0] in out.stdout
    assert not Path(dead[0]).exists() and mine.is_dir()


def test_a_job_over_its_memory_limit_is_stopped(src, wb_home, tmp_path, monkeypatch):
    """A kernel job whose process takes more than WORKBENCH_JOB_MEMORY_LIMIT is stopped and
    fails with MemoryLimitExceeded naming the setting (the kernel is not the one the OOM killer
    picks); nothing it wrote stays, and the next job is fine."""
    from workbench.errors import MemoryLimitExceeded

    monkeypatch.setenv("WORKBENCH_JOB_MEMORY_LIMIT", "700MB")
    job = LocalRunner().submit(wb.Pipeline(
        source=wb.file(str(src)), steps=[wb.python("wbtest_steps:grow_memory", total_mb=3000)],
        sink=wb.dataset("greedy")))
    job.wait(TIMEOUT)
    assert job.status == "failed"
    assert isinstance(job.error, MemoryLimitExceeded), job.error
    assert "WORKBENCH_JOB_MEMORY_LIMIT" in job.error.hint
    ctx = Context.from_settings()
    assert_settled(ctx, [job.id])
    assert_clean_dataset(ctx, wb_home / "storage", "greedy", [])
    assert not (wb_home / "tmp" / f"job-{job.id}").exists()
    _next_job_fine(src, "after_greedy")


def test_sql_in_a_kernel_job_gets_at_most_the_jobs_memory(src, wb_home, monkeypatch):
    """SQL out of memory in a kernel job: DuckDB's memory_limit is capped at the job's own
    limit, so the query fails with an SQLError naming the settings (DuckDB's allocation failure
    used to abort the process and leave ~4 GB of spill), its temp folder is gone, and the next
    job is fine."""
    from workbench.errors import SQLError

    monkeypatch.setenv("WORKBENCH_SQL_MEMORY_LIMIT", "8GB")
    monkeypatch.setenv("WORKBENCH_JOB_MEMORY_LIMIT", "700MB")
    job = LocalRunner().submit(wb.Pipeline(
        source=wb.file(str(src)),
        steps=[wb.sql("SELECT string_agg(repeat('x', 400), ',') AS s FROM range(4000000)")],
        sink=wb.dataset("sql_oom")))
    job.wait(TIMEOUT)
    assert job.status == "failed"
    assert isinstance(job.error, SQLError), job.error
    assert "WORKBENCH_SQL_MEMORY_LIMIT" in job.error.message
    assert "WORKBENCH_JOB_MEMORY_LIMIT" in job.error.hint
    ctx = Context.from_settings()
    assert_settled(ctx, [job.id])
    assert_clean_dataset(ctx, wb_home / "storage", "sql_oom", [])
    assert list((wb_home / "tmp" / "duckdb").glob("job-*")) == []
    _next_job_fine(src, "after_sql_oom")


def test_a_preview_over_the_memory_limit_is_stopped(src, wb_home, monkeypatch):
    """``wb.preview`` stays in the kernel, bounded by the same limits: one that takes more than
    WORKBENCH_JOB_MEMORY_LIMIT is stopped with MemoryLimitExceeded naming the setting, and the
    next preview works."""
    from workbench.errors import MemoryLimitExceeded

    monkeypatch.setenv("WORKBENCH_JOB_MEMORY_LIMIT", "300MB")
    with pytest.raises(MemoryLimitExceeded) as info:
        wb.preview(wb.Pipeline(source=wb.file(str(src)),
                               steps=[wb.python("wbtest_steps:grow_memory", total_mb=800)]))
    assert "WORKBENCH_JOB_MEMORY_LIMIT" in info.value.hint
    assert wb.preview(wb.Pipeline(source=wb.file(str(src))), rows=5).height == 5
    # the stopped query's handle is kept until it ended (a dropped one aborts the kernel)
    from workbench import api

    wait_until(lambda: all(api._ended(q) for q in api._ABANDONED), "the stopped query to end")
