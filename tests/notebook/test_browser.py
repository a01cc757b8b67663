"""The notebook experience in a real JupyterLab, driven in headless Chromium.

Screenshots go to ``test-artifacts/`` (gitignored) so a person can look at what was rendered.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from lab_helpers import BUILT, BUSY_GATE, open_notebook, run_all, shot, wait_idle, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.services]


def catalog_datasets(home: Path) -> list[str]:
    from workbench.catalog import Catalog

    cat = Catalog(f"sqlite:///{home / 'catalog.db'}")
    try:
        return [r.name for r in cat.list_datasets("default")]
    finally:
        cat.close()


def test_quickstart_job_view_reaches_100_percent_with_result_table(browser, lab):
    page = open_notebook(browser, lab, "01-quickstart.ipynb")
    run_all(page)
    # the finished job's output is replaced by its static copy (what a saved notebook keeps)
    view = page.locator(".workbench-job.wb-static").first
    view.locator(".wb-status-succeeded").wait_for()
    view.locator(".wb-preview table").wait_for()
    view.scroll_into_view_if_needed()  # JupyterLab skips rendering cells out of view
    assert view.locator(".wb-percent").text_content() == "100%"
    assert "width:100.0%" in view.locator(".wb-bar-fill").get_attribute("style").replace(" ", "")
    header = view.locator(".wb-preview table thead").inner_text()
    assert "region" in header and "total" in header
    steps = view.locator(".wb-step").all_inner_texts()
    assert steps and all("done" in s for s in steps)
    view.scroll_into_view_if_needed()
    shot(page, "quickstart-job-view")
    # the last cell, wb.datasets(): both datasets, and the first one's profile and rows
    table = page.locator(".workbench-datasets").first
    table.locator(".wb-profile").wait_for()
    assert "sales" in table.locator(".wb-datasets").inner_text()
    assert "totals" in table.locator(".wb-datasets").inner_text()
    table.scroll_into_view_if_needed()
    shot(page, "quickstart-datasets")
    page.close()


def test_pipeline_builder_preview_and_export_buttons(browser, lab):
    page = open_notebook(browser, lab, "03-pipeline-builder.ipynb")
    run_all(page)
    form = page.locator(".workbench-builder").first
    form.wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
                           ".every((p) => !p.textContent.includes('[*]'))")
    # the chosen Source and Sink are filled with the brand colour, the others are not
    chosen = form.locator(".widget-toggle-button.mod-active").first
    other = form.locator(".widget-toggle-button:not(.mod-active)").first
    bg = "(el) => getComputedStyle(el).backgroundColor"
    assert chosen.evaluate(bg) != other.evaluate(bg)
    assert chosen.inner_text().strip() == "file"
    form.locator("button[title=Preview]").click()
    form.locator(".wb-preview-info").wait_for()
    assert "nothing written" in form.locator(".wb-preview-info").inner_text()
    assert "checks on these" in form.locator(".wb-preview-checks").inner_text()
    form.locator("button[title='Export Python']").click()
    form.locator(".wb-code-insert").wait_for()
    assert form.locator(".wb-preview-info").count() == 0  # the export replaced the preview
    code_box = form.locator("textarea").last
    page.wait_for_function("(el) => el.value.includes('wb.not_null')", arg=code_box.element_handle())
    cells = page.locator(".jp-Notebook .jp-Cell").count()
    form.locator(".wb-code-insert").click()
    page.wait_for_function(f"() => document.querySelectorAll('.jp-Notebook .jp-Cell').length === {cells + 1}")
    new_cell = page.locator(".jp-Notebook .jp-Cell.jp-mod-active .cm-content")
    page.wait_for_function("(el) => el.textContent.includes('wb.Pipeline(')", arg=new_cell.element_handle())
    assert "wb.not_null(" in new_cell.inner_text()
    form.locator("button[title='Export YAML']").click()
    yaml_box = form.locator("textarea").last
    page.wait_for_function("(el) => el.value.includes('dataset: region_totals')", arg=yaml_box.element_handle())
    assert "region_totals" in yaml_box.input_value() and "mode: overwrite" not in yaml_box.input_value()
    shot(page, "pipeline-builder")
    page.close()


def test_cancel_a_long_job_from_the_view(browser, lab):
    page = open_notebook(browser, lab, "long-job.ipynb")
    run_all(page)
    view = page.locator(".workbench-job").first
    try:
        view.locator(".wb-status-running").wait_for()
    except Exception:
        shot(page, "long-job-failed")
        raise
    view.locator(".wb-step-running").first.wait_for()
    # while the last cell runs ([*]), the view's numbers still change: it draws from a thread
    # (queried afresh each time: widgets replace their HTML on every update)
    busy = "[...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].pop().textContent.includes('[*]')"
    stats = "document.querySelector('.workbench-job .wb-stats').innerText"
    page.wait_for_function(f"() => {busy}")
    before = page.evaluate(f"() => {stats}")
    page.wait_for_function(f"(b) => {stats} !== b && {busy}", arg=before)
    shot(page, "long-job-running")
    # a click is handled once the busy cell ends (widget messages queue behind running cells)
    (lab[1] / BUSY_GATE).touch()
    page.wait_for_function(f"() => !({busy})")
    assert view.locator(".wb-status-running").count() == 1, "the job ended before Cancel"
    view.locator("button", has_text="Cancel").click()
    view.locator(".wb-status-cancelled").wait_for()
    assert "Cancelled after" in view.locator(".wb-summary").inner_text()
    shot(page, "long-job-cancelled")
    assert "long" not in catalog_datasets(lab[2])  # nothing it wrote became visible
    page.close()


def test_upload_a_file_through_the_form(browser, lab, tmp_path):
    csv = tmp_path / "visits.csv"
    csv.write_text("city,visits\nLyon,3\nOslo,5\nRiga,8\n")
    page = open_notebook(browser, lab, "02-upload-form.ipynb")
    run_all(page)
    form = page.locator(".workbench-upload").first
    form.wait_for()
    assert form.locator("button", has_text="Ingest").is_disabled()  # no file chosen yet
    with page.expect_file_chooser() as chooser:  # the picker's input is not in the page
        form.locator("button.widget-upload").click()
    chooser.value.set_files(str(csv))
    name = form.locator("input[placeholder='name for the dataset']")
    page.wait_for_function("(el) => el.value === 'visits'", arg=name.element_handle())
    assert "visits.csv · 33 B" in form.locator(".wb-chosen").inner_text()
    form.locator("button", has_text="Ingest").click()
    form.locator(".workbench-job .wb-status-succeeded").wait_for()
    assert "job " in form.locator(".wb-ids").inner_text()
    form.locator(".wb-preview table").wait_for()
    assert "Riga" in form.locator(".wb-preview").inner_text()
    shot(page, "upload-form")
    assert "visits" in catalog_datasets(lab[2])
    page.close()


DIRECT = '''\
import os
os.environ.update({{"WORKBENCH_HOME": {home!r}, "WORKBENCH_STORAGE_URL": "s3://{bucket}/wb",
                   "WORKBENCH_S3_ENDPOINT_URL": {endpoint!r}, "WORKBENCH_PART_SIZE": str(5 * 1024 * 1024),
                   "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}})
import workbench as wb
form = wb.upload_form(single_put_max=5 * 1024 * 1024)  # multipart above 5 MiB
form'''


def test_upload_straight_from_the_browser_to_s3(browser, lab, s3_server, tmp_path):
    """The browser PUTs the parts to the S3 server itself (multipart), then the kernel ingests."""
    import boto3

    server, root, _home = lab
    origin = server.url.split("/lab")[0]
    bucket = "wb-browser-direct"
    s3 = boto3.client("s3", endpoint_url=s3_server.url, aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": [origin], "AllowedMethods": ["PUT"], "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]})
    home = tmp_path / "s3home"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(DIRECT.format(home=str(home), bucket=bucket,
                                                        endpoint=s3_server.url))]
    nbformat.write(nb, root / "direct-upload.ipynb")
    csv = tmp_path / "clicks.csv"
    with open(csv, "w") as f:  # ~12 MB: three parts of 5 MiB
        f.write("day,clicks\n")
        f.writelines(f"2026-01-{i % 28 + 1:02d},{i}\n" for i in range(700_000))

    page = open_notebook(browser, lab, "direct-upload.ipynb")
    run_all(page)
    form = page.locator(".workbench-upload").first
    form.wait_for()
    form.locator("input.wb-direct-file").set_input_files(str(csv))
    name = form.locator("input[placeholder='name for the dataset']")
    page.wait_for_function("(el) => el.value === 'clicks'", arg=name.element_handle())
    form.locator("button", has_text="Ingest").click()
    form.locator(".wb-direct-label", has_text="uploaded 100%").wait_for()
    assert form.locator(".wb-upload-id").inner_text().strip()  # the id the builder asks for
    form.locator(".workbench-job .wb-status-succeeded").wait_for()
    shot(page, "upload-direct-to-s3")
    assert "clicks" in catalog_datasets(home)
    from workbench.catalog import Catalog, uploads

    cat = Catalog(f"sqlite:///{home / 'catalog.db'}")
    (row,) = cat.execute(uploads.select())
    cat.close()
    assert row.multipart_id and row.status == "ingested"  # three parts, PUT by the browser
    # the parts went to the bucket and were cleaned after the ingest; the dataset is there
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert not any("/uploads/" in k for k in keys)
    assert any(k.startswith("wb/default/datasets/clicks/") for k in keys)
    page.close()


REOPENED = [
    "import os, tempfile, polars as pl\nimport workbench as wb\nos.environ['WORKBENCH_HOME'] = HOME\n"
    "os.makedirs(HOME, exist_ok=True); os.chdir(tempfile.mkdtemp())",
    "pl.DataFrame({'region': ['north', 'south'] * 50, 'amount': [58381.8123, 2.5e6] * 50}).write_csv('s.csv')\n"
    "job = wb.submit(wb.Pipeline(name='totals', source=wb.file(os.path.abspath('s.csv')),\n"
    "    steps=[wb.sql('SELECT region, sum(amount) AS total FROM input GROUP BY 1')], sink=wb.dataset('totals'),\n"
    "    checks=[wb.not_null('region')]))\nopen(os.path.join(HOME, 'job_id'), 'w').write(job.id)\n"
    "job",
    "job.wait()\nwb.jobs(auto=False)",
    "wb.datasets()",
    "wb.upload_form()",
    "b = wb.pipeline_builder()\nb.path.value = 's.csv'\nb.add_row('checks', 'not_null', 'region')\n"
    "b.sink_name.value = 'copy'\nb.export('python')\nb",
]


def test_a_reopened_notebook_shows_saved_copies_not_missing_widgets(browser, lab):
    """Run, save, restart the kernel, reload: every workbench output (the job, both tables, the
    upload form, the builder) shows its saved copy instead of "Error displaying widget"."""
    if not (BUILT / "package.json").exists():
        pytest.fail(f"the JupyterLab extension is not built ({BUILT} is missing): "
                    "cd labextension && jlpm install && jlpm build   (.ci/run does this)")
    server, root, home = lab
    wbhome = home / "reopen"
    reattach = (f"import os, workbench as wb  # after a restart: the same view, steps and checks\n"
                f"os.environ['WORKBENCH_HOME'] = path = {str(wbhome)!r}\n"
                f"wb.job(open(path + '/job_id').read()) if os.path.exists(path + '/job_id') else 'no job yet'")
    write_notebook(root / "reopen.ipynb", [reattach, f"HOME = {str(wbhome)!r}", *REOPENED])
    page = open_notebook(browser, lab, "reopen.ipynb")
    try:
        run_all(page)
        wait_idle(page)
        page.locator(".workbench-job.wb-static .wb-status-succeeded").first.wait_for()
        page.locator(".workbench-jobs tr.wb-row").first.wait_for()  # the live table
        page.locator(".workbench-datasets .wb-profile").wait_for()
        page.locator(".workbench-builder .wb-code-insert").wait_for()
        page.keyboard.press("Control+s")
        page.wait_for_function("() => !document.querySelector('.jp-mod-current.jp-mod-dirty')")
        page.locator(".lm-MenuBar-itemLabel", has_text="Kernel").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Restart Kernel…").first.click()
        page.locator(".jp-Dialog button", has_text="Restart").click()
        page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first.wait_for()
        page.reload()
        page.wait_for_selector(".jp-Notebook .jp-Cell")
        page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first.wait_for()
        saved = page.locator(".wb-saved-copy")
        for kind in ("jobs", "datasets", "upload", "builder"):
            saved.locator(f".workbench-{kind}").first.wait_for()
        assert "wb-status-succeeded" in saved.locator(".workbench-jobs").first.inner_html()
        assert saved.locator(".workbench-datasets .wb-profile").count() == 1
        assert "wb.not_null(" in saved.locator(".workbench-builder").first.inner_text()
        page.locator(".workbench-job .wb-status-succeeded").first.wait_for()  # static already
        assert page.get_by_text("Error displaying widget").count() == 0
        shot(page, "reopened-saved-copies")
        last = page.locator(".jp-Notebook .jp-CodeCell").first
        last.scroll_into_view_if_needed()
        last.locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")
        view = last.locator(".workbench-job")
        view.locator(".wb-status-succeeded").wait_for()
        steps = view.locator(".wb-step").all_inner_texts()
        assert [s.split()[1] for s in steps] == ["read", "1:sql", "check", "write"], steps
        assert "not_null(region)" in view.inner_text() and "2 rows" in view.inner_text()
        last.scroll_into_view_if_needed()
        shot(page, "reattached-after-restart")
    finally:
        page.close()
