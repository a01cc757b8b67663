"""`notebook run --on-worker --timeout`: a run given up on never starts later."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat

from wb_cluster import make_cluster, wait_for
from servers import redis_db


def test_a_run_given_up_on_is_withdrawn_and_never_runs(redis_server, tmp_path):
    cl = make_cluster(tmp_path / "wb", redis_db(redis_server))
    cl.redis().flushdb()
    nb = tmp_path / "report.ipynb"
    nb.write_text(nbformat.writes(nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("open('RAN', 'w').write('yes')")])))
    try:
        proc = subprocess.run([sys.executable, "-m", "workbench", "notebook", "run", str(nb),
                               "--on-worker", "--timeout", "2", "--json"], cwd=tmp_path,
                              env=cl.process_env(), capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1
        assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
        err = json.loads(proc.stdout)["error"]
        assert err["type"] == "Cancelled" and "withdrawn" in err["message"]
        assert "'notebooks' queue" in err["hint"]
        assert cl.redis().llen("notebooks") == 1  # still queued: no worker serves the queue yet

        cl.start_worker("late", queues="notebooks")
        wait_for(lambda: cl.redis().llen("notebooks") == 0, "the late worker to take the message")
        wait_for(lambda: "expired" in cl.logs["late"].read_text().lower()
                 or "revoked" in cl.logs["late"].read_text().lower(),
                 "the worker to discard the withdrawn run")
        assert not (tmp_path / "wb" / "home" / "RAN").exists() and not (tmp_path / "RAN").exists()
        runs = subprocess.run([sys.executable, "-m", "workbench", "notebook", "runs", "--json"],
                              env=cl.process_env(), capture_output=True, text=True, timeout=120)
        assert json.loads(runs.stdout)["runs"] == []
    finally:
        cl.stop()
