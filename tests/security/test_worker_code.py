"""Code on workers is opt-in: a Python step runs on a worker only if it is registered (a
``workbench.steps`` entry point, or a module of ``WORKBENCH_PYTHON_STEPS``), a notebook runs only
from ``WORKBENCH_NOTEBOOK_ROOTS`` or the storage and writes only to the storage's notebooks
prefix, and ``db=`` names a connection. In the analyst's own kernel all of it still works.

The attacker here holds a trusted client key (a colleague's notebook): signing lets their
messages in, and these rules decide what the shared workers will do with them.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path

import pytest

import workbench as wb
from probes import all_output, log_lines, start_cluster, use_env
from wb_cluster import wait_for
from workbench.errors import AccessDenied
from servers import redis_db

pytestmark = pytest.mark.services


def _site(tmp: Path) -> Path:
    """An installed package (dist-info on the path) that registers one step entry point."""
    site = tmp / "site"
    dist = site / "wbtest_ep-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: wbtest-ep\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[workbench.steps]\nshout = wbtest_ep_steps:shout\n")
    (site / "wbtest_ep_steps.py").write_text(
        "import polars as pl\n\n"
        "def shout(frame):\n    return frame.with_columns(pl.col('s').str.to_uppercase())\n\n"
        "def whisper(frame):\n    return frame.with_columns(pl.col('s').str.to_lowercase())\n")
    return site


@pytest.fixture(scope="module")
def code(redis_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wb-code")
    marker = tmp / "imported.txt"
    warehouse = tmp / "warehouse.db"
    import sqlite3

    with sqlite3.connect(warehouse) as db:
        db.execute("CREATE TABLE t (a INTEGER)")
        db.executemany("INSERT INTO t VALUES (?)", [(1,), (2,), (3,)])
    (tmp / "nbroot").mkdir()
    cl = start_cluster(tmp, redis_db(redis_server), "code",
                       WBTEST_IMPORT_MARKER=str(marker), PYTHONPATH=str(_site(tmp)),
                       WORKBENCH_CONN_WH=f"sqlite:///{warehouse}",
                       WORKBENCH_NOTEBOOK_ROOTS=str(tmp / "nbroot"))
    cl.marker = marker  # type: ignore[attr-defined]
    cl.warehouse = warehouse  # type: ignore[attr-defined]
    cl.tmp = tmp  # type: ignore[attr-defined]
    mp = use_env(cl)
    yield cl
    mp.undo()
    cl.stop()


def _csv(tmp_path: Path, text: str = "a,s\n1,Hi\n2,Yo\n") -> str:
    p = tmp_path / f"in-{uuid.uuid4().hex[:6]}.csv"
    p.write_text(text)
    return str(p)


def _failed(job) -> dict:
    job.wait(120)
    assert job.status == "failed", job.status
    return job.error.to_dict() if hasattr(job.error, "to_dict") else dict(job.error)


# ----------------------------------------------------------------------------- Python steps
def test_pydoc_pipepager_step_is_refused_before_import(code, tmp_path):
    """The issue's case: a stdlib function that runs a shell command."""
    out = tmp_path / "pwned"
    job = code.runner().submit(wb.Pipeline(
        source=wb.file(_csv(tmp_path)), steps=[wb.python("pydoc:pipepager", cmd=f"id > {out}")],
        sink=wb.dataset("pwned")))
    err = _failed(job)
    assert err["type"] == "AccessDenied" and "WORKBENCH_PYTHON_STEPS" in err["hint"]
    assert "pydoc:pipepager" in err["message"] and err["step"] == "1:python"
    assert not out.exists()
    rec = code.ctx().catalog.get_job(job.id)
    assert rec["error"]["type"] == "AccessDenied" and rec["attempts"] == 0
    assert not re.search(rb"uid=\d+\(", all_output(code))  # `id`'s output, anywhere
    with pytest.raises(wb.NotFound):
        wb.info("pwned")


def test_unregistered_module_is_never_imported_on_the_worker(code, tmp_path):
    job = code.runner().submit(wb.Pipeline(source=wb.file(_csv(tmp_path)),
                                           steps=[wb.python("wbtest_import_marker:double")]))
    err = _failed(job)
    assert err["type"] == "AccessDenied"
    assert not code.marker.exists()  # the module's import-time code never ran


def test_the_same_step_runs_in_the_analysts_own_kernel(code, tmp_path, monkeypatch):
    """In the kernel any importable function still runs (the analyst's own account)."""
    marker = tmp_path / "kernel-import.txt"
    monkeypatch.setenv("WBTEST_IMPORT_MARKER", str(marker))
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "worker"))
    monkeypatch.delitem(__import__("sys").modules, "wbtest_import_marker", raising=False)
    job = wb.submit(wb.Pipeline(source=wb.file(_csv(tmp_path)),
                                steps=[wb.python("wbtest_import_marker:double")]), runner="local")
    assert job.wait(120).status == "succeeded", job.error
    assert marker.exists()


def test_allowlisted_module_runs_on_the_worker(code, tmp_path):
    marker = tmp_path / "slow.txt"
    job = code.runner().submit(wb.Pipeline(
        source=wb.file(_csv(tmp_path)), steps=[wb.python("wbtest_steps:slow", marker=str(marker),
                                                         seconds=0)],
        sink=wb.dataset("allowed_step")))
    assert job.wait(120).status == "succeeded", job.error
    assert marker.exists()


def test_a_name_imported_into_an_allowed_module_is_refused(code, tmp_path):
    """``wbtest_steps`` imports TransientError from workbench.errors: not its own function."""
    job = code.runner().submit(wb.Pipeline(source=wb.file(_csv(tmp_path)),
                                           steps=[wb.python("wbtest_steps:TransientError")]))
    err = _failed(job)
    assert err["type"] == "AccessDenied" and "workbench.errors" in err["message"]


def test_entry_point_step_runs_and_its_neighbour_does_not(code, tmp_path):
    ok = code.runner().submit(wb.Pipeline(source=wb.file(_csv(tmp_path)),
                                          steps=[wb.python("wbtest_ep_steps:shout")],
                                          sink=wb.dataset("shouted")))
    assert ok.wait(120).status == "succeeded", ok.error
    assert wb.read("shouted").collect()["s"].to_list() == ["HI", "YO"]
    bad = code.runner().submit(wb.Pipeline(source=wb.file(_csv(tmp_path)),
                                           steps=[wb.python("wbtest_ep_steps:whisper")]))
    assert _failed(bad)["type"] == "AccessDenied"


def test_allowlist_matches_whole_module_names_only(monkeypatch):
    from workbench.security import check_python_step
    from workbench.settings import Settings

    s = Settings.from_env().with_(role="worker", python_steps=("wbtest_steps",))
    check_python_step("wbtest_steps:slow", s)
    with pytest.raises(AccessDenied):
        check_python_step("wbtest_steps_evil:slow", s)  # a prefix of the name is not the module
    with pytest.raises(AccessDenied):
        check_python_step("os:system", s)
    check_python_step("os:system", s.with_(role="kernel"))  # the kernel decides nothing here


# ----------------------------------------------------------------------------- databases
def test_raw_dsn_is_refused_on_a_worker_and_a_connection_name_works(code, tmp_path):
    dsn = f"sqlite:///{code.warehouse}"
    bad = code.runner().submit(wb.Pipeline(source=wb.query("SELECT a FROM t", db=dsn)))
    err = _failed(bad)
    assert err["type"] == "AccessDenied" and "WORKBENCH_CONN_" in err["hint"]
    ok = code.runner().submit(wb.Pipeline(source=wb.query("SELECT a FROM t", db="wh"),
                                          sink=wb.dataset("from_wh")))
    assert ok.wait(120).status == "succeeded", ok.error
    assert wb.info("from_wh").rows == 3


def test_raw_dsn_table_sink_is_refused_on_a_worker(code, tmp_path):
    target = tmp_path / "other.db"
    job = code.runner().submit(wb.Pipeline(source=wb.file(_csv(tmp_path)),
                                           sink=wb.table("t2", db=f"sqlite:///{target}")))
    err = _failed(job)
    assert err["type"] == "AccessDenied" and err["step"] == "write"
    assert not target.exists()


def test_raw_dsn_still_works_in_the_kernel(code, tmp_path):
    job = wb.submit(wb.Pipeline(source=wb.query("SELECT a FROM t", db=f"sqlite:///{code.warehouse}")),
                    runner="local")
    assert job.wait(120).status == "succeeded", job.error


# ----------------------------------------------------------------------------- job ids, names
def test_a_job_id_that_walks_out_of_its_folder_is_refused_without_a_record(code, tmp_path):
    job_id = "../../escape"
    spec = wb.Pipeline(source=wb.file(_csv(tmp_path)), sink=wb.dataset("esc")).model_dump(mode="json")
    res = code.app.send_task("workbench.run_pipeline", args=[job_id, spec, {}], queue="pipeline")
    with pytest.raises(AccessDenied) as exc:
        res.get(timeout=120)
    assert "job id" in str(exc.value)
    with pytest.raises(wb.NotFound):
        code.ctx().catalog.get_job(job_id)


def test_an_invalid_spec_in_a_signed_message_creates_no_record(code):
    job_id = uuid.uuid4().hex
    res = code.app.send_task("workbench.run_pipeline", args=[job_id, {"source": 42}, {}],
                             queue="pipeline")
    out = res.get(timeout=120)
    assert out["status"] == "refused" and out["error"]["type"] == "SpecError"
    with pytest.raises(wb.NotFound):
        code.ctx().catalog.get_job(job_id)


# ----------------------------------------------------------------------------- notebooks
def _notebook(path: Path, marker: Path) -> Path:
    nb = {"cells": [{"cell_type": "code", "id": "c1", "metadata": {}, "execution_count": None,
                     "outputs": [],
                     "source": f"open({str(marker)!r}, 'a').write('ran')\nprint('notebook ran')"}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                      "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb))
    return path


def _run_nb(code, notebook: str, output: str | None = None, namespace: str = "default") -> dict:
    res = code.app.send_task("workbench.run_notebook", args=[{
        "id": None, "namespace": namespace, "notebook": notebook, "parameters": {},
        "output": output}], queue="notebooks")
    return res.get(timeout=180)


def test_forged_run_notebook_writing_outside_is_refused(code, tmp_path):
    """The issue's case: a run_notebook task with its output anywhere on the worker."""
    marker = tmp_path / "ran.txt"
    nb = _notebook(code.tmp / "nbroot" / "report.ipynb", marker)
    target = tmp_path / "etc" / "cron.d" / "evil.ipynb"
    out = _run_nb(code, str(nb), output=str(target))
    assert out["status"] == "failed" and out["error"]["type"] == "AccessDenied"
    assert "notebooks folder" in out["error"]["message"]
    assert not target.exists() and not target.parent.exists()
    assert not marker.exists()  # refused before the notebook ran


def test_notebook_outside_the_roots_is_refused(code, tmp_path):
    marker = tmp_path / "ran.txt"
    nb = _notebook(tmp_path / "elsewhere.ipynb", marker)
    out = _run_nb(code, str(nb))
    assert out["status"] == "failed" and out["error"]["type"] == "AccessDenied"
    assert "WORKBENCH_NOTEBOOK_ROOTS" in out["error"]["hint"]
    assert not marker.exists()


def test_notebook_reached_through_a_symlink_or_dotdot_is_refused(code, tmp_path):
    marker = tmp_path / "ran.txt"
    outside = _notebook(tmp_path / "outside.ipynb", marker)
    link = code.tmp / "nbroot" / f"link-{uuid.uuid4().hex[:6]}.ipynb"
    link.symlink_to(outside)
    for path in (str(link), f"{code.tmp / 'nbroot'}/../../{outside.relative_to('/')}"):
        out = _run_nb(code, path)
        assert out["status"] == "failed" and out["error"]["type"] == "AccessDenied", path
    assert not marker.exists()


def test_notebook_in_a_root_runs_and_its_output_lands_in_storage(code, tmp_path):
    marker = tmp_path / "ran.txt"
    nb = _notebook(code.tmp / "nbroot" / "ok.ipynb", marker)
    storage_nb = Path(code.ctx().storage.uri("default/notebooks/"))
    out = _run_nb(code, str(nb), output=str(storage_nb / "reports" / "daily.ipynb"))
    assert out["status"] == "succeeded", out
    assert marker.read_text() == "ran"
    assert out["output_uri"] == str(storage_nb / "reports" / "daily.ipynb")
    assert "notebook ran" in Path(out["output_uri"]).read_text()


def test_run_notebook_with_a_bad_namespace_is_refused(code, tmp_path):
    marker = tmp_path / "ran.txt"
    nb = _notebook(code.tmp / "nbroot" / "ns.ipynb", marker)
    res = code.app.send_task("workbench.run_notebook", args=[{
        "id": None, "namespace": "../other", "notebook": str(nb), "parameters": {}}],
        queue="notebooks")
    with pytest.raises(AccessDenied):
        res.get(timeout=120)
    assert not marker.exists()
    assert wait_for(lambda: log_lines(code, "code", "../other"), "the refusal in the log")



@pytest.mark.parametrize("schedule", ["daily.ipynb", {"notebook": 5}, {"id": "s1"}])
def test_run_notebook_without_a_schedule_object_is_refused(code, schedule):
    res = code.app.send_task("workbench.run_notebook", args=[schedule], queue="notebooks")
    with pytest.raises(AccessDenied, match="run_notebook needs a schedule object with a notebook path"):
        res.get(timeout=120)


def test_the_worker_processes_run_as_workers(code):
    """`celery -A workbench.worker.app worker` was started without WORKBENCH_ROLE: the worker
    start made it (and its pool) a worker, signing with the worker key."""
    assert "WORKBENCH_ROLE" not in code.env
    out = code.app.send_task("workbench.health_check", queue="maintenance").get(timeout=60)
    assert out["ok"] is True and out["role"] == "worker" and out["signs_with"] == "worker"
    assert os.environ.get("WORKBENCH_ROLE", "kernel") == "kernel"  # this client is not


def test_the_workbench_worker_command_runs_as_a_worker(redis_server, tmp_path):
    from wb_cluster import make_cluster

    cl = make_cluster(tmp_path, redis_db(redis_server))
    cl.start_worker("cli", cli=True)
    try:
        out = cl.app.send_task("workbench.health_check", queue="maintenance").get(timeout=60)
        assert out["role"] == "worker" and out["signs_with"] == "worker"
    finally:
        cl.stop()
