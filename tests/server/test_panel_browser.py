"""The Workbench sidebar in a real JupyterLab, driven in Debian's Chromium.

JupyterLab runs with the server extension (enabled by the shipped config) and the prebuilt panel
(found through JUPYTER_PATH, as an installed wheel puts it under share/jupyter/labextensions);
storage is moto's S3 server, so the upload area PUTs straight to the bucket. Screenshots go to
``test-artifacts/`` (gitignored). The panel must have been built (``.ci/run`` builds it): a
missing build fails these tests, it never skips them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest

from servers import start_jupyterlab

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "notebook"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from s3_helpers import admin_client, make_bucket  # noqa: E402
from lab_helpers import CHROMIUM, open_notebook, run_all, shot  # noqa: E402
from test_browser import catalog_datasets  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.services]

REPO = Path(__file__).resolve().parents[2]
BUILT = REPO / "src" / "workbench" / "server" / "labextension"

STEPS = '''\
import os
import time

import polars as pl


def crawl_until(frame: pl.LazyFrame, release: str, delay: float = 1.0) -> pl.LazyFrame:
    """Pass rows slowly (``delay`` seconds per 100,000 rows, whatever size the engine's batches
    have) until the file ``release`` exists, then at full speed."""
    def fn(df: pl.DataFrame) -> pl.DataFrame:
        if not os.path.exists(release):
            time.sleep(delay * max(df.height, 1) / 100_000)
        return df
    return frame.map_batches(fn, streamable=True)
'''

JOBS = '''\
import os, polars as pl
import workbench as wb
pl.DataFrame({{"i": range(4_000_000)}}).write_csv("numbers.csv")
def slow_job(name, dataset, release, delay):
    return wb.submit(wb.Pipeline(name=name, source=wb.file(os.path.abspath("numbers.csv")),
                                 steps=[wb.python("panel_steps:crawl_until", release=release,
                                                  delay=delay)],
                                 sink=wb.dataset(dataset)))
live = slow_job("panel live job", "live_numbers", {release!r}, 1.0)
doomed = slow_job("panel cancel job", "doomed_numbers", {release!r} + ".never", 2.0)
'''


@pytest.fixture(scope="module")
def panel_lab(tmp_path_factory, s3_server):
    if not (BUILT / "package.json").exists():
        pytest.fail(f"the JupyterLab panel is not built ({BUILT} is missing): "
                    "cd labextension && jlpm install && jlpm build   (.ci/run does this)")
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing (apt-get install -y chromium; .ci/run does this)")
    root = tmp_path_factory.mktemp("panel-root")
    home = root / "wbhome"
    jpath = tmp_path_factory.mktemp("panel-jupyter-path")
    (jpath / "labextensions").mkdir()
    (jpath / "labextensions" / "workbench-panel").symlink_to(BUILT)
    bucket = make_bucket(s3_server.url)
    release = root / "release"
    (root / "panel_steps.py").write_text(STEPS)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(JOBS.format(release=str(release)))]
    nbformat.write(nb, root / "panel-jobs.ipynb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update({
        "WORKBENCH_HOME": str(home), "WORKBENCH_STORAGE_URL": f"s3://{bucket}/wb",
        "WORKBENCH_S3_ENDPOINT_URL": s3_server.url, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "JUPYTER_PATH": str(jpath),
        # the panel's re-run submits over HTTP: the server runs registered Python steps only
        "WORKBENCH_PYTHON_STEPS": "panel_steps",
        # files over 5 MiB go in 5 MiB parts, so a test can drop a multipart upload
        "WORKBENCH_PART_SIZE": str(5 * 1024 * 1024), "WORKBENCH_UPLOAD_SINGLE_PUT_MAX": str(5 * 1024 * 1024),
        "JUPYTER_CONFIG_PATH": str(REPO / "jupyter-config"),
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(root)]),
    })
    server = start_jupyterlab(root, env)
    origin = server.url.split("/lab")[0]
    admin_client(s3_server.url).put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": [origin], "AllowedMethods": ["PUT"], "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]})
    yield server, root, home
    server.stop()


@pytest.fixture(scope="module")
def jobs_page(browser, panel_lab):
    """The notebook that submitted two slow jobs, with the Workbench panel open beside it."""
    page = open_notebook(browser, panel_lab, "panel-jobs.ipynb")
    page.on("console", lambda m: m.type == "error" and print("console:", m.text))
    run_all(page)
    open_panel(page)
    yield page
    page.close()


def open_panel(page) -> None:
    tab = page.locator('.jp-SideBar li[data-id="workbench-panel"]')
    tab.wait_for()
    if "lm-mod-current" not in (tab.get_attribute("class") or ""):
        tab.click()
    page.locator("#workbench-panel .wb-jobs").wait_for()


def job_row(page, name: str):
    """The first job submitted under ``name`` (the list is newest first; a re-run keeps the name)."""
    row = page.locator("#workbench-panel .wb-job",
                       has=page.locator(".wb-job-name", has_text=name)).last
    row.wait_for()
    return row


def test_cancel_from_the_panel(jobs_page, panel_lab):
    page = jobs_page
    row = job_row(page, "panel cancel job")
    # it may still be queued on a loaded machine; it never ends by itself (its release file is
    # never made), so running is the state to wait for
    row.locator(".wb-status-running").wait_for(timeout=120_000)
    row.locator("button.wb-cancel").click()
    row.locator(".wb-status-cancelled").wait_for()
    assert "cancel requested" in page.locator("#workbench-panel .wb-message").inner_text()
    shot(page, "panel-job-cancelled")
    assert "doomed_numbers" not in catalog_datasets(panel_lab[2])  # nothing it wrote is visible


def test_a_notebook_job_appears_and_progresses_live(jobs_page, panel_lab):
    page = jobs_page
    row = job_row(page, "panel live job")
    row.locator(".wb-status-running").wait_for()
    assert "live_numbers" in row.locator(".wb-job-meta").inner_text()
    # the progress text moves while the job runs (rows from the running job, pushed by events)
    text = row.locator(".wb-progress-text")
    page.wait_for_function("(el) => /[1-9][\\d,]* rows/.test(el.textContent)",
                           arg=text.element_handle())
    first = text.inner_text()
    page.wait_for_function("([el, before]) => el.textContent !== before && "
                           "el.closest('.wb-job').dataset.status === 'running'",
                           arg=[text.element_handle(), first])
    width = row.locator(".wb-progress-bar").evaluate("(el) => parseFloat(el.style.width)")
    assert 0 < width < 100
    shot(page, "panel-job-running")
    (panel_lab[1] / "release").touch()  # let it run at full speed to the end
    row.locator(".wb-status-succeeded").wait_for()
    page.wait_for_function("(el) => el.style.width === '100%'",
                           arg=row.locator(".wb-progress-bar").element_handle())
    assert row.locator(".wb-cancel").is_disabled()
    shot(page, "panel-job-succeeded")


def test_rerun_from_the_panel_submits_the_same_spec_as_a_new_job(jobs_page, panel_lab):
    page = jobs_page
    (panel_lab[1] / "release").touch()  # the live job, and its re-run, at full speed
    row = job_row(page, "panel live job")
    row.locator(".wb-status-succeeded").wait_for(timeout=180_000)
    first_id = row.get_attribute("data-job-id")
    row.locator("button.wb-rerun").click()
    message = page.locator("#workbench-panel .wb-message")
    page.wait_for_function("(el) => /re-run as /.test(el.textContent)", arg=message.element_handle())
    prefix = message.inner_text().split("re-run as ", 1)[1].strip()[:12]
    again = page.locator(f'#workbench-panel .wb-job[data-job-id^="{prefix}"]')
    again.wait_for()
    new_id = again.get_attribute("data-job-id")
    assert new_id != first_id
    assert again.locator(".wb-job-name").inner_text() == "panel live job"
    again.locator(".wb-status-succeeded").wait_for(timeout=180_000)
    from workbench.catalog import Catalog

    cat = Catalog(f"sqlite:///{panel_lab[2] / 'catalog.db'}")
    try:
        first, second = cat.get_job(first_id), cat.get_job(new_id)
        assert first["spec"] == second["spec"]  # the same pipeline, submitted again
        versions = sorted(d.version for d in cat.list_versions("default", "live_numbers"))
    finally:
        cat.close()
    assert versions == [1, 2]  # the re-run wrote a version of its own (mode overwrite)
    shot(page, "panel-job-rerun")


def test_open_a_job_in_a_cell(jobs_page):
    page = jobs_page
    row = job_row(page, "panel live job")
    job_id = row.get_attribute("data-job-id")
    cells = page.locator(".jp-Notebook .jp-Cell").count()
    row.locator("button.wb-open").click()
    page.wait_for_function("(n) => document.querySelectorAll('.jp-Notebook .jp-Cell').length > n",
                           arg=cells)
    source = page.locator(".jp-Notebook .jp-Cell.jp-mod-active .jp-InputArea-editor").inner_text()
    assert f'wb.job("{job_id}")' in source


def test_drop_a_file_to_upload_and_ingest_then_browse_the_dataset(jobs_page, panel_lab):
    page = jobs_page
    page.locator('#workbench-panel .wb-tab[data-tab="upload"]').click()
    zone = page.locator("#workbench-panel .wb-dropzone")
    zone.wait_for()
    csv = "city,visits\n" + "".join(f"{c},{i}\n" for i, c in enumerate(
        ["Lyon", "Oslo", "Riga", "Graz", "Turku"] * 2000))
    transfer = page.evaluate_handle(
        "(text) => { const dt = new DataTransfer();"
        " dt.items.add(new File([text], 'visits.csv', {type: 'text/csv'})); return dt; }", csv)
    zone.dispatch_event("drop", {"dataTransfer": transfer})
    label = page.locator("#workbench-panel .wb-upload-label")
    label.filter(has_text="uploaded 100%").wait_for(state="attached")  # then the Jobs tab shows
    assert page.locator("#workbench-panel .wb-upload").get_attribute("data-state") == "ingesting"
    bar = page.locator("#workbench-panel .wb-upload-progress .wb-progress-bar")
    assert bar.evaluate("(el) => el.style.width") == "100%"
    row = job_row(page, "upload visits.csv")
    row.locator(".wb-status-succeeded").wait_for()
    shot(page, "panel-upload-ingested")
    assert "visits" in catalog_datasets(panel_lab[2])

    page.locator('#workbench-panel .wb-tab[data-tab="datasets"]').click()
    page.locator('#workbench-panel .wb-dataset[data-name="visits"]').click()
    detail = page.locator("#workbench-panel .wb-dataset-detail")
    detail.locator(".wb-preview tbody tr").first.wait_for()
    assert "Riga" in detail.locator(".wb-preview").inner_text()
    schema = detail.locator(".wb-schema").inner_text()
    assert "city" in schema and "visits" in schema
    # columns: name, type, nulls, distinct, min, max; the distinct count is the exact one
    # the profile holds, not the pass's estimate
    by_column = {r.locator("td").first.inner_text(): r.locator("td").all_inner_texts()
                 for r in detail.locator(".wb-schema tbody tr").all()}
    assert by_column["city"][2:4] == ["0", "5"]
    assert by_column["visits"][2:] == ["0", "10000", "0", "9999"]
    assert "v1" in detail.locator(".wb-versions").inner_text()
    shot(page, "panel-dataset-light")
    assert _schema_contrast(detail) >= 4.5
    _theme(page, "JupyterLab Dark", "false")
    shot(page, "panel-dataset-dark")
    assert _schema_contrast(detail) >= 4.5
    _theme(page, "JupyterLab Light", "true")
    cells = page.locator(".jp-Notebook .jp-Cell").count()
    detail.locator("button.wb-open").click()
    page.wait_for_function("(n) => document.querySelectorAll('.jp-Notebook .jp-Cell').length > n",
                           arg=cells)
    source = page.locator(".jp-Notebook .jp-Cell.jp-mod-active .jp-InputArea-editor").inner_text()
    assert 'wb.read("visits")' in source


def _theme(page, name: str, light: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Theme").first.hover()
    page.locator(".lm-Menu-itemLabel", has_text=name).first.click()
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'")
    page.locator("#jupyterlab-splash").wait_for(state="detached")  # the switch's overlay


def _schema_contrast(detail) -> float:
    """The lowest WCAG contrast ratio of the schema table's cell text against the panel."""
    return detail.locator(".wb-schema").evaluate("""(table) => {
        const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
        const lum = (c) => { const [r, g, b] = rgb(c).map((v) => { v /= 255;
            return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
            return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
        const bgOf = (el) => { for (; el; el = el.parentElement) { const c = getComputedStyle(el)
            .backgroundColor; if (!/rgba\\(.*, 0\\)$/.test(c) && c !== 'transparent') return c; }
            return 'rgb(255, 255, 255)'; };
        let worst = 99;
        for (const td of table.querySelectorAll('td, th')) {
            const a = lum(getComputedStyle(td).color), b = lum(bgOf(td));
            worst = Math.min(worst, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)); }
        return worst; }""")


def test_drop_a_large_file_uploads_it_in_parts(jobs_page, panel_lab):
    """Over the single-PUT limit the browser PUTs each presigned part itself (three here)."""
    page = jobs_page
    page.locator('#workbench-panel .wb-tab[data-tab="upload"]').click()
    zone = page.locator("#workbench-panel .wb-dropzone")
    transfer = page.evaluate_handle(
        "() => { const rows = ['day,clicks\\n'];"
        " for (let i = 0; i < 700000; i++) rows.push(`2026-01-${String(i % 28 + 1).padStart(2, '0')},${i}\\n`);"
        " const dt = new DataTransfer();"
        " dt.items.add(new File(rows, 'clicks.csv', {type: 'text/csv'})); return dt; }")
    size = transfer.evaluate("(dt) => dt.files[0].size")
    assert size > 10 * 1024 * 1024
    puts = []
    page.on("request", lambda r: r.method == "PUT" and "partNumber=" in r.url and puts.append(r.url))
    zone.dispatch_event("drop", {"dataTransfer": transfer})
    page.locator("#workbench-panel .wb-upload-label").filter(has_text="uploaded 100%").wait_for(
        state="attached")
    row = job_row(page, "upload clicks.csv")
    row.locator(".wb-status-succeeded").wait_for()
    assert len(puts) == 3  # one PUT per 5 MiB part, straight to the bucket
    from workbench.catalog import Catalog, uploads

    cat = Catalog(f"sqlite:///{panel_lab[2] / 'catalog.db'}")
    try:
        rows = [r for r in cat.execute(uploads.select()) if r.filename == "clicks.csv"]
    finally:
        cat.close()
    assert len(rows) == 1 and rows[0].multipart_id and rows[0].status == "ingested"
    shot(page, "panel-upload-multipart")


def test_the_panel_follows_the_light_and_dark_themes(jobs_page):
    page = jobs_page
    page.locator('#workbench-panel .wb-tab[data-tab="jobs"]').click()
    colours = "(el) => [getComputedStyle(el).backgroundColor, getComputedStyle(el).color," \
              " getComputedStyle(document.body).getPropertyValue('--jp-layout-color1').trim()]"
    panel = page.locator("#workbench-panel")
    light = panel.evaluate(colours)
    _theme(page, "JupyterLab Dark", "false")
    page.wait_for_function(f"(before) => ({colours})(document.querySelector('#workbench-panel'))[0]"
                           " !== before", arg=light[0])
    dark = panel.evaluate(colours)
    shot(page, "panel-dark")
    assert dark[0] != light[0] and dark[1] != light[1]
    # the panel paints with the theme's own variables, in both themes
    page.evaluate("() => document.body.appendChild(Object.assign(document.createElement('div'),"
                  " {id: 'wb-probe', style: 'background: var(--jp-layout-color1)'}))")
    probe = page.locator("#wb-probe").evaluate("(el) => getComputedStyle(el).backgroundColor")
    assert dark[0] == probe
    _theme(page, "JupyterLab Light", "true")
    shot(page, "panel-light")
