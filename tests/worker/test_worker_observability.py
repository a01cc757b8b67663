"""What operators see: Flower, `workbench workers`, Prometheus metrics, JSON logs, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

import workbench as wb
from servers import free_port, wait_for_port
from workbench.cli import main as cli_main
from wb_cluster import ROOT, wait_for

pytestmark = pytest.mark.services


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()


@pytest.fixture(scope="module")
def flower(cluster):
    port = free_port()
    env = cluster.process_env(FLOWER_UNAUTHENTICATED_API="true")
    log = cluster.home / "flower.log"
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workbench.worker.app", "flower",
                             f"--port={port}", "--address=127.0.0.1"], cwd=cluster.home, env=env,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    wait_for_port(port, timeout=60, proc=proc)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(20)


def test_flower_sees_workers_and_jobs(cluster, flower, tmp_path):
    def listed() -> dict | None:
        # Flower lists a worker from its events first and adds what ``inspect`` answers (its
        # queues, its tasks) when the reply comes within Flower's own timeout
        w = json.loads(get(f"{flower}/api/workers?refresh=1")).get("shared@wb")
        return w if w and "active_queues" in w and "registered" in w else None

    workers = wait_for(listed, "Flower to list the worker with its queues and tasks")
    queues = {q["name"] for q in workers["active_queues"]}
    assert queues == {"ingestion", "transformation", "persistence", "pipeline", "notebooks",
                      "maintenance"}
    assert "workbench.run_pipeline" in workers["registered"]
    src = tmp_path / "in.csv"
    src.write_text("a\n1\n")
    job = cluster.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("flowered")))
    assert job.wait(120).status == "succeeded"
    task = wait_for(lambda: json.loads(get(f"{flower}/api/task/info/{job.id}"))
                    if json.loads(get(f"{flower}/api/task/info/{job.id}")).get("state") == "SUCCESS"
                    else None, "Flower to see the job's task")
    assert task["name"] == "workbench.run_pipeline"


def test_workers_command(cluster, capsys):
    # a generous reply window: on a loaded machine a worker may answer the broadcast late
    assert cli_main(["workers", "--json", "--timeout", "5"]) == 0
    info = json.loads(capsys.readouterr().out)["workers"]
    shared = next(w for w in info if w["name"] == "shared@wb")
    assert shared["concurrency"] == 2 and "pipeline" in shared["queues"]
    assert cli_main(["workers", "--timeout", "5"]) == 0
    assert "shared@wb" in capsys.readouterr().out


def test_health_check_task(cluster):
    res = cluster.app.send_task("workbench.health_check", queue="maintenance").get(timeout=60)
    assert res["ok"] and set(res["checks"]) == {"catalog", "storage", "redis"}
    assert res["worker"].startswith("shared@wb")


def _metrics(port: int) -> dict[str, float]:
    values = {}
    for line in get(f"http://127.0.0.1:{port}/metrics").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            values[key] = float(value)
    return values


def test_prometheus_metrics(cluster, tmp_path):
    """Counters are shared by every test on this worker: read them before and after one job, and
    check the exact change that job makes."""
    src = tmp_path / "in.csv"
    src.write_text("a,b\n1,2\n3,4\n5,6\n")
    succeeded = 'workbench_tasks_total{state="succeeded",task="run_pipeline"}'
    durations = 'workbench_task_duration_seconds_count{task="run_pipeline"}'
    before = wait_for(lambda: _metrics(cluster.metrics_port), "metrics")
    assert cluster.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("metered"))
                                   ).wait(120).status == "succeeded"

    def after_the_job():
        now = _metrics(cluster.metrics_port)
        return now if now.get(succeeded, 0) == before.get(succeeded, 0) + 1 else None

    after = wait_for(after_the_job, "the job counted in the metrics")
    assert after[durations] == before.get(durations, 0) + 1
    # a gauge of the catalog's jobs: the namespace's succeeded jobs, counted at the scrape
    import sqlalchemy as sa

    from workbench.catalog import jobs

    ctx = cluster.ctx()
    succeeded_jobs = next(ctx.catalog.rows(sa.select(sa.func.count()).where(
        jobs.c.namespace == ctx.namespace, jobs.c.status == "succeeded")))[0]
    assert after['workbench_jobs{state="succeeded"}'] == succeeded_jobs
    assert 'workbench_queue_depth{queue="pipeline"}' in after
    assert after["workbench_rows_processed_total"] - before.get("workbench_rows_processed_total", 0) == 3
    assert (after["workbench_bytes_processed_total"] - before.get("workbench_bytes_processed_total", 0)
            == src.stat().st_size)
    assert "# TYPE workbench_task_retries_total counter" in get(
        f"http://127.0.0.1:{cluster.metrics_port}/metrics")


def test_structured_logs_carry_job_task_attempt_duration(cluster, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("a\n1\n")
    job = cluster.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("logged")))
    assert job.wait(120).status == "succeeded"

    def finished_line():
        for line in cluster.logs["shared"].read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("job_id") == job.id and rec.get("state") == "succeeded":
                return rec
        return None

    rec = wait_for(finished_line, "the job's log line")
    assert rec["task_id"] == job.id and rec["attempt"] == 1 and rec["duration"] > 0
    assert rec["task"] == "run_pipeline" and rec["worker"].startswith("shared@wb")


def test_cli_submit_status_cancel(cluster, tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("id,x\n1,2\n2,3\n")
    spec = tmp_path / "p.yaml"
    spec.write_text(f"source: {{kind: file, path: '{src}'}}\nsink: {{kind: dataset, name: cli_out}}\n")
    env = cluster.process_env()
    done = subprocess.run([sys.executable, "-m", "workbench", "submit", str(spec)], env=env,
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip().splitlines()[0]
    assert "done: cli_out v1" in done.stderr

    assert cli_main(["status", job_id, "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["status"] == "succeeded" and rec["attempts"] == 1 and rec["runner"] == "celery"
    assert cli_main(["status", job_id]) == 0
    assert "succeeded" in capsys.readouterr().out

    assert cli_main(["cancel", job_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"job_id": job_id, "status": "succeeded"}

    assert cli_main(["status", "nosuchjob", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["type"] == "NotFound"


def test_cli_submit_reports_a_failed_job(cluster, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("id\n1\n1\n")
    spec = tmp_path / "p.json"
    spec.write_text(json.dumps({"source": {"kind": "file", "path": str(src)},
                                "checks": [{"check": "unique", "columns": ["id"]}],
                                "sink": {"kind": "dataset", "name": "cli_dup"}}))
    out = subprocess.run([sys.executable, "-m", "workbench", "submit", str(spec), "--json"],
                         env=cluster.process_env(), capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert out.returncode == 1
    res = json.loads(out.stdout)
    assert res["status"] == "failed" and res["error"]["type"] == "CheckFailed"
    assert os.environ.get("WORKBENCH_BROKER_URL") == cluster.broker_url
