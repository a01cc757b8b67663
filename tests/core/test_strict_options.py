"""Every public function refuses an option it does not know, by name, with a "did you mean";
``job_id`` is taken where documented (``wb.submit``) and used."""

from __future__ import annotations

import inspect

import pytest

import workbench as wb
from workbench.errors import SpecError

# Their keywords are data, not options: new columns, and a Python step's own arguments.
DATA_KEYWORDS = {"with_columns", "python"}
PUBLIC_FUNCTIONS = sorted(n for n in wb.__all__ if inspect.isfunction(getattr(wb, n))
                          and n not in DATA_KEYWORDS)


def test_the_list_covers_the_api():
    assert {"submit", "run", "ingest", "file", "dataset", "table", "sql", "read", "preview",
            "jobs", "datasets", "upload_form", "pipeline_builder", "dump_pipeline"} <= set(PUBLIC_FUNCTIONS)


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_an_unknown_option_is_refused_by_name(wb_home, name):
    with pytest.raises(SpecError) as info:
        getattr(wb, name)(zzz_bogus=1)
    assert f"wb.{name}() has no option 'zzz_bogus'" == info.value.message
    assert not wb_home.exists()  # refused before anything ran or was written


def test_data_keywords_are_data():
    assert dict(wb.with_columns(zzz_bogus="a + 1").columns) == {"zzz_bogus": "a + 1"}
    assert dict(wb.python("pkg.mod:f", zzz_bogus=1).kwargs) == {"zzz_bogus": 1}


@pytest.mark.parametrize("call, where, wrong, meant", [
    (lambda: wb.file("x.csv", delimeter=";"), "wb.file()", "delimeter", "delimiter"),
    (lambda: wb.dataset("x", compresion="zstd"), "wb.dataset()", "compresion", "compression"),
    (lambda: wb.table("t", db="d", kyes=["a"]), "wb.table()", "kyes", "keys"),
    (lambda: wb.not_null("a", severty="warn"), "wb.not_null()", "severty", "severity"),
    (lambda: wb.ingest("x.csv", name="n", enconding="latin-1"), "wb.ingest()", "enconding", "encoding"),
    (lambda: wb.run(wb.Pipeline(source=wb.file("x.csv")), timout=3), "wb.run()", "timout", "timeout"),
    (lambda: wb.submit(wb.Pipeline(source=wb.file("x.csv")), jobid="mine"), "wb.submit()", "jobid", "job_id"),
    (lambda: wb.read("x", verison=1), "wb.read()", "verison", "version"),
    (lambda: wb.preview(wb.Pipeline(source=wb.file("x.csv")), row=3), "wb.preview()", "row", "rows"),
    (lambda: wb.jobs(limt=3), "wb.jobs()", "limt", "limit"),
])
def test_a_misspelt_option_gets_a_did_you_mean(wb_home, call, where, wrong, meant):
    with pytest.raises(SpecError) as info:
        call()
    assert info.value.message == f"{where} has no option {wrong!r}"
    assert info.value.hint.startswith(f"did you mean {meant!r}?")


def test_submit_refuses_an_option_of_another_runner(wb_home):
    p = wb.Pipeline(source=wb.file("x.csv"))
    with pytest.raises(SpecError) as info:
        wb.submit(p, runner="local", stages=True)
    assert info.value.message == "the local runner has no option 'stages'"


def test_the_issue_call_is_refused_and_job_id_is_used(wb_home, tmp_path):
    src = tmp_path / "t.csv"
    src.write_text("a\n1\n")
    p = wb.Pipeline(source=wb.file(str(src)))
    with pytest.raises(SpecError, match="no option 'bogus'"):
        wb.submit(p, runner="local", job_id="mine", bogus=1)
    job = wb.submit(p, runner="local", job_id="mine").wait(60)
    assert job.id == "mine" and job.status == "succeeded", job.error
