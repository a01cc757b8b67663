"""Hostile sizes are refused while they are read, with an error naming the limit's setting; the
job's process and the kernel survive, nothing is written, and the next job is fine."""

from __future__ import annotations

import gzip
import os
import zipfile
from pathlib import Path

import polars as pl
import pytest

import workbench as wb
from workbench.context import Context
from workbench.errors import SourceError
from workbench.runners.local import LocalRunner

from invariants import assert_clean_dataset, assert_settled

TIMEOUT = 300


def _run(path: Path, name: str):
    job = LocalRunner().submit(wb.Pipeline(source=wb.file(str(path)), sink=wb.dataset(name)))
    return job.wait(TIMEOUT)


def _refused(job, wb_home: Path, name: str, *needles: str) -> None:
    assert job.status == "failed"
    assert isinstance(job.error, SourceError), job.error
    for needle in needles:
        assert needle in str(job.error), job.error
    ctx = Context.from_settings()
    assert_settled(ctx, [job.id])
    assert_clean_dataset(ctx, wb_home / "storage", name, [])
    assert not list((wb_home / "tmp").glob("wb-read-*"))  # the inflated copy is gone


def _next_job_fine(tmp_path: Path) -> None:
    ok = tmp_path / "ok.csv"
    pl.DataFrame({"id": range(100)}).write_csv(ok)
    job = _run(ok, "fine_after")
    assert job.status == "succeeded", job.error


def test_gzip_bomb_refused_while_inflating(wb_home, tmp_path):
    """A gzip of zeros that would inflate to 2.5 GB is refused after at most a few dozen MiB
    inflated (WORKBENCH_MAX_DECOMPRESSION_RATIO), not after the whole file hit the disk."""
    bomb = tmp_path / "bomb.csv.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as f:
        f.write(b"a\n")
        zeros = b"0" * (16 * 1024 * 1024)
        for _ in range(160):
            f.write(zeros)
    job = _run(bomb, "bomb")
    _refused(job, wb_home, "bomb", "WORKBENCH_MAX_DECOMPRESSION_RATIO", "decompression bomb")
    _next_job_fine(tmp_path)


def test_decompressed_bytes_cap_counts_every_file_of_a_glob(wb_home, tmp_path, monkeypatch):
    """The decompressed-bytes cap is per source: three files each under it, together over it,
    are refused (WORKBENCH_MAX_DECOMPRESSED_BYTES), so a glob does not multiply the cap."""
    monkeypatch.setenv("WORKBENCH_MAX_DECOMPRESSED_BYTES", str(2 * 1024 * 1024))
    folder = tmp_path / "parts"
    folder.mkdir()
    for k in range(3):
        with gzip.open(folder / f"p{k}.csv.gz", "wt") as f:
            f.write("id,text\n")
            for i in range(30_000):
                f.write(f"{i},{os.urandom(12).hex()}\n")  # ~1 MB each: under the cap alone
    job = _run(Path(str(folder / "*.csv.gz")), "glob")
    _refused(job, wb_home, "glob", "WORKBENCH_MAX_DECOMPRESSED_BYTES")
    _next_job_fine(tmp_path)


def test_one_gigabyte_field_is_a_source_error(wb_home, tmp_path):
    """A CSV holding one 1 GB field is refused before Polars allocates it (it took 13 GB and
    aborted), naming the row and WORKBENCH_MAX_FIELD_BYTES."""
    path = tmp_path / "field.csv"
    with open(path, "wb") as f:
        f.write(b"id,text\n1,short\n2,")
        chunk = b"x" * (64 * 1024 * 1024)
        for _ in range(16):
            f.write(chunk)
        f.write(b"\n3,short\n")
    try:
        job = _run(path, "field")
        _refused(job, wb_home, "field", "WORKBENCH_MAX_FIELD_BYTES", "line 3")
        assert job.error.row == 2
    finally:
        path.unlink()
    _next_job_fine(tmp_path)


def test_too_many_columns(wb_home, tmp_path, monkeypatch):
    """A header with more columns than WORKBENCH_MAX_COLUMNS is refused before inference."""
    monkeypatch.setenv("WORKBENCH_MAX_COLUMNS", "1000")
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(5000)) + "\n" + ",".join("1" * 5000) + "\n")
    job = _run(path, "wide")
    _refused(job, wb_home, "wide", "5,000 columns", "WORKBENCH_MAX_COLUMNS")
    _next_job_fine(tmp_path)


def _xlsx_with_cell(tmp_path: Path, ref_row: int) -> Path:
    import xlsxwriter

    plain = tmp_path / "plain.xlsx"
    book = xlsxwriter.Workbook(str(plain))
    sheet = book.add_worksheet()
    for r, v in enumerate(["a", 1, 2]):
        sheet.write(r, 0, v)
    book.close()
    out = tmp_path / "huge-cell.xlsx"
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b'r="A3"', f'r="A{ref_row}"'.encode())
            zout.writestr(item, data)
    return out


def test_xlsx_cell_beyond_excels_grid(wb_home, tmp_path):
    """A 5 KB xlsx with a cell at A1000000000 is refused before calamine allocates the grid
    (it allocated 64 GB and aborted the kernel)."""
    path = _xlsx_with_cell(tmp_path, 1_000_000_000)
    assert path.stat().st_size < 10_000
    job = _run(path, "huge_cell")
    _refused(job, wb_home, "huge_cell", "A1000000000", "1,048,576 rows")
    _next_job_fine(tmp_path)


def _deep(levels: int) -> str:
    return '{"a": ' + "[" * (levels - 1) + "]" * (levels - 1) + "}"


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
@pytest.mark.parametrize("levels", [100, 600, 100_000])
def test_json_nested_too_deep(wb_home, tmp_path, fmt, levels):
    """A JSON value nested deeper than WORKBENCH_MAX_JSON_DEPTH (64) is a SourceError naming
    the setting (and, for NDJSON, the line): 100,000 levels was an InternalError from a
    RecursionError, 600 levels, which Polars reads without complaint, passed the limit, and 100
    levels, within the old limit of 512, failed in the Parquet writer (a schema 100 deep at
    most) without a file or line."""
    path = tmp_path / f"deep.{fmt}"
    if levels > 1000:  # the case: a fine line, then one nested 100,000 deep
        lines = ['{"a": 1}', _deep(levels)]
    else:  # every line equally deep: Polars itself infers and reads it
        lines = [_deep(levels), _deep(levels)]
    path.write_text("\n".join(lines) + "\n" if fmt == "ndjson" else "[" + ", ".join(lines) + "]")
    job = _run(path, "deep")
    want = ("line 2" if levels > 1000 else "line 1") if fmt == "ndjson" else "the document"
    _refused(job, wb_home, "deep", want, "WORKBENCH_MAX_JSON_DEPTH")
    _next_job_fine(tmp_path)


def test_a_long_line_of_small_fields_is_no_long_field(wb_home, tmp_path, monkeypatch):
    """WORKBENCH_MAX_FIELD_BYTES bounds a field, not a line: a row of many small fields, longer
    than the limit, is read."""
    monkeypatch.setenv("WORKBENCH_MAX_FIELD_BYTES", "4096")
    path = tmp_path / "wide_row.csv"
    cols = 1500
    path.write_text(",".join(f"c{i}" for i in range(cols)) + "\n"
                    + ",".join(str(10**7 + i) for i in range(cols)) + "\n")
    assert path.stat().st_size > 3 * 4096
    job = _run(path, "wide_row")
    assert job.status == "succeeded", job.error
    assert job.result.rows == 1


@pytest.mark.parametrize("shape", ["quoted_with_line_breaks", "unquoted"])
def test_a_field_over_the_limit_is_refused_whatever_its_shape(wb_home, tmp_path, monkeypatch,
                                                              shape):
    """A field longer than WORKBENCH_MAX_FIELD_BYTES is a SourceError naming the setting and
    its line, also when it is quoted and its lines are short (a line limit did not see it)."""
    monkeypatch.setenv("WORKBENCH_MAX_FIELD_BYTES", str(64 * 1024))
    path = tmp_path / "big_field.csv"
    body = ("y" * 99 + "\n") * 2000 if shape == "quoted_with_line_breaks" else "y" * 200_000
    path.write_text('id,text\n1,short\n2,"' + body + '"\n3,short\n'
                    if shape == "quoted_with_line_breaks" else f"id,text\n1,short\n2,{body}\n")
    job = _run(path, "big_field")
    _refused(job, wb_home, "big_field", "WORKBENCH_MAX_FIELD_BYTES", "line 3")
    _next_job_fine(tmp_path)


@pytest.mark.parametrize("limit", ["abc", "-5"])
def test_a_bad_limit_setting_is_a_config_error(wb_home, tmp_path, monkeypatch, limit):
    """A limit setting that is not a number fails the job with a ConfigError naming it."""
    monkeypatch.setenv("WORKBENCH_MAX_FIELD_BYTES", limit)
    ok = tmp_path / "ok.csv"
    ok.write_text("id\n1\n")
    job = _run(ok, "bad_setting")
    assert job.status == "failed" and "WORKBENCH_MAX_FIELD_BYTES" in str(job.error)
