"""A due schedule fired the way beat fires it: beat's message on the maintenance queue, a real
Celery worker process dispatching the run to the notebooks queue, papermill in the worker."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "worker"))

from test_scheduling import make_notebook  # noqa: E402
from wb_cluster import make_cluster  # noqa: E402

from workbench import scheduling  # noqa: E402
from workbench.cli import main  # noqa: E402
from workbench.catalog import schedules  # noqa: E402
from servers import redis_db  # noqa: E402

pytestmark = pytest.mark.services


def _due_schedule(ctx, tmp_path: Path, name: str, region: str) -> dict:
    """A schedule every 5 minutes, as if registered ten minutes ago: one occurrence is due."""
    nb = make_notebook(tmp_path / f"{name}.ipynb", [f"print('{name} for', region)"],
                       parameters="region = 'all'")
    s = scheduling.schedule_notebook(ctx, nb, "*/5 * * * *", {"region": region})
    ctx.catalog.execute(schedules.update().where(schedules.c.id == s["id"])
                        .values(created_at=time.time() - 600))
    return s


def _finished_runs(ctx, schedule_id: str, timeout: float = 120) -> list[dict]:
    """The schedule's finished runs, waiting up to ``timeout`` (a worker starts a kernel)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in scheduling.list_runs(ctx, schedule_id=schedule_id) if r["finished_at"]]
        if runs:
            return runs
        time.sleep(0.5)
    return []


def test_beat_message_fires_a_due_schedule_on_a_worker(redis_server, tmp_path, capsys):
    cluster = make_cluster(tmp_path, redis_db(redis_server))
    cluster.start_worker("nb", queues="notebooks,maintenance")
    try:
        ctx = cluster.ctx()
        s = _due_schedule(ctx, tmp_path, "report", "north")
        nb = Path(s["notebook"])
        cluster.app.send_task("workbench.run_due_schedules", queue="maintenance")
        runs = _finished_runs(ctx, s["id"])
        assert runs, cluster.logs["nb"].read_text()[-3000:]
        assert runs[0]["status"] == "succeeded" and runs[0]["parameters"] == {"region": "north"}
        assert "report for north" in Path(runs[0]["output_uri"]).read_text()
        after = scheduling.get_schedule(ctx, s["id"])
        assert after["last_run_at"] is not None and after["next_run_at"] > time.time()
        # a second beat tick finds nothing due: the occurrence ran once
        assert scheduling.due_schedules(ctx) == []
        # `workbench notebook run --on-worker`: the same notebook as a task on the notebooks queue
        with pytest.MonkeyPatch.context() as mp:
            for key, value in cluster.env.items():
                mp.setenv(key, value)
            assert main(["notebook", "run", str(nb), "-p", "region", "east", "--on-worker",
                         "--timeout", "120", "--json"]) == 0
        run = json.loads(capsys.readouterr().out)
        assert run["status"] == "succeeded" and run["parameters"] == {"region": "east"}
        assert "report for east" in Path(run["output_uri"]).read_text()
    finally:
        cluster.stop()


def test_a_real_beat_fires_a_schedule_registered_before_it_started(redis_server, tmp_path):
    """beat (checking every second here) fires a schedule kept in the catalog, so a schedule
    outlives any restart of beat; the run lands in the catalog with its output."""
    import subprocess

    cluster = make_cluster(tmp_path, redis_db(redis_server),
                           WORKBENCH_SCHEDULE_CHECK_INTERVAL="1")
    cluster.start_worker("nbbeat", queues="notebooks,maintenance")
    beat = None
    try:
        ctx = cluster.ctx()
        s = _due_schedule(ctx, tmp_path, "daily", "south")
        log = cluster.home / "beat.log"
        beat = subprocess.Popen([sys.executable, "-m", "workbench", "beat", "--schedule",
                                 str(cluster.home / "beat-schedule")],
                                cwd=cluster.home, env=cluster.process_env(),
                                stdout=open(log, "ab"), stderr=subprocess.STDOUT)
        runs = _finished_runs(ctx, s["id"])
        assert runs, log.read_text()[-2000:] + cluster.logs["nbbeat"].read_text()[-2000:]
        assert runs[0]["status"] == "succeeded" and runs[0]["parameters"] == {"region": "south"}
        assert "daily for south" in Path(runs[0]["output_uri"]).read_text()
        # three more beat ticks run on the worker (counted in its log), and the occurrence is
        # not run again
        def ticks() -> int:
            return sum("run_due_schedules" in line and "succeeded" in line
                       for line in cluster.logs["nbbeat"].read_text().splitlines())

        seen = ticks()
        deadline = time.monotonic() + 120
        while ticks() < seen + 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ticks() >= seen + 3, cluster.logs["nbbeat"].read_text()[-2000:]
        assert len(scheduling.list_runs(ctx, schedule_id=s["id"])) == 1
    finally:
        if beat is not None:
            beat.terminate()
            beat.wait(20)
        cluster.stop()
