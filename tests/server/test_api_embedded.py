"""The HTTP API against a real Jupyter Server with the extension, on the embedded default:
authentication and XSRF, every endpoint that needs no broker or object storage, Server-Sent
Events (live, then resumed), and the CLI's JSON error object."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import nbformat
import pytest
import requests
from api_client import PREFIX, error_of, stream, wait_for, write_csv

pytestmark = pytest.mark.services


def spec(src: Path, name: str, **extra) -> dict:
    return {"name": f"load {name}", "source": {"kind": "file", "path": str(src)},
            "sink": {"kind": "dataset", "name": name}, **extra}


def gated_spec(src: Path, name: str, marker: Path, gate: Path) -> dict:
    return spec(src, name, steps=[{"op": "python", "function": "srvtest_steps:gate",
                                   "kwargs": {"marker": str(marker), "gate": str(gate)}}])


def submit(api, url: str, body: dict) -> str:
    r = api.post(url + "/jobs", json=body)
    assert r.status_code == 202, r.text
    assert r.headers["Location"] == f"{PREFIX}/jobs/{r.json()['job_id']}"
    return r.json()["job_id"]


def finish(api, url: str, job_id: str) -> list:
    evs = stream(api, f"{url}/jobs/{job_id}/events")
    assert evs[-1].event == "job_finished", evs[-1]
    return evs


@pytest.fixture(scope="module")
def data(embedded) -> Path:
    d = embedded.root / "data"
    d.mkdir()
    write_csv(d / "sales.csv", 5_000)
    return d


# ----------------------------------------------------------------------------- authentication
@pytest.mark.parametrize("method,path", [("get", "/health"), ("get", "/jobs"), ("post", "/jobs"),
                                         ("delete", "/jobs/x"), ("get", "/jobs/x/events"),
                                         ("post", "/uploads"), ("get", "/openapi.json")])
def test_no_token_or_cookie_is_403_with_the_error_object(embedded, method, path):
    anonymous = embedded.session(token=False)
    err = error_of(getattr(anonymous, method)(embedded.api + path), 403, "AccessDenied")
    assert "jupyter server list" in err["hint"]
    wrong = requests.Session()
    wrong.headers["Authorization"] = "token not-the-token"
    error_of(getattr(wrong, method)(embedded.api + path), 403, "AccessDenied")


def test_a_login_cookie_needs_the_xsrf_token_to_change_anything(embedded, data):
    browser = embedded.session(token=False)
    # what JupyterLab's page does: log in once with the token, then send cookies
    assert browser.get(f"{embedded.origin}/lab?token={embedded.token}").status_code == 200
    assert browser.get(embedded.api + "/health").status_code == 200
    body = spec(data / "sales.csv", "xsrf_probe")
    err = error_of(browser.post(embedded.api + "/jobs", json=body), 403, "AccessDenied")
    assert "_xsrf" in err["message"] or "XSRF" in err["message"]
    xsrf = browser.cookies.get("_xsrf")
    assert xsrf
    r = browser.post(embedded.api + "/jobs", json=body, headers={"X-XSRFToken": xsrf})
    assert r.status_code == 202, r.text


# ----------------------------------------------------------------------------- service
def test_health_names_each_part_with_its_state(api, embedded):
    h = api.get(embedded.api + "/health").json()
    assert h["ok"] is True and h["namespace"] == "default"
    assert h["catalog"]["state"] == "ok" and h["catalog"]["dialect"] == "sqlite"
    assert h["storage"]["state"] == "ok"
    for part in ("broker", "keys", "workers"):
        assert h[part]["state"] == "not used"


def test_workers_without_a_broker_is_a_config_error(api, embedded):
    err = error_of(api.get(embedded.api + "/workers"), 409, "ConfigError")
    assert "WORKBENCH_BROKER_URL" in err["hint"]
    error_of(api.post(embedded.api + "/workers/test"), 409, "ConfigError")


def test_openapi_document_matches_the_registered_handlers(api, embedded):
    from workbench.server.routes import ROUTES, methods

    doc = api.get(embedded.api + "/openapi.json").json()
    assert doc["openapi"].startswith("3.") and doc["servers"] == [{"url": PREFIX}]
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    registered = {(t, m) for t, h in ROUTES for m in methods(h)}
    assert documented == registered
    for path, ops in doc["paths"].items():  # every path parameter is declared
        for op in ops.values():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(__import__("re").findall(r"\{(\w+)\}", path)), (path, op)
    # and every documented route is served (not the catch-all 404)
    for path, ops in doc["paths"].items():
        url = embedded.api + path.replace("{job_id}", "nope").replace("{name}", "nope").replace(
            "{upload_id}", "nope")
        for m in ops:
            r = api.request(m.upper(), url, json={})
            if r.status_code == 404:
                assert "no endpoint" not in r.json()["error"]["message"], (m, path)


def test_an_unknown_endpoint_is_a_json_404(api, embedded):
    err = error_of(api.get(embedded.api + "/nothing/here"), 404, "NotFound")
    assert "openapi.json" in err["hint"]


# ----------------------------------------------------------------------------- jobs
def test_submit_json_and_yaml_then_filter_page_and_show(api, embedded, data):
    url = embedded.api
    a = submit(api, url, spec(data / "sales.csv", "alpha"))
    finish(api, url, a)
    yaml_spec = (f"name: load beta\nsource: {{kind: file, path: '{data / 'sales.csv'}'}}\n"
                 "steps:\n  - {op: sql, query: 'SELECT region, count(*) AS n FROM input GROUP BY region'}\n"
                 "sink: {kind: dataset, name: beta}\n")
    r = api.post(url + "/jobs", data=yaml_spec, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 202, r.text
    b = r.json()["job_id"]
    finish(api, url, b)

    only_alpha = api.get(url + "/jobs", params={"dataset": "alpha"}).json()["jobs"]
    assert [j["id"] for j in only_alpha] == [a]
    assert only_alpha[0]["dataset"] == "alpha" and only_alpha[0]["status"] == "succeeded"
    assert only_alpha[0]["duration"] > 0 and only_alpha[0]["who"] == getpass.getuser()
    mine = {j["id"] for j in api.get(url + "/jobs", params={"who": getpass.getuser()}).json()["jobs"]}
    assert {a, b} <= mine
    assert api.get(url + "/jobs", params={"who": "somebody-else"}).json()["jobs"] == []
    assert api.get(url + "/jobs", params={"status": "failed", "dataset": "alpha"}).json()["jobs"] == []

    page1 = api.get(url + "/jobs", params={"limit": 1}).json()
    page2 = api.get(url + "/jobs", params={"limit": 1, "offset": page1["next_offset"]}).json()
    assert page1["next_offset"] == 1 and len(page1["jobs"]) == len(page2["jobs"]) == 1
    assert page1["jobs"][0]["id"] != page2["jobs"][0]["id"]

    job = api.get(f"{url}/jobs/{b}").json()
    assert job["spec"]["steps"][0]["op"] == "sql" and job["result"]["name"] == "beta"
    assert job["links"]["events"] == f"{PREFIX}/jobs/{b}/events"


def test_bad_requests_get_the_error_object_naming_what_is_wrong(api, embedded, data):
    url = embedded.api
    err = error_of(api.post(url + "/jobs", json={"sink": {"kind": "dataset", "name": "x"}}),
                   400, "SpecError")
    assert "source" in err["message"]
    err = error_of(api.post(url + "/jobs", json=spec(data / "sales.csv", "x", steps=[{"op": "nope"}])),
                   400, "SpecError")
    assert "steps.0: unknown kind 'nope'" in err["message"]
    error_of(api.post(url + "/jobs", data="source: [unclosed", headers={"Content-Type": "application/yaml"}),
             400, "SpecError")
    error_of(api.post(url + "/jobs", data="[1, 2]", headers={"Content-Type": "application/json"}),
             400, "SpecError")
    err = error_of(api.post(url + "/jobs?runner=cloud", json=spec(data / "sales.csv", "x")), 400,
                   "SpecError")
    assert "local" in err["hint"]
    error_of(api.get(url + "/jobs", params={"limit": "many"}), 400, "SpecError")
    error_of(api.get(url + "/jobs", params={"limit": 0}), 400, "SpecError")
    error_of(api.get(url + "/jobs/no-such-job"), 404, "NotFound")
    error_of(api.delete(url + "/jobs/no-such-job"), 404, "NotFound")
    error_of(api.post(url + "/jobs/no-such-job/rerun"), 404, "NotFound")
    error_of(api.get(url + "/jobs/no-such-job/events"), 404, "NotFound")
    error_of(api.get(url + "/jobs/x/events", headers={"Last-Event-ID": "abc"}), 400, "SpecError")


def test_a_failing_job_streams_its_error_with_file_and_row(api, embedded, data):
    bad = data / "bad.csv"
    bad.write_text("id,amount\n1,2\n3,4\n5,6,7,8\n")
    job_id = submit(api, embedded.api, spec(bad, "bad"))
    evs = stream(api, f"{embedded.api}/jobs/{job_id}/events")
    assert evs[-1].event == "job_failed"
    err = evs[-1].data["error"]
    assert err["type"] == "SourceError" and err["file"] == str(bad) and err["row"] is not None
    assert api.get(f"{embedded.api}/jobs/{job_id}").json()["error"]["type"] == "SourceError"


def test_events_are_live_then_resume_from_last_event_id(api, embedded, data, tmp_path):
    url = embedded.api
    marker, gate = tmp_path / "marker", tmp_path / "gate"
    job_id = submit(api, url, gated_spec(data / "sales.csv", "gated", marker, gate))
    wait_for(marker.exists, "the job to reach its gated step")
    live = []
    with api.get(f"{url}/jobs/{job_id}/events", stream=True, timeout=120) as resp:
        from api_client import events

        it = events(resp)
        for ev in it:  # everything up to the held step, replayed from the first event
            live.append(ev)
            if ev.event == "step_started" and ev.data.get("index") == 1:
                break
        assert live[0].event == "job_started" and live[0].id == "1"
        assert api.get(f"{url}/jobs/{job_id}").json()["status"] == "running"
        gate.touch()  # the rest happens after this connection was open: it arrives live
        for ev in it:
            live.append(ev)
            if ev.event == "job_finished":
                break
    assert live[-1].event == "job_finished"
    assert [e.id for e in live] == [str(i) for i in range(1, len(live) + 1)]

    again = stream(api, f"{url}/jobs/{job_id}/events")  # the same events, the same numbers
    assert [(e.id, e.event) for e in again] == [(e.id, e.event) for e in live]
    resumed = stream(api, f"{url}/jobs/{job_id}/events", last_id="2")
    assert [(e.id, e.event) for e in resumed] == [(e.id, e.event) for e in live[2:]]
    r = api.get(f"{url}/jobs/{job_id}/events", headers={"Last-Event-ID": live[-1].id})
    assert r.status_code == 204  # EventSource stops reconnecting
    r = api.get(f"{url}/jobs/{job_id}/events", params={"last_event_id": len(live) - 1})
    assert r.status_code == 200 and "event: job_finished" in r.text and "id: 1\n" not in r.text


def test_cancel_a_running_job_then_rerun_it(api, embedded, data, tmp_path):
    url = embedded.api
    marker, gate = tmp_path / "marker", tmp_path / "gate"
    job_id = submit(api, url, gated_spec(data / "sales.csv", "cancel_me", marker, gate))
    wait_for(marker.exists, "the job to reach its gated step")
    r = api.delete(f"{url}/jobs/{job_id}")
    assert r.status_code == 200, r.text
    assert r.json()["job_id"] == job_id and r.json()["status"] == "running"
    assert api.get(f"{url}/jobs/{job_id}").json()["cancel_requested"] is True
    gate.touch()  # the job goes on to its next cancel check, and stops there
    evs = stream(api, f"{url}/jobs/{job_id}/events")
    assert evs[-1].event == "job_cancelled"
    assert api.get(f"{url}/jobs/{job_id}").json()["status"] == "cancelled"
    error_of(api.get(f"{url}/datasets/cancel_me"), 404, "NotFound")  # nothing became visible

    r = api.post(f"{url}/jobs/{job_id}/rerun")  # the gate is open now: the re-run completes
    assert r.status_code == 202, r.text
    new_id = r.json()["job_id"]
    assert new_id != job_id and r.json()["rerun_of"] == job_id
    finish(api, url, new_id)
    assert api.get(f"{url}/datasets/cancel_me").json()["version"] == 1


# ----------------------------------------------------------------------------- datasets
def test_datasets_versions_schema_profile_lineage_and_preview(api, embedded, data):
    url = embedded.api
    for _ in range(2):
        finish(api, url, submit(api, url, spec(data / "sales.csv", "sales")))
    listed = {d["name"]: d for d in api.get(url + "/datasets").json()["datasets"]}
    assert listed["sales"]["version"] == 2 and listed["sales"]["rows"] == 5_000
    assert listed["sales"]["columns"] == ["id", "region", "amount"]

    ds = api.get(url + "/datasets/sales").json()
    assert [v["version"] for v in ds["versions"]] == [1, 2]  # oldest first, as the catalog lists them
    assert [f["name"] for f in ds["schema"]["fields"]] == ["id", "region", "amount"]
    assert ds["profile"]["columns"]["amount"]["max"] == pytest.approx(4999 * 1.5)
    assert ds["lineage"]["source"]["path"] == str(data / "sales.csv")
    assert ds["lineage"]["inputs"][0]["path"] == str(data / "sales.csv")
    assert api.get(url + "/datasets/sales", params={"version": 1}).json()["version"] == 1

    pv = api.get(url + "/datasets/sales/preview", params={"rows": 3}).json()
    assert [c["name"] for c in pv["columns"]] == ["id", "region", "amount"]
    assert pv["rows"] == [{"id": 0, "region": "north", "amount": 0.0},
                          {"id": 1, "region": "south", "amount": 1.5},
                          {"id": 2, "region": "east", "amount": 3.0}]

    error_of(api.get(url + "/datasets/nope"), 404, "NotFound")
    error_of(api.get(url + "/datasets/sales", params={"version": 99}), 404, "NotFound")
    error_of(api.get(url + "/datasets/nope/preview"), 404, "NotFound")
    error_of(api.get(url + "/datasets/sales/preview", params={"rows": 0}), 400, "SpecError")
    err = error_of(api.get(url + "/datasets/sales/preview", params={"rows": 100_000}), 400, "SpecError")
    assert "1000" in err["message"]
    err = error_of(api.get(url + "/datasets/bad%20name"), 400, "SpecError")
    assert "bad name" in err["message"]


# ----------------------------------------------------------------------------- uploads
def test_uploads_on_local_storage_say_object_storage_is_needed(api, embedded):
    url = embedded.api
    err = error_of(api.post(url + "/uploads", json={"filename": "a.csv", "size": 10}), 409, "ConfigError")
    assert "WORKBENCH_STORAGE_URL" in err["hint"]
    err = error_of(api.post(url + "/uploads", json={"size": 10}), 400, "SpecError")
    assert "filename" in err["message"]
    error_of(api.post(url + "/uploads", data="not json"), 400, "SpecError")
    error_of(api.post(url + "/uploads/0123/confirm", json={}), 409, "ConfigError")


# ----------------------------------------------------------------------------- notebooks
def test_notebook_runs_and_schedules(api, embedded, tmp_path):
    url, root = embedded.api, embedded.root
    gate = tmp_path / "nb-gate"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("factor = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        f"import os, time\nwhile not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)\n"
        "result = 21 * factor")]
    nbformat.write(nb, root / "report.ipynb")

    r = api.post(url + "/notebook-runs", json={"notebook": "report.ipynb", "parameters": {"factor": 2}})
    assert r.status_code == 202, r.text  # answered while the notebook runs (held by the gate)
    run_id = r.json()["id"]
    assert r.json()["status"] == "running" and r.json()["parameters"] == {"factor": 2}
    assert api.get(url + "/health").status_code == 200  # the server keeps serving meanwhile
    gate.touch()

    def finished():
        runs = {x["id"]: x for x in api.get(url + "/notebook-runs").json()["runs"]}
        return runs[run_id] if runs[run_id]["status"] != "running" else None

    run = wait_for(finished, "the notebook run to end")
    assert run["status"] == "succeeded" and run["output_uri"], run

    err = error_of(api.post(url + "/notebook-runs", json={"notebook": "missing.ipynb"}), 404, "NotFound")
    assert err["file"] == str(root / "missing.ipynb")
    error_of(api.post(url + "/notebook-runs", json={}), 400, "SpecError")

    r = api.post(url + "/schedules", json={"notebook": "report.ipynb", "cron": "0 6 * * *",
                                           "parameters": {"factor": 3}})
    assert r.status_code == 201, r.text
    listed = api.get(url + "/schedules").json()["schedules"]
    assert [s["id"] for s in listed] == [r.json()["id"]] and listed[0]["cron"] == "0 6 * * *"
    err = error_of(api.post(url + "/schedules", json={"notebook": "report.ipynb", "cron": "every day"}),
                   400, "SpecError")
    assert "cron" in err["message"]
    assert json.loads(json.dumps(listed))  # plain JSON all the way down
