"""The HTTP API with a broker: a real Redis, a Celery worker process and a Jupyter Server with
the extension, all started here. Workers, the test task, health, jobs on the workers with their
events from the Redis stream (resumed), and cancel."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from api_client import error_of, start_server, stream, wait_for, write_csv

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "worker"))
from wb_cluster import make_cluster  # noqa: E402
from servers import redis_db  # noqa: E402

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def cluster(redis_server, tmp_path_factory):
    cl = make_cluster(tmp_path_factory.mktemp("srv-cluster"),
                      redis_db(redis_server))
    cl.start_worker("srv", concurrency=1)
    yield cl
    cl.stop()


@pytest.fixture(scope="module")
def served(cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("srv-celery-root")
    wb = start_server(root, dict(cluster.env))
    yield wb
    wb.stop()


@pytest.fixture
def api(served):
    with served.session() as s:
        yield s


def test_health_with_a_broker_and_a_worker(api, served):
    h = api.get(served.api + "/health").json()
    assert h["broker"]["state"] == "ok" and h["catalog"]["state"] == "ok"
    assert h["storage"]["state"] == "ok"
    assert h["workers"] == {**h["workers"], "state": "ok", "count": 1, "names": ["srv@wb"]}
    assert h["keys"]["state"] in ("ok", "missing") and h["keys"]["dir"]


def test_workers_lists_queues_active_and_registered_tasks(api, served):
    (w,) = api.get(served.api + "/workers").json()["workers"]
    assert w["name"] == "srv@wb" and w["concurrency"] == 1
    assert {"pipeline", "ingestion", "maintenance", "notebooks"} <= set(w["queues"])
    assert "workbench.run_pipeline" in w["registered_tasks"]
    assert w["active"] == []


def test_the_test_task_runs_on_a_worker(api, served):
    r = api.post(served.api + "/workers/test")
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["task"] == "workbench.health_check" and answer["ok"] is True
    assert answer["worker"].startswith("srv@wb")
    assert set(answer["checks"]) == {"catalog", "storage", "redis"}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Inputs outside the workbench home (the home is never a source)."""
    return tmp_path_factory.mktemp("srv-celery-data")


def test_a_job_on_the_workers_streams_its_events_and_resumes(api, served, data):
    src = write_csv(data / "orders.csv", 20_000)
    r = api.post(served.api + "/jobs", json={
        "name": "orders on workers", "source": {"kind": "file", "path": str(src)},
        "sink": {"kind": "dataset", "name": "orders"}})
    assert r.status_code == 202, r.text
    assert r.json()["runner"] == "celery"
    job_id = r.json()["job_id"]
    url = f"{served.api}/jobs/{job_id}/events"
    full = stream(api, url)
    assert full[0].event == "job_started"
    assert full[-1].event == "job_finished", full[-1].data
    assert full[0].data["worker"].startswith("srv@wb")
    assert any(e.event == "progress" for e in full)
    resumed = stream(api, url, last_id="1")
    assert [(e.id, e.event) for e in resumed] == [(e.id, e.event) for e in full[1:]]
    job = api.get(f"{served.api}/jobs/{job_id}").json()
    assert job["runner"] == "celery" and job["status"] == "succeeded" and job["worker"]
    assert api.get(served.api + "/datasets/orders").json()["rows"] == 20_000


def test_cancel_a_job_running_on_a_worker(api, served, data):
    """The job is held in its step on the worker (wbtest_steps.wait_for_gate) while the test
    lists it as active and cancels it, so it cannot end first; let go, it stops before it
    commits."""
    src = write_csv(data / "held.csv", 20_000)
    marker, gate = data / "held.marker", data / "held.gate"
    r = api.post(served.api + "/jobs", json={
        "source": {"kind": "file", "path": str(src)},
        "steps": [{"op": "python", "function": "wbtest_steps:wait_for_gate",
                   "kwargs": {"marker": str(marker), "gate": str(gate)}}],
        "sink": {"kind": "dataset", "name": "held"}})
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    wait_for(lambda: marker.exists() and marker.read_text().split(),
             "the job to reach its step on the worker")
    active = api.get(served.api + "/workers").json()["workers"][0]["active"]
    assert [a["job_id"] for a in active] == [job_id]
    r = api.delete(f"{served.api}/jobs/{job_id}")
    # running until it next looks at the flag, which it cannot before the gate opens
    assert r.status_code == 200 and r.json() == {"job_id": job_id, "status": "running"}
    job = api.get(f"{served.api}/jobs/{job_id}").json()
    assert (job["status"], job["cancel_requested"]) == ("running", True)
    gate.touch()
    evs = stream(api, f"{served.api}/jobs/{job_id}/events")
    assert evs[-1].event == "job_cancelled"
    job = api.get(f"{served.api}/jobs/{job_id}").json()
    assert (job["status"], job["attempts"]) == ("cancelled", 1)
    error_of(api.get(served.api + "/datasets/held"), 404, "NotFound")
