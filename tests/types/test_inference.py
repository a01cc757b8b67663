"""Reader inference at least as good as DuckDB's sniffer, per file of a corpus of real-world
shapes (``inference_corpus.py``): each column's type at least as specific as
``read_csv_auto``/``read_json_auto``'s, and every value equal to what DuckDB reads when told our
types. ``inference_report.py`` prints the same comparison as a table (docs/types.md)."""

from __future__ import annotations

import polars as pl
import pytest

import workbench as wb
from inference_compare import compare_file
from inference_corpus import CASES, write_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("inference-corpus"))


def test_the_corpus_is_large_enough(corpus):
    assert len(corpus) >= 40
    assert sum(1 for n in corpus if n.endswith(".ndjson")) >= 8


@pytest.mark.parametrize("make", CASES, ids=[m.__name__ for m in CASES])
def test_each_column_is_as_specific_as_duckdb_and_every_value_equal(corpus, make):
    name, _ = make()
    columns = compare_file(corpus[name])
    assert columns
    for c in columns:
        assert c.specific, f"{name}:{c.column}: ours {c.ours}, DuckDB {c.duckdb}"
        assert c.values, f"{name}:{c.column}: {c.detail}"


def _run(path):
    job = wb.submit(wb.Pipeline(source=wb.file(str(path))), runner="local").wait(120)
    assert job.status == "succeeded", job.error
    return job.result, [e.text for e in job.events if e.kind == "message"]


def test_encoding_auto_detects_cp1252_and_says_so(wb_home, corpus):
    df, notes = _run(corpus["cp1252.csv"])
    assert df["label"][0].startswith("“Zürich” – 0 €")
    assert any("not UTF-8" in n and "cp1252" in n for n in notes), notes


def test_encoding_auto_detects_latin1_and_says_so(wb_home, corpus):
    df, notes = _run(corpus["latin1.csv"])
    assert df["city"].to_list()[:3] == ["Zürich", "São Paulo", "Besançon"]
    assert any("not UTF-8" in n and "Latin-1" in n for n in notes), notes


def test_bytes_neither_utf8_nor_cp1252_still_fail_with_a_hint(wb_home, tmp_path):
    src = tmp_path / "bad.csv"
    src.write_bytes(b"id,city\n1,Z\xfcrich\n2,x\x81y\n")  # 0x81: undefined in cp1252
    job = wb.submit(wb.Pipeline(source=wb.file(str(src))), runner="local").wait(120)
    assert job.status == "failed" and "invalid UTF-8" in str(job.error)


def test_utf8_files_get_no_encoding_note(wb_home, corpus):
    _, notes = _run(corpus["utf8_bom.csv"])
    assert not any("not UTF-8" in n for n in notes)


def test_a_later_value_that_is_not_a_date_keeps_the_column_text(wb_home, tmp_path):
    src = tmp_path / "d.csv"
    lines = [f"{i},2026-01-0{1 + i % 9}T10:00:00Z" for i in range(30_000)] + ["30000,soon"]
    src.write_text("id,ts\n" + "\n".join(lines) + "\n")
    df, notes = _run(src)
    assert df.schema["ts"] == pl.String and df["ts"][-1] == "soon"
    assert any("'ts'" in n and "read as text" in n for n in notes), notes


def test_spelled_booleans_that_stop_being_booleans_stay_text(wb_home, tmp_path):
    src = tmp_path / "b.csv"
    lines = [f"{i},{'yes' if i % 2 else 'no'}" for i in range(30_000)] + ["30000,maybe"]
    src.write_text("id,ok\n" + "\n".join(lines) + "\n")
    df, notes = _run(src)
    assert df.schema["ok"] == pl.String and df["ok"][-1] == "maybe" and df["ok"][0] == "no"


def test_latin1_first_met_past_the_head_is_detected_too(wb_home, tmp_path):
    src = tmp_path / "late_latin1.csv"
    body = "".join(f"{i},plain {i}\n" for i in range(20_000))  # ~300 KB of ASCII first
    src.write_bytes(("id,city\n" + body + "20000,Zürich\n").encode("latin-1"))
    df, notes = _run(src)
    assert df.height == 20_001 and df["city"][-1] == "Zürich"
    assert any("not UTF-8" in n and "Latin-1" in n for n in notes), notes


def test_utf8_letters_then_latin1_bytes_is_an_error_not_a_guess(wb_home, tmp_path):
    src = tmp_path / "mixed.csv"
    body = "".join(f"{i},Zürich {i}\n" for i in range(20_000))
    src.write_bytes(("id,city\n" + body).encode("utf-8") + "20000,Zürich\n".encode("latin-1"))
    job = wb.submit(wb.Pipeline(source=wb.file(str(src))), runner="local").wait(120)
    assert job.status == "failed" and "invalid UTF-8" in str(job.error)


def test_dates_where_day_and_month_both_fit_stay_text(wb_home, tmp_path):
    src = tmp_path / "ambiguous.csv"
    src.write_text("id,day\n1,01/02/2026\n2,03/04/2025\n")  # DuckDB guesses day first
    df, _ = _run(src)
    assert df.schema["day"] == pl.String and df["day"].to_list() == ["01/02/2026", "03/04/2025"]


def test_a_date_like_text_that_is_no_date_keeps_the_column_text(wb_home, tmp_path):
    src = tmp_path / "nodate.csv"
    src.write_text("id,day,at\n1,2026-02-30,25:00:00\n2,2026-03-01,10:00:00\n")
    df, _ = _run(src)
    assert df.schema["day"] == pl.String and df.schema["at"] == pl.String
    assert df["day"].to_list() == ["2026-02-30", "2026-03-01"]
