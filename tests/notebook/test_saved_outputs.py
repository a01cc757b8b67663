"""Outputs that outlive the kernel: execute notebooks headless (nbclient, as papermill and nbval
do), then read what was saved — the ``.ipynb`` and its nbconvert HTML export — with no kernel."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

SALES = '''\
import polars as pl, workbench as wb
pl.DataFrame({"region": ["north", "south"] * 50, "amount": [58381.8123, 2_500_000.0] * 50}
             ).write_csv("sales.csv")
pipeline = wb.Pipeline(name="totals", source=wb.file("sales.csv"),
                       steps=[wb.sql("SELECT region, sum(amount) AS total FROM input GROUP BY 1 ORDER BY 1")],
                       checks=[wb.not_null("region")])'''

FAILING = '''\
bad = wb.Pipeline(name="bad check", source=wb.file("sales.csv"),
                  checks=[wb.accepted_values("region", ["north"], severity="warn"),
                          wb.in_range("amount", max=100)])
failed = wb.submit(bad)
failed.wait()
failed'''


def execute(path: Path, cells: list[str], cwd: Path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
                   ).execute()
    nbformat.write(nb, path)
    return nbformat.read(path, as_version=4)  # what a later reader gets: the saved file


def bundles(nb) -> list[dict]:
    return [o["data"] for c in nb.cells for o in c.get("outputs", [])
            if o.get("output_type") in ("display_data", "execute_result")]


def job_outputs(nb) -> list[dict]:
    return [d for d in bundles(nb) if "workbench-job" in d.get("text/html", "")]


def export_html(nb) -> str:
    body, _ = HTMLExporter().from_notebook_node(nb)
    return body


def test_headless_run_saves_the_finished_jobs(wb_home, tmp_path):
    """No front end (nbclient sends no cell id): text lines while running, then the finished
    view as static HTML and text in the saved notebook and its HTML export."""
    nb = execute(tmp_path / "run.ipynb", [SALES, "job = wb.submit(pipeline)\njob", FAILING], tmp_path)
    ok, bad = job_outputs(nb)
    assert WIDGET_VIEW not in ok and WIDGET_VIEW not in bad
    assert "wb-status-succeeded" in ok["text/html"] and "100%" in ok["text/html"]
    assert ">2.92 M</td>" in ok["text/html"] and ">125.00 M</td>" in ok["text/html"]
    assert "✓" in ok["text/plain"] and ": succeeded" in ok["text/plain"]
    assert "north" in ok["text/plain"]  # the result preview as text
    # the failed check: its step, the offending rows of both checks, the hint
    html = bad["text/html"]
    assert "wb-status-failed" in html and ">check</b> failed" in html
    assert html.count('class="wb-table wb-rows"') == 2
    assert "Hint:" in html and "range(amount)" in html
    assert "failed: CheckFailed" in bad["text/plain"]
    exported = export_html(nb)
    assert "wb-status-succeeded" in exported and "wb-status-failed" in exported
    assert "Error displaying widget" not in exported and "VBox(" not in exported


def test_widget_output_is_replaced_by_its_final_static_copy(wb_home, tmp_path):
    """With widgets (as in JupyterLab), the output carries the widget view while the job runs;
    when it ends, the same output is updated to the static copy of the finished job, so a saved
    notebook reopened with a new kernel, nbconvert and GitHub show the result, not a frozen repr."""
    nb = execute(tmp_path / "widget.ipynb", [
        "from workbench.notebook import use_display\nuse_display('widget')", SALES,
        "from workbench.notebook import show_job\njob = wb.submit(pipeline)\nview = show_job(job)",
        "assert view.final_drawn.wait(300), 'the view never drew the end'\nprint(job.status)"],
        tmp_path)
    (out,) = job_outputs(nb)
    assert WIDGET_VIEW not in out
    assert "wb-status-succeeded" in out["text/html"] and "running" not in out["text/html"]
    assert out["text/plain"].startswith("job ") and "VBox" not in out["text/plain"]
    exported = export_html(nb)
    assert "wb-status-succeeded" in exported and "VBox(" not in exported


@pytest.mark.parametrize("mode", ["widget", "text"])
def test_a_job_shown_after_it_ended_is_static_at_once(wb_home, tmp_path, mode):
    nb = execute(tmp_path / f"late-{mode}.ipynb", [
        f"from workbench.notebook import use_display\nuse_display({mode!r})", SALES,
        "job = wb.submit(pipeline).wait()\njob"], tmp_path)
    (out,) = job_outputs(nb)
    assert WIDGET_VIEW not in out and "wb-status-succeeded" in out["text/html"]


def test_reattach_in_a_new_kernel_shows_steps_and_checks(wb_home, tmp_path):
    """``wb.job(id)`` after a kernel restart: the same view, steps and checks included."""
    first = execute(tmp_path / "first.ipynb", [SALES, FAILING,
                                               "open('job_id', 'w').write(failed.id)"], tmp_path)
    (before,) = job_outputs(first)
    job_id = (tmp_path / "job_id").read_text()
    later = execute(tmp_path / "later.ipynb", [
        "import workbench as wb", f"wb.job({job_id!r})"], tmp_path)
    (after,) = job_outputs(later)
    for html in (before["text/html"], after["text/html"]):
        assert "wb-step wb-step-failed" in html and ">check</td>" in html
        assert html.count('class="wb-table wb-rows"') == 2  # both checks' offending rows
        assert "Hint:" in html
    steps = [line for line in after["text/plain"].splitlines() if line.startswith("  steps:")]
    assert steps == [line for line in before["text/plain"].splitlines() if line.startswith("  steps:")]


def test_reattach_shows_each_steps_rows_and_the_last_figures(wb_home, tmp_path):
    """A finished job reattached in a new kernel: each step with its own rows, as the live
    view showed them, and the same figures line."""
    first = execute(tmp_path / "ok.ipynb", [SALES, "job = wb.submit(pipeline).wait()\njob",
                                            "open('job_id', 'w').write(job.id)"], tmp_path)
    (before,) = job_outputs(first)
    job_id = (tmp_path / "job_id").read_text()
    later = execute(tmp_path / "ok-later.ipynb", ["import workbench as wb", f"wb.job({job_id!r})"], tmp_path)
    (after,) = job_outputs(later)
    # names, marks, rows and seconds exactly: a step's seconds are one value, the event's, which
    # the live view drew and the record kept
    lines = [[line for line in d["text/plain"].splitlines() if line.startswith("  steps:")]
             for d in (before, after)]
    assert lines[0] == lines[1] and "100 rows" in lines[1][0] and "2 rows" in lines[1][0]
    assert re.search(r"\d\.\d s\)", lines[1][0])  # the seconds are there to compare


FORMS_AND_TABLES = [
    "from workbench.notebook import use_display\nuse_display('widget')  # as in JupyterLab", SALES,
    "job = wb.submit(pipeline).wait()\nwb.ingest('sales.csv', name='sales')\nprint(job.status)",
    "wb.jobs(auto=False)",
    "wb.datasets()",
    "wb.upload_form()",
    "b = wb.pipeline_builder()\nb.path.value = 'sales.csv'\nb.add_row('checks', 'not_null', 'region')\n"
    "b.sink_name.value = 'copy'\nb.export('python')\nb",
]


def test_forms_and_tables_save_a_static_copy_of_their_state(wb_home, tmp_path):
    """The jobs and datasets tables, the upload form and the builder are widgets in JupyterLab;
    their saved output also carries their latest state as HTML and text, which is what a notebook
    reopened without their kernel, nbconvert and GitHub can show."""
    nb = execute(tmp_path / "forms.ipynb", FORMS_AND_TABLES, tmp_path)
    out = {kind: d for d in bundles(nb) for kind in ("jobs", "datasets", "upload", "builder")
           if f'class="workbench-{kind}' in d.get("text/html", "")}
    assert set(out) == {"jobs", "datasets", "upload", "builder"}
    for kind, data in out.items():
        assert WIDGET_VIEW in data, kind  # live in the lab while the kernel lives
        assert "VBox(" not in data["text/plain"] and "Box(children" not in data["text/plain"], kind
    jobs = out["jobs"]
    assert "<table" in jobs["text/html"] and "wb-status-succeeded" in jobs["text/html"]
    # the sinkless "totals" job returns rows; the ingest writes the dataset "sales"
    assert "<b>(rows)</b>" in jobs["text/html"] and "<b>sales</b>" in jobs["text/html"]
    assert "succeeded" in jobs["text/plain"] and "sales" in jobs["text/plain"]
    datasets = out["datasets"]
    assert "wb-schema" in datasets["text/html"] and "wb-profile" in datasets["text/html"]
    assert "sales" in datasets["text/plain"]
    assert "Upload a file into a dataset" in out["upload"]["text/html"]
    assert out["upload"]["text/plain"].startswith("upload form")
    builder = out["builder"]
    assert "sales.csv" in builder["text/html"] and "wb.not_null(" in builder["text/html"]
    assert "wb.not_null(" in builder["text/plain"]
    exported = export_html(nb)  # no widget state saved: nbconvert shows the static copies
    for marker in ("workbench-jobs", "workbench-datasets", "workbench-upload", "workbench-builder",
                   "wb-profile", "wb.not_null("):
        assert marker in exported, marker
    assert "Error displaying widget" not in exported and "VBox(" not in exported
