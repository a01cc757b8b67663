"""The example notebooks that need servers (object storage, Celery workers, a scheduled report),
walked in a real JupyterLab in both themes: every cell runs without an error output, every
workbench output reads at 4.5:1 or better, and the screenshots go to ``test-artifacts/``
(gitignored) for a person to look at."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import nbformat
import pytest

from lab_helpers import REPO, contrast, open_notebook, run_all, set_theme, shot, wait_idle
from servers import redis_db

pytestmark = [pytest.mark.browser, pytest.mark.services]

MIN_CONTRAST = 4.5


def parameterized(root: Path, stem: str, theme: str, **params: str) -> str:
    """A copy of the example whose parameters cell holds ``params``; returns its name."""
    nb = nbformat.read(REPO / "notebooks" / f"{stem}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += "".join(f"\n{k} = {v!r}" for k, v in params.items())
    name = f"walk-{stem}-{theme}.ipynb"
    nbformat.write(nb, root / name)
    return name


def walk(browser, lab, name: str, theme: str, wait_for: str | None = None, check=None) -> None:
    server = lab[0]
    set_theme(server, theme)
    page = open_notebook(browser, lab, name)
    try:
        light = "true" if theme == "light" else "false"
        page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'")
        run_all(page)
        wait_idle(page)
        if wait_for:
            page.locator(f".jp-Notebook {wait_for}").first.wait_for()
        for kind in ("error", "stderr"):
            mime = f"application/vnd.jupyter.{kind}"
            bad = page.locator(f".jp-OutputArea-output[data-mime-type='{mime}']")
            assert bad.count() == 0, bad.first.inner_text()
        found = contrast(page.locator(".jp-Notebook .jp-OutputArea-output"))
        assert found, "no output measured"
        low = [f for f in found if f["ratio"] < MIN_CONTRAST]
        assert not low, f"text under {MIN_CONTRAST}:1 in the {theme} theme: {low[:8]}"
        if check is not None:
            check(page)
    finally:
        shot(page, name.removesuffix(".ipynb"))
        # the notebook scrolls inside the page: its last outputs get a picture of their own
        last = page.locator(".jp-Notebook .jp-Cell").last
        last.scroll_into_view_if_needed()
        shot(page, name.removesuffix(".ipynb") + "-end")
        page.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_object_storage_notebook_in_the_lab(browser, lab, s3_server, theme):
    import boto3

    bucket = f"wb-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=s3_server.url, aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    root = lab[1]
    name = parameterized(root, "05-object-storage", theme, workbench_home=str(root / f"s3-{theme}"),
                         s3_endpoint_url=s3_server.url, bucket=bucket)
    walk(browser, lab, name, theme)


@pytest.fixture(scope="module")
def worker(redis_server, lab):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "worker"))
    from wb_cluster import make_cluster

    cluster = make_cluster(lab[1] / "celery", redis_db(redis_server))
    cluster.start_worker("walk", queues="ingestion,transformation,persistence,pipeline")
    yield cluster
    cluster.stop()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_celery_notebook_in_the_lab(browser, lab, worker, theme):
    name = parameterized(lab[1], "06-distributed-celery", theme, workbench_home=str(worker.home),
                         broker_url=worker.broker_url)
    walk(browser, lab, name, theme, wait_for=".workbench-job.wb-static .wb-status-succeeded",
         check=finished_view)


def finished_view(page) -> None:
    """The worker's finished job: its steps with their own rows, none tinted as if selected
    (JupyterLab stripes table rows), and no running step or time left in its figures."""
    view = page.locator(".jp-Notebook .workbench-job.wb-static").first
    steps = view.locator("tr.wb-step")
    assert steps.count() == 3
    assert "50,000 rows" in steps.nth(0).inner_text() and "5 rows" in steps.nth(1).inner_text()
    tints = steps.evaluate_all("(rows) => rows.map((r) => getComputedStyle(r).backgroundColor)")
    assert len(set(tints)) == 1, tints
    assert view.locator(".wb-stat-left").count() == view.locator(".wb-stat-step").count() == 0


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_scheduled_report_notebook_in_the_lab(browser, lab, theme):
    root = lab[1]
    name = parameterized(root, "07-scheduled-report", theme,
                         workbench_home=str(root / f"rep-{theme}"), region="north")
    walk(browser, lab, name, theme, wait_for=".workbench-job.wb-static .wb-status-succeeded",
         check=report_shown)


def report_shown(page) -> None:
    """The ingest is a job with its view; the report ends the notebook as a table."""
    view = page.locator(".jp-Notebook .workbench-job.wb-static").first
    assert "4 rows" in view.locator("tr.wb-step").first.inner_text()
    table = page.locator(".jp-Notebook .jp-Cell").last.locator("table")
    assert "north" in table.inner_text() and "165" in table.inner_text()
