"""The upload form, the pipeline builder and the tables, driven as Python objects."""

from __future__ import annotations

import datetime

import pytest

import workbench as wb
from workbench.errors import SpecError
from workbench.notebook.builder import PipelineBuilder, pipeline_code
from workbench.notebook.upload import UploadForm

CSV = b"region,amount\nnorth,10\nsouth,20\nnorth,5\n"


@pytest.fixture
def sales_csv(tmp_path):
    p = tmp_path / "sales.csv"
    p.write_bytes(CSV)
    return p


# ----------------------------------------------------------------------------- builder
def filled_builder(path) -> PipelineBuilder:
    b = PipelineBuilder()
    b.path.value = str(path)
    b.add_row("steps", "sql", "SELECT region, sum(amount) AS total FROM input GROUP BY region "
                              "ORDER BY region")
    b.add_row("steps", "filter", "total > 0")
    b.add_row("checks", "not_null", "region")
    b.add_row("checks", "range", "total: 0..1000")
    b.sink_name.value = "totals"
    return b


def test_builder_form_describes_the_pipeline(sales_csv):
    p = filled_builder(sales_csv).pipeline()
    assert p == wb.Pipeline(
        source=wb.file(str(sales_csv)),
        steps=[wb.sql("SELECT region, sum(amount) AS total FROM input GROUP BY region ORDER BY region"),
               wb.filter("total > 0")],
        checks=[wb.not_null("region"), wb.in_range("total", min=0, max=1000)],
        sink=wb.dataset("totals"))


def test_builder_export_yaml_and_python_rebuild_the_same_pipeline(sales_csv):
    b = filled_builder(sales_csv)
    b.add_row("steps", "with_columns", "double = total * 2, label = upper(region)")
    b.add_row("checks", "accepted_values", "region: north, south")
    p = b.pipeline()
    assert wb.pipeline_from_dict(__import__("yaml").safe_load(b.export("yaml"))) == p
    assert b.code.value and b.code.layout.display is None
    scope: dict = {}
    exec(b.export("python"), scope)
    assert scope["pipeline"] == p
    assert pipeline_code(p).startswith("import workbench as wb")


def test_builder_errors_name_the_row(sales_csv):
    b = filled_builder(sales_csv)
    b.add_row("steps", "limit", "ten")
    with pytest.raises(SpecError) as e:
        b.pipeline()
    assert e.value.step == "step 3 (limit)"
    b.preview()  # the same error is shown in the form, not raised
    assert "step 3 (limit)" in b.output.value
    b.rows.pop()
    b.sink_name.value = "bad/name"
    with pytest.raises(SpecError, match="sink"):
        b.pipeline()
    b.path.value = ""
    assert b.export("yaml") is None and "needs a path" in b.output.value
    with pytest.raises(SpecError, match="unknown step"):
        b.add_row("steps", "explode", "")


def test_builder_preview_and_submit(wb_home, sales_csv):
    b = filled_builder(sales_csv)
    df = b.preview()
    assert df is not None, b.output.value
    assert df.to_dicts() == [{"region": "north", "total": 15}, {"region": "south", "total": 20}]
    assert "<table" in b.output.value and "nothing written" in b.output.value
    assert wb.list_datasets() == []  # a preview writes nothing
    job = b.submit()
    job.wait(60)
    assert job.status == "succeeded", job.state.error
    b.view.flush()
    assert b.view.vm.status == "succeeded" and b.view.bar.value == 1.0
    assert wb.read("totals").collect().height == 2


def test_builder_dataset_source(wb_home, sales_csv):
    wb.ingest(str(sales_csv), name="sales")
    b = PipelineBuilder()
    b.source_kind.value = "dataset"
    assert "sales" in b.dataset.options
    b.dataset.value = "sales"
    b.sink_kind.value = "none (preview only)"
    assert b.pipeline() == wb.Pipeline(source=wb.from_dataset("sales"))
    assert b.preview().height == 3


# ----------------------------------------------------------------------------- upload form
def choose(form: UploadForm, name: str, data: bytes) -> None:
    form.file_upload.value = ({"name": name, "type": "text/csv", "size": len(data),
                               "content": memoryview(data),
                               "last_modified": datetime.datetime.now(datetime.timezone.utc)},)


def test_upload_form_through_the_kernel_ingests_the_file(wb_home):
    form = UploadForm(direct=False)
    choose(form, "Sales 2026.csv", CSV)
    assert form.name.value == "Sales_2026"  # proposed from the file name
    form.name.value = "sales"
    job = form.ingest()
    assert job is not None, form.status.value
    job.wait(60)
    assert job.status == "succeeded", job.state.error
    form.view.flush()
    assert form.view.vm.status == "succeeded" and "wb-preview" in form.view.summary.value
    assert wb.read("sales").collect().shape == (3, 2)
    assert form.file_upload.value == ()  # the bytes are not kept in the widget
    assert form.cleaned.wait(30)
    assert form.staged.is_relative_to("/") and not form.staged.exists()  # the staged copy is gone
    assert not form.staged.is_relative_to(wb_home)  # staged outside the home: never a source


def test_upload_form_bad_input_is_shown_and_the_next_ingest_works(wb_home):
    form = UploadForm(direct=False, kernel_limit=10)
    assert form.ingest_button.disabled  # nothing chosen: nothing to ingest
    assert form.ingest() is None and "choose a file first" in form.status.value
    choose(form, "x.csv", CSV)
    assert not form.ingest_button.disabled
    assert f"x.csv</b> · {len(CSV)} B" in form.chosen.value  # the chosen file's name and size
    form.name.value = "../etc"
    assert form.ingest() is None and "invalid dataset name" in form.status.value
    form.name.value = "sales"
    assert form.ingest() is None and "over the 10-byte limit" in form.status.value
    assert not form.ingest_button.disabled
    form.kernel_limit = 1 << 20
    choose(form, "x.csv", b"a,b\n1,2\n3\n")  # a ragged file: the job fails with a located error
    job = form.ingest()
    job.wait(60)
    form.view.flush()
    assert job.status == "failed" and "wb-error" in form.view.summary.value
    choose(form, "x.csv", CSV)
    job = form.ingest()
    job.wait(60)
    assert job.status == "succeeded" and wb.info("sales").rows == 3


def test_upload_form_refuses_direct_mode_on_local_storage(wb_home):
    with pytest.raises(wb.ConfigError, match="object storage"):
        UploadForm(direct=True)
    assert not UploadForm().direct  # the default picks the kernel path here


# ----------------------------------------------------------------------------- tables
def test_tables_text_and_widgets(wb_home, sales_csv, capsys):
    from workbench.notebook.tables import DatasetsTable, JobsTable

    from workbench.notebook import use_display

    use_display("text")
    wb.datasets()
    assert "no datasets yet" in capsys.readouterr().out
    wb.ingest(str(sales_csv), name="sales")
    wb.ingest(str(sales_csv), name="sales")
    wb.datasets()
    out = capsys.readouterr().out
    assert "sales" in out and "region, amount" in out
    wb.jobs()
    out = capsys.readouterr().out
    assert out.count("succeeded") == 2 and "sales" in out
    table = DatasetsTable()
    assert table.selected == "sales" and list(table.version.options) == [2, 1]
    assert "wb-profile" in table.detail.value and "north" in table.detail.value
    assert "v2 (2)" in table.table.rows[0]["cells"]
    jobs = JobsTable(auto=False)
    assert len(jobs.items) == 2
    new = jobs.rerun(jobs.items[0]["id"])
    new.wait(60)
    assert new.status == "succeeded" and wb.info("sales").version == 3


# ----------------------------------------------------------------------------- builder, finished
def test_builder_exports_public_builders_and_yaml_without_defaults(sales_csv):
    b = filled_builder(sales_csv)
    code = b.export("python")
    assert "wb.not_null('region')" in code and "wb.in_range('total', min=0, max=1000)" in code
    assert "m." not in code and "models" not in code
    assert b.result_area.children == (b.output, b.code, b.code_actions)
    assert b.code_actions.code == code  # what Copy / Insert as a new cell use
    text = b.export("yaml")
    for default in ("mode: overwrite", "format: auto", "severity: error"):
        assert default not in text
    assert wb.pipeline_from_dict(__import__("yaml").safe_load(text)) == b.pipeline()


def test_builder_each_action_replaces_the_last_output(wb_home, sales_csv):
    b = filled_builder(sales_csv)
    b.export("python")
    job = b.submit()
    assert b.result_area.children == (b.output, b.job_area)  # the export is gone
    job.wait(60)
    b.path.value = ""
    b.preview()
    assert b.result_area.children == (b.output,)  # the old job is gone, the error alone
    assert "needs a path" in b.output.value and b.code.layout.display == "none"


def test_builder_preview_shows_the_checks_on_the_preview_rows(wb_home, sales_csv):
    b = filled_builder(sales_csv)
    b.add_row("checks", "accepted_values", "region: north")
    b.preview()
    html = b.output.value
    assert "checks on these 2 rows" in html
    assert "wb-check-success" in html and "wb-check-error" in html
    assert "1 of 2 rows fail accepted_values(region)" in html and "wb-rows" in html


def test_builder_labels_are_not_cut(sales_csv):
    b = PipelineBuilder()
    assert b.sink_kind.style.button_width == "auto" and b.source_kind.style.button_width == "auto"


# ----------------------------------------------------------------------------- tables, finished
def test_jobs_table_actions_follow_the_status_and_a_selected_row_shows_the_view(wb_home, sales_csv):
    from workbench.notebook.jobs_table import COLUMNS, JobsTable, jobs_html

    wb.ingest(str(sales_csv), name="sales")
    bad = wb.submit(wb.Pipeline(source=wb.from_dataset("sales"), checks=[wb.in_range("amount", max=6)],
                                sink=wb.dataset("checked")))
    bad.wait(60)
    table = JobsTable(auto=False)
    assert table.table.columns == list(COLUMNS[:-1]) + [""]
    assert table.table.columns[:6] == ["status", "dataset", "who", "started", "duration", "error"]
    rows = table.table.rows
    assert len(rows) == 2 and all(len(r["cells"]) == 6 for r in rows)
    assert [[a["label"] for a in r["actions"]] for r in rows] == [["Re-run"], ["Re-run"]]  # no Cancel
    (failed_row,) = [r for r in rows if "checked" in r["cells"][1]]
    assert "rows fail" in failed_row["cells"][5] and "range(amount)" in failed_row["cells"][5]
    # the front end sends a selected row's id: its job view opens under the table
    table._action("select", bad.id)
    assert table.view.job.id == bad.id and table.selected == bad.id == table.table.selected
    table.view.flush()
    assert "wb-error" in table.view.summary.value
    saved = table.bundle()["text/html"]  # the saved copy: the rows, the selected one, its view
    assert "<table" in saved and 'class="wb-selected"' in saved and "wb-static" in saved
    assert "<table" in jobs_html(table.items) and "checked" in jobs_html(table.items)


def test_jobs_table_offers_cancel_on_a_running_job(wb_home):
    from workbench.notebook.jobs_table import JobsTable

    ctx = __import__("workbench.context", fromlist=["Context"]).Context.from_settings()
    ctx.catalog.create_job(job_id="j-running", namespace=ctx.namespace, runner="local",
                           spec=wb.Pipeline(source=wb.file("x.csv"), sink=wb.dataset("x")).model_dump(mode="json"),
                           name="x")
    ctx.catalog.start_attempt("j-running", None)
    table = JobsTable(auto=False)
    (row,) = table.table.rows
    assert [a["label"] for a in row["actions"]] == ["Cancel"]


def test_datasets_newest_first_with_schema_and_profile_of_the_selected(wb_home, sales_csv):
    from workbench.notebook.datasets_table import DatasetsTable

    wb.ingest(str(sales_csv), name="older")
    wb.ingest(str(sales_csv), name="newer")
    table = DatasetsTable()
    assert [r["id"] for r in table.table.rows] == ["newer", "older"]
    assert table.selected == "newer" == table.table.selected
    detail = table.detail.value
    assert "wb-schema" in detail and "wb-profile" in detail and "<b>newer</b>" in detail
    assert "0 (0.0%)" in detail  # null counts as numbers and shares
    table._action("select", "older")  # a row picked in the front end
    assert table.selected == "older" and "<b>older</b>" in table.detail.value
    assert "<b>older</b>" in table.bundle()["text/html"]
