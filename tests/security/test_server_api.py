"""The HTTP API's probes against a real Jupyter Server: notebook and output paths stay inside the
server's root folder (as Jupyter's contents API keeps its paths), and a job that runs in the
server runs only registered Python steps unless the operator opts in."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from api_client import error_of, start_server, stream, wait_for, write_csv

pytestmark = pytest.mark.services


def notebook(path: Path, marker: Path) -> Path:
    """A notebook whose only cell leaves ``marker`` behind: proof that it ran."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(f"open({str(marker)!r}, 'a').write('ran')")]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """``base/root`` is the server's root folder; ``base/outside.ipynb`` is not in it."""
    base = tmp_path_factory.mktemp("srv-confine")
    root, home = base / "root", base / "wbhome"
    root.mkdir()
    write_csv(root / "sales.csv", 10)
    markers = base / "markers"
    markers.mkdir()
    notebook(base / "outside.ipynb", markers / "outside")
    notebook(root / "inside.ipynb", markers / "inside")
    notebook(root / ".hidden" / "secret.ipynb", markers / "hidden")
    (root / "link.ipynb").symlink_to(base / "outside.ipynb")
    (root / "linkdir").symlink_to(base)
    env = {"WORKBENCH_HOME": str(home), "WORKBENCH_PYTHON_STEPS": "srvsec_steps"}  # tests/server/
    wb = start_server(root, env)
    wb.base, wb.markers = base, markers  # type: ignore[attr-defined]
    yield wb
    wb.stop()


@pytest.fixture
def api(site):
    with site.session() as s:
        yield s


def runs(api, site) -> list[dict]:
    return api.get(site.api + "/notebook-runs").json()["runs"]


# ----------------------------------------------------------------------------- notebook paths
@pytest.mark.parametrize("where", ["../outside.ipynb", "{base}/outside.ipynb", "/etc/passwd",
                                   "link.ipynb", "linkdir/outside.ipynb", "sub/../../outside.ipynb",
                                   "file://{base}/outside.ipynb"])
def test_a_notebook_outside_the_root_folder_is_refused_unrun(api, site, where):
    before = runs(api, site)
    body = {"notebook": where.format(base=site.base)}
    err = error_of(api.post(site.api + "/notebook-runs", json=body), 403, "AccessDenied")
    assert "outside the server's root folder" in err["message"] and "root_dir" in err["hint"]
    assert "root:" not in json.dumps(err)  # /etc/passwd was never opened
    error_of(api.post(site.api + "/notebook-runs", json={**body, "on_worker": True}), 403,
             "AccessDenied")
    error_of(api.post(site.api + "/schedules", json={**body, "cron": "0 6 * * *"}), 403,
             "AccessDenied")
    assert not (site.markers / "outside").exists()
    assert runs(api, site) == before
    assert api.get(site.api + "/schedules").json()["schedules"] == []


def test_a_refusal_does_not_tell_whether_the_file_exists(api, site):
    present = error_of(api.post(site.api + "/notebook-runs", json={"notebook": "../outside.ipynb"}),
                       403, "AccessDenied")
    missing = error_of(api.post(site.api + "/notebook-runs", json={"notebook": "../missing.ipynb"}),
                       403, "AccessDenied")
    assert present["message"].replace("outside.ipynb", "X") == missing["message"].replace(
        "missing.ipynb", "X")


def test_a_hidden_folder_is_refused_as_jupyter_hides_it(api, site):
    err = error_of(api.post(site.api + "/notebook-runs", json={"notebook": ".hidden/secret.ipynb"}),
                   403, "AccessDenied")
    assert "hidden" in err["message"] and "allow_hidden" in err["hint"]
    assert not (site.markers / "hidden").exists()


def test_a_nul_in_a_path_is_a_spec_error(api, site):
    error_of(api.post(site.api + "/notebook-runs", json={"notebook": "a\x00b.ipynb"}), 400,
             "SpecError")


# ----------------------------------------------------------------------------- output paths
@pytest.mark.parametrize("where", ["{base}/x/evil_out.ipynb", "../evil_out.ipynb", "{base}/x/",
                                   "linkdir/x/evil_out.ipynb", "s3://some-bucket/evil_out.ipynb",
                                   ".hidden/out.ipynb"])
def test_an_output_outside_the_root_folder_is_refused_before_the_run(api, site, where):
    before = runs(api, site)
    body = {"notebook": "inside.ipynb", "output": where.format(base=site.base)}
    error_of(api.post(site.api + "/notebook-runs", json=body), 403, "AccessDenied")
    assert not (site.base / "x").exists() and not (site.base / "evil_out.ipynb").exists()
    assert not (site.markers / "inside").exists()  # refused before the notebook ran
    assert runs(api, site) == before


def test_a_notebook_and_output_inside_the_root_folder_run(api, site):
    url, root = site.api, site.root
    r = api.post(url + "/notebook-runs", json={"notebook": str(root / "inside.ipynb"),
                                               "output": "results/"})
    assert r.status_code in (200, 202), r.text
    run_id = r.json()["id"]

    def ended():
        run = {x["id"]: x for x in runs(api, site)}[run_id]
        return run if run["status"] != "running" else None

    run = wait_for(ended, "the notebook run to end")
    assert run["status"] == "succeeded", run
    assert (site.markers / "inside").exists()
    assert Path(run["output_uri"]).parent == (root / "results").resolve()
    (site.markers / "inside").unlink()
    r = api.post(url + "/schedules", json={"notebook": "inside.ipynb", "cron": "0 6 * * *"})
    assert r.status_code == 201, r.text
    assert r.json()["notebook"] == str((root / "inside.ipynb").resolve())


# ----------------------------------------------------------------------------- Python steps
def job_spec(site, function: str, **kwargs) -> dict:
    return {"name": "probe", "source": {"kind": "file", "path": str(site.root / "sales.csv")},
            "steps": [{"op": "python", "function": function, "kwargs": kwargs}],
            "sink": {"kind": "dataset", "name": "probe"}}


@pytest.mark.parametrize("runner", ["local", None])
def test_pydoc_pipepager_over_http_is_refused_and_never_runs(api, site, runner):
    """The issue's case: ``POST /jobs?runner=local`` ran any importable function in the server."""
    out = site.base / "pwned"
    params = {"runner": runner} if runner else {}
    err = error_of(api.post(site.api + "/jobs", params=params,
                            json=job_spec(site, "pydoc:pipepager", cmd=f"id > {out}")),
                   403, "AccessDenied")
    assert "pydoc:pipepager" in err["message"] and err["step"] == "1:python"
    assert "WORKBENCH_HTTP_PYTHON_STEPS=any" in err["hint"] and "WORKBENCH_PYTHON_STEPS" in err["hint"]
    assert not out.exists()
    assert api.get(site.api + "/jobs", params={"dataset": "probe"}).json()["jobs"] == []


def test_a_name_imported_into_a_registered_module_is_refused(api, site):
    err = error_of(api.post(site.api + "/jobs", json=job_spec(site, "srvsec_steps:system",
                                                              command="true")),
                   403, "AccessDenied")
    assert "srvsec_steps" in err["message"] and "not a function of an allowed module" in err["message"]


def test_a_registered_step_runs_and_a_rerun_is_checked_the_same_way(api, site):
    r = api.post(site.api + "/jobs", params={"runner": "local"},
                 json={**job_spec(site, "srvsec_steps:double"), "sink": {"kind": "dataset",
                                                                         "name": "doubled"}})
    assert r.status_code == 202, r.text
    evs = stream(api, f"{site.api}/jobs/{r.json()['job_id']}/events")
    assert evs[-1].event == "job_finished", evs[-1]
    rerun = api.post(f"{site.api}/jobs/{r.json()['job_id']}/rerun")
    assert rerun.status_code == 202, rerun.text


@pytest.fixture(scope="module")
def opted_in(tmp_path_factory):
    root = tmp_path_factory.mktemp("srv-anystep")
    write_csv(root / "sales.csv", 10)
    wb = start_server(root, {"WORKBENCH_HOME": str(root.parent / "anystep-home"),
                             "WORKBENCH_HTTP_PYTHON_STEPS": "any"})
    yield wb
    wb.stop()


def test_the_operator_can_let_the_server_run_any_step(opted_in):
    """``WORKBENCH_HTTP_PYTHON_STEPS=any``: the analyst's freedom, for a single-user server."""
    spec = {"source": {"kind": "file", "path": str(opted_in.root / "sales.csv")},
            "steps": [{"op": "python", "function": "copy:copy"}],  # a module nobody registered
            "sink": {"kind": "dataset", "name": "any_step"}}
    with opted_in.session() as s:
        r = s.post(opted_in.api + "/jobs", json=spec)
        assert r.status_code == 202, r.text  # accepted: whatever the step does, it is not refused
        evs = stream(s, f"{opted_in.api}/jobs/{r.json()['job_id']}/events")
    assert evs[-1].event == "job_finished", evs[-1]
