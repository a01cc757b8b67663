"""Notebooks as jobs: papermill runs recorded in the catalog, schedules fired by beat's function."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from workbench.cli import main
from workbench.context import Context
from workbench.errors import NotFound, SourceError, SpecError
from workbench import scheduling


def make_notebook(path: Path, cells: list[str], *, parameters: str | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells.extend(nbformat.v4.new_code_cell(c) for c in cells)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def ctx(wb_home) -> Context:
    return Context.from_settings()


@pytest.fixture
def report(tmp_path) -> Path:
    return make_notebook(tmp_path / "report.ipynb", [
        "import os\nresult = factor * 2\nprint('result', result, region)",
        "print('display', os.environ.get('WORKBENCH_DISPLAY'))",
    ], parameters="factor = 1\nregion = 'all'")


def test_run_succeeds_records_run_and_stores_output(ctx, report):
    run = scheduling.run_notebook(ctx, report, {"factor": 21, "region": "north"})
    assert run["status"] == "succeeded"
    assert run["parameters"] == {"factor": 21, "region": "north"}
    assert run["failed_cell"] is None and run["error"] is None
    assert run["duration"] > 0
    out = nbformat.reads(Path(run["output_uri"]).read_text(), as_version=4)
    texts = ["".join(o.get("text", "")) for c in out.cells if c.cell_type == "code" for o in c.outputs]
    assert "result 42 north\n" in texts
    assert "display text\n" in texts  # kernels of scheduled runs render job views as text
    assert scheduling.list_runs(ctx)[0]["id"] == run["id"]


def test_failing_notebook_records_cell_and_error_and_keeps_output(ctx, tmp_path):
    nb = make_notebook(tmp_path / "broken.ipynb", [
        "x = 1",
        "raise ValueError(f'bad value {x}')",
        "print('never')",
    ], parameters="x = 0")
    run = scheduling.run_notebook(ctx, nb, {"x": 5})
    assert run["status"] == "failed"
    assert run["failed_cell"] == 2  # index in the notebook as written (parameters cell is 0)
    assert run["error"]["type"] == "ValueError"
    assert run["error"]["message"] == "bad value 1"
    out = nbformat.reads(Path(run["output_uri"]).read_text(), as_version=4)
    errors = [o for c in out.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert errors and errors[0]["ename"] == "ValueError"


def test_output_to_a_given_path(ctx, report, tmp_path):
    target = tmp_path / "out" / "north.ipynb"
    run = scheduling.run_notebook(ctx, report, {"factor": 1}, str(target))
    assert run["output_uri"] == str(target) and target.is_file()


def test_bad_input_is_refused_before_anything_runs(ctx, tmp_path, report):
    with pytest.raises(NotFound) as e:
        scheduling.run_notebook(ctx, tmp_path / "missing.ipynb")
    assert e.value.file.endswith("missing.ipynb")
    bad = tmp_path / "bad.ipynb"
    bad.write_text("not json")
    with pytest.raises(SourceError, match="not a notebook"):
        scheduling.run_notebook(ctx, bad)
    with pytest.raises(SpecError, match="not a Python identifier"):
        scheduling.run_notebook(ctx, report, {"bad name": 1})
    with pytest.raises(SpecError, match="invalid cron") as e:
        scheduling.schedule_notebook(ctx, report, "every morning")
    assert "minute hour" in e.value.hint
    assert scheduling.list_runs(ctx) == [] and scheduling.list_schedules(ctx) == []


def test_schedule_fires_once_per_occurrence(ctx, report):
    s = scheduling.schedule_notebook(ctx, report, "* * * * *", {"factor": 3})
    assert s["last_run_at"] is None and s["next_run_at"] > s["created_at"]
    assert scheduling.run_due_schedules(ctx, now=s["created_at"]) == []  # not due yet
    now = s["next_run_at"] + 1
    fired = scheduling.run_due_schedules(ctx, now=now)
    assert [r["status"] for r in fired] == ["succeeded"]
    assert fired[0]["schedule_id"] == s["id"] and fired[0]["parameters"] == {"factor": 3}
    again = scheduling.run_due_schedules(ctx, now=now)  # the same occurrence never runs twice
    assert again == []
    after = scheduling.get_schedule(ctx, s["id"])
    assert after["last_run_at"] == now and after["last_status"] == "succeeded"
    assert after["next_run_at"] > now
    # a schedule is catalog data: a fresh process (a restarted beat) sees it as it was
    from workbench.catalog import Catalog

    fresh = Context(ctx.settings, ctx.storage, Catalog(ctx.settings.catalog_url))
    assert scheduling.get_schedule(fresh, s["id"])["last_status"] == "succeeded"
    scheduling.unschedule(ctx, s["id"])
    assert scheduling.due_schedules(ctx, now=now + 3600) == []


def test_cli_run_schedule_and_list(wb_home, report, capsys):
    assert main(["notebook", "run", str(report), "-p", "factor", "4", "-p", "region", "east",
                 "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["status"] == "succeeded" and run["parameters"] == {"factor": 4, "region": "east"}
    assert main(["notebook", "schedule", str(report), "--cron", "0 6 * * *", "-p", "factor", "2",
                 "--json"]) == 0
    sched = json.loads(capsys.readouterr().out)
    assert main(["notebook", "schedules"]) == 0
    text = capsys.readouterr().out
    assert sched["id"] in text and "0 6 * * *" in text and "06:00" in text
    assert main(["notebook", "run", str(report.with_name("nope.ipynb")), "--json"]) == 1
    err = json.loads(capsys.readouterr().out)["error"]
    assert err["type"] == "NotFound" and err["file"].endswith("nope.ipynb")
