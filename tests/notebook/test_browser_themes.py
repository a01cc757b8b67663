"""Both themes in a real JupyterLab: every text of the job view, the errors, the tables, the
profile and the forms reads at a contrast of at least 4.5:1 (WCAG AA), measured on the colours
the browser computed. The figures go to ``test-artifacts/contrast-<theme>.json`` beside the
screenshots (``pytest -m browser tests/notebook/test_browser_themes.py`` writes them again)."""

from __future__ import annotations

import json

import pytest

from lab_helpers import ARTIFACTS, contrast, open_notebook, run_all, set_theme, shot, wait_idle, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.services]

MIN_CONTRAST = 4.5

CELLS = [
    "import os, tempfile, polars as pl\nimport workbench as wb\nos.environ['WORKBENCH_HOME'] = HOME\n"
    "os.makedirs(HOME, exist_ok=True); os.chdir(tempfile.mkdtemp())  # files outside the home",
    "pl.DataFrame({'order_id': range(2000), 'region': [None if i % 97 == 0 else 'nsew'[i % 4] "
    "for i in range(2000)],\n 'amount': [(i * 37 % 1000) * 58.38 - 50 for i in range(2000)]}"
    ").write_csv('sales.csv')\nwb.ingest('sales.csv', name='sales')\nprint('ok')",
    # a finished job with checks and a result preview
    "ok = wb.submit(wb.Pipeline(name='totals', source=wb.from_dataset('sales'),\n"
    "    steps=[wb.sql('SELECT region, count(*) AS orders, sum(amount) AS total FROM input GROUP BY 1 ORDER BY 1')],\n"
    "    checks=[wb.row_count(min=1)], sink=wb.dataset('totals')))\nok.wait()\nok",
    # a failed check (an error and a warning, both with offending rows)
    "bad = wb.submit(wb.Pipeline(name='checked', source=wb.from_dataset('sales'),\n"
    "    checks=[wb.in_range('amount', min=0, severity='warn'), wb.not_null('region')],\n"
    "    sink=wb.dataset('checked')))\nbad.wait()\nbad",
    # a SQL error: the statement with the place marked, the columns of input
    "sqlbad = wb.submit(wb.Pipeline(name='typo', source=wb.from_dataset('sales'),\n"
    "    steps=[wb.sql('SELECT regoin, sum(amount) FROM input GROUP BY 1')]))\nsqlbad.wait()\nsqlbad",
    "wb.jobs()",
    "wb.datasets()",
    "wb.upload_form()",
    "b = wb.pipeline_builder()\nb.path.value = 'sales.csv'\nb.add_row('checks', 'not_null', 'region')\n"
    "b.sink_name.value = 'x'\nb",
]

AREAS = {
    "job view": ".workbench-job.wb-static",
    "errors": ".wb-error",
    "check rows": ".wb-examples",
    "jobs table": ".workbench-jobs",
    "datasets and profile": ".workbench-datasets",
    "upload form": ".workbench-upload",
    "builder": ".workbench-builder",
}


def select_rows(page) -> None:
    """Selecting a row: the jobs table opens that job's view under it (Cancel on running jobs,
    Re-run on finished ones), the datasets table (newest first) shows that dataset's schema and
    profile. Measured afterwards, so the selected rows' tint is measured too."""
    jobs = page.locator(".jp-Notebook .workbench-jobs").first
    rows = jobs.locator("tr.wb-row")
    assert rows.count() >= 4
    assert jobs.locator("tr.wb-row button", has_text="Cancel").count() == 0  # all have ended
    assert jobs.locator("tr.wb-row button", has_text="Re-run").count() == rows.count()
    failed = rows.filter(has_text="checked").first
    failed.locator("td").nth(1).click()
    jobs.locator("tr.wb-selected", has_text="checked").wait_for()
    jobs.locator(".workbench-job .wb-error", has_text="check").first.wait_for()
    datasets = page.locator(".jp-Notebook .workbench-datasets").first
    names = datasets.locator("tr.wb-row td:first-child").all_inner_texts()
    assert names[:3] == ["checked", "totals", "sales"] or names[:2] == ["totals", "sales"], names
    datasets.locator("tr.wb-row", has_text="sales").first.click()
    datasets.locator(".wb-dataset-detail b", has_text="sales").first.wait_for()
    datasets.locator(".wb-dataset-detail .wb-schema").wait_for()
    datasets.locator(".wb-dataset-detail .wb-profile").wait_for()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_text_is_readable_in_both_themes(browser, lab, theme):
    server, root, home = lab
    write_notebook(root / f"themes-{theme}.ipynb", [f"HOME = {str(home / ('themes-' + theme))!r}", *CELLS])
    set_theme(server, theme)
    page = open_notebook(browser, lab, f"themes-{theme}.ipynb")
    try:
        light = "true" if theme == "light" else "false"
        page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'")
        run_all(page)
        wait_idle(page)
        page.locator(".wb-error .wb-sql-mark").wait_for()
        page.locator(".workbench-datasets .wb-profile").wait_for()
        select_rows(page)
        figures, low = {}, []
        for area, selector in AREAS.items():
            found = contrast(page.locator(f".jp-Notebook {selector}"))
            assert found, f"nothing measured in the {area} ({selector})"
            ARTIFACTS.mkdir(exist_ok=True)
            page.locator(f".jp-Notebook {selector}").first.screenshot(
                path=str(ARTIFACTS / f"theme-{theme}-{area.replace(' ', '-')}.png"))
            worst = min(found, key=lambda f: f["ratio"])
            figures[area] = {"min": round(worst["ratio"], 2), "texts": len(found), "worst": worst}
            low += [dict(f, area=area) for f in found if f["ratio"] < MIN_CONTRAST]
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"contrast-{theme}.json").write_text(json.dumps(figures, indent=1))
    finally:
        shot(page, f"themes-{theme}")
        page.close()
    assert not low, f"text under {MIN_CONTRAST}:1 in the {theme} theme: {low[:8]}"
