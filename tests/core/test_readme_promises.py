"""README promises that had no test of their own (tests/README.md maps every promise to its tests)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

import workbench as wb
from servers import free_port

def hold(frame: pl.LazyFrame, gate: str) -> pl.LazyFrame:
    """A step that holds its data until the test creates ``gate``."""

    def fn(df: pl.DataFrame) -> pl.DataFrame:
        while not os.path.exists(gate):
            time.sleep(0.02)
        return df

    return frame.map_batches(fn, streamable=True)


def _csv(path: Path, rows: int) -> Path:
    pl.DataFrame({"id": range(rows), "region": [f"r{i % 7}" for i in range(rows)],
                  "note": ["the same long compressible text " * 4] * rows}).write_csv(path)
    return path


# ----------------------------------------------------------------------------- sinks
def _local_paths(wb_home: Path, ds) -> list[Path]:
    root = wb_home / "storage"
    return [root / f["key"] for f in ds.files]


def test_dataset_sink_is_zstd_by_default_and_honours_its_parquet_options(wb_home, tmp_path):
    src = _csv(tmp_path / "in.csv", 5_000)
    default = wb.run(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("plain")))
    metas = [pq.ParquetFile(p).metadata for p in _local_paths(wb_home, default)]
    assert {m.row_group(i).column(c).compression for m in metas
            for i in range(m.num_row_groups) for c in range(m.num_columns)} == {"ZSTD"}

    tuned = wb.run(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset(
        "tuned", compression="gzip", row_group_size=1_000)))
    metas = [pq.ParquetFile(p).metadata for p in _local_paths(wb_home, tuned)]
    assert {m.row_group(i).column(c).compression for m in metas
            for i in range(m.num_row_groups) for c in range(m.num_columns)} == {"GZIP"}
    sizes = [m.row_group(i).num_rows for m in metas for i in range(m.num_row_groups)]
    assert sum(sizes) == 5_000 and max(sizes) <= 1_000

    # the level reaches the encoder. Parquet records the codec, not its level, so the level is
    # seen in the size: on text of many distinct values (no dictionary to hide the codec), zstd
    # at level 22 writes a file clearly smaller than at level 1 (on the few repeated values
    # above both levels write about the same bytes, and level 22 was the larger)
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split()
    text = tmp_path / "text.csv"
    pl.DataFrame({"id": range(20_000), "note": [
        " ".join(words[(i * 7 + j * j * 5 + i // 3) % 12] for j in range(12)) + f" #{i}"
        for i in range(20_000)]}).write_csv(text)
    fast = wb.run(wb.Pipeline(source=wb.file(str(text)), sink=wb.dataset(
        "fast", compression="zstd", compression_level=1)))
    small = wb.run(wb.Pipeline(source=wb.file(str(text)), sink=wb.dataset(
        "small", compression="zstd", compression_level=22)))
    assert small.bytes < 0.9 * fast.bytes, (small.bytes, fast.bytes)
    assert wb.read("small").collect().equals(wb.read("fast").collect())


# ----------------------------------------------------------------------------- sources
def test_from_dataset_reads_the_version_asked_for(wb_home, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("x\n1\n2\n")
    b.write_text("x\n10\n20\n30\n")
    wb.ingest(str(a), name="src")
    wb.ingest(str(b), name="src")
    one = wb.run(wb.Pipeline(source=wb.from_dataset("src", version=1)))
    latest = wb.run(wb.Pipeline(source=wb.from_dataset("src")))
    assert one["x"].to_list() == [1, 2]
    assert latest["x"].to_list() == [10, 20, 30]
    with pytest.raises(wb.NotFound, match="no version 3 of dataset 'src'"):
        wb.run(wb.Pipeline(source=wb.from_dataset("src", version=3)))


# ----------------------------------------------------------------------------- checks
def test_a_failed_check_reports_at_most_five_offending_rows(wb_home, tmp_path):
    src = tmp_path / "n.csv"
    src.write_text("id,v\n" + "".join(f"{i},{'' if i % 2 else i}\n" for i in range(40)))
    job = wb.submit(wb.Pipeline(source=wb.file(str(src)), checks=[wb.not_null("v")],
                                sink=wb.dataset("never"))).wait(60)
    assert job.status == "failed" and type(job.error).__name__ == "CheckFailed"
    (check,) = job.state.checks
    assert (check["passed"], check["failed_rows"], check["column"]) == (False, 20, "v")
    assert [row["id"] for row in check["examples"]] == [1, 3, 5, 7, 9]


# ----------------------------------------------------------------------------- jobs
def test_wait_with_a_timeout_raises_and_the_job_goes_on(wb_home, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("a\n1\n")
    gate = tmp_path / "gate"
    job = wb.submit(wb.Pipeline(source=wb.file(str(src)),
                                steps=[wb.python("test_readme_promises:hold", gate=str(gate))]))
    with pytest.raises(TimeoutError, match=rf"^job {job.id} still (queued|running) after 0.2s$"):
        job.wait(0.2)
    assert not job.done
    gate.touch()
    assert job.wait(60).status == "succeeded"
    assert job.result["a"].to_list() == [1]


def test_runner_local_keeps_the_job_in_the_kernel_with_a_broker_set(wb_home, tmp_path,
                                                                     monkeypatch):
    # a broker nobody listens on: a job sent there would fail fast with BrokerUnavailable
    monkeypatch.setenv("WORKBENCH_BROKER_URL", f"redis://127.0.0.1:{free_port()}/0")
    src = tmp_path / "in.csv"
    src.write_text("a\n1\n2\n")
    job = wb.submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("kept")), runner="local")
    assert type(job).__name__ == "LocalJob"
    assert job.wait(60).status == "succeeded" and job.result.rows == 2
    assert wb.job(job.id).status == "succeeded"
    with pytest.raises(wb.TransientError, match="unreachable"):
        wb.submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("sent")))


def test_job_id_reattaches_a_local_job_after_the_kernel_restarts(wb_home, tmp_path):
    """A LocalRunner job run by a process that has since exited: ``wb.job(id)`` in a new one
    gives its status, checks and result from the catalog."""
    src = tmp_path / "in.csv"
    src.write_text("a\n1\n2\n3\n")
    code = ("import workbench as wb\n"
            f"job = wb.submit(wb.Pipeline(source=wb.file({str(src)!r}), checks=[wb.not_null('a')],"
            " sink=wb.dataset('kept')))\n"
            "job.wait(60)\nprint(job.id)\n")
    env = {**os.environ, "WORKBENCH_HOME": str(wb_home)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120, check=True)
    job_id = out.stdout.strip().splitlines()[-1]
    job = wb.job(job_id)
    assert job.done and job.status == "succeeded"
    assert (job.result.name, job.result.version, job.result.rows) == ("kept", 1, 3)
    assert [c["name"] for c in job.state.checks] == ["not_null(a)"]


# ----------------------------------------------------------------------------- terminal
def test_the_terminal_progress_bar_shows_rows_and_bytes_per_second(tmp_path):
    """On a terminal (a pty here) the bar redraws in place and carries rows/s and bytes/s."""
    import pty

    src = _csv(tmp_path / "big.csv", 400_000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(WORKBENCH_HOME=str(tmp_path / "home"), COLUMNS="200")
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "ingest", str(src), "--name", "big"],
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(120) == 0, out.decode(errors="replace")
    text = out.decode(errors="replace")
    assert "\r\x1b[2K" in text  # redrawn in place
    final = text.rsplit("\r\x1b[2K", 1)[1]
    assert re.search(r"400,000 rows  .*  [\d.,]+[KM]? rows/s  [\d.]+ [kKMG]?i?B/s  ", final), final
    assert "done: big v1" in final


# ----------------------------------------------------------------------------- notebooks
def test_notebook_run_writes_the_executed_copy_to_output(wb_home, tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("region = 'all'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("print('report for', region)")]
    path = tmp_path / "report.ipynb"
    nbformat.write(nb, str(path))
    out = tmp_path / "out.ipynb"
    env = {**os.environ, "WORKBENCH_HOME": str(wb_home)}
    proc = subprocess.run([sys.executable, "-m", "workbench", "notebook", "run", str(path), "-p",
                           "region", "north", "--output", str(out), "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert json.loads(proc.stdout)["status"] == "succeeded"
    ran = nbformat.read(str(out), as_version=4)
    printed = [o.get("text", "") for c in ran.cells if c.cell_type == "code" for o in c.outputs]
    assert "report for north\n" in printed
    assert nbformat.read(str(path), as_version=4).cells[1].outputs == []  # the original untouched


# ----------------------------------------------------------------------------- beat
def test_beat_schedules_cleanup_stuck_jobs_stream_expiry_and_notebook_schedules(monkeypatch):
    from workbench.worker.app import beat_schedule
    from workbench.worker.config import WorkerConfig

    cfg = WorkerConfig.from_env()
    sched = beat_schedule(cfg)
    assert {k: (v["task"], v["schedule"], v["options"]["queue"]) for k, v in sched.items()} == {
        "workbench-cleanup": ("workbench.cleanup", cfg.cleanup_interval, "maintenance"),
        "workbench-detect-stuck-jobs": ("workbench.detect_stuck_jobs", cfg.stuck_check_interval,
                                        "maintenance"),
        "workbench-expire-streams": ("workbench.expire_streams", cfg.expire_interval, "maintenance"),
        "workbench-notebook-schedules": ("workbench.run_due_schedules",
                                         cfg.schedule_check_interval, "maintenance"),
    }
    # a message nobody took before the next one is due expires instead of piling up
    assert all(v["options"]["expires"] == v["schedule"] for v in sched.values())
    assert (cfg.cleanup_interval, cfg.expire_interval) == (86_400, 3_600)  # daily, hourly
