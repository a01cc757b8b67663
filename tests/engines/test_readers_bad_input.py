"""Every bad input ends in a SourceError that says the file, the row and column where known,
and a hint. Rows: 1-based data rows, the header being row 0."""

from __future__ import annotations

import gzip
import os
import zipfile

import polars as pl
import pytest
import xlsxwriter

from test_readers_helpers import fails, numbers_csv, read, write
from workbench.engines import read_common
from workbench.engines.read_common import Limits
from workbench.engines.readers import scan_file
from workbench.errors import SourceError, SpecError
from workbench.spec.models import FileSource


def _middle(body: bytes, insert: bytes) -> tuple[bytes, int]:
    """``body`` with ``insert`` (one line) between the sampled windows; its data row."""
    step = (len(body) - read_common.HEAD_BYTES) / (read_common.SAMPLE_WINDOWS + 1)
    pos = body.index(b"\n", int(read_common.HEAD_BYTES + 1.5 * step)) + 1
    return body[:pos] + insert + body[pos:], body[:pos].count(b"\n")


# ----------------------------------------------------------------------------- empty, header
def test_empty_file(tmp_path):
    err = fails(write(tmp_path / "a.csv", b""))
    assert err.file == str(tmp_path / "a.csv") and "empty" in err.message


def test_only_blank_lines(tmp_path):
    err = fails(write(tmp_path / "a.csv", b"\n\n  \n"))
    assert "empty" in err.message


def test_duplicate_column_names(tmp_path):
    err = fails(write(tmp_path / "a.csv", "id,name,id,x,name\n1,a,2,3,b\n"))
    assert err.row == 0 and err.column == "id"
    assert "'id'" in err.message and "'name'" in err.message and "has_header=False" in err.hint


def test_empty_column_name(tmp_path):
    err = fails(write(tmp_path / "a.csv", "id,,amount\n1,2,3\n"))
    assert err.row == 0 and err.column == "#2" and "column 2 of 3" in err.message


def test_glob_with_a_file_of_other_columns(tmp_path):
    write(tmp_path / "d" / "a.csv", "id,amount\n1,2\n")
    write(tmp_path / "d" / "b.csv", "id,amount\n3,4\n")
    write(tmp_path / "d" / "c.csv", "id,total\n5,6\n")
    err = fails(tmp_path / "d" / "*.csv")
    assert err.file == str(tmp_path / "d" / "c.csv")
    assert "'amount'" in err.message and "'total'" in err.message


# ----------------------------------------------------------------------------- ragged rows
def test_too_few_fields_in_the_head(tmp_path):
    err = fails(write(tmp_path / "a.csv", "a,b,c\n1,2,3\n4,5\n6,7,8\n"))
    assert (err.row, err.file) == (2, str(tmp_path / "a.csv"))
    assert "2 fields" in err.message and "has 3" in err.message and "line 3" in err.message


def test_too_many_fields_in_the_head(tmp_path):
    err = fails(write(tmp_path / "a.csv", "a,b\n1,2\n3,4\n5,6,7\n"))
    assert err.row == 3 and "3 fields" in err.message and "has 2" in err.message


def test_too_few_fields_in_a_sampled_window(tmp_path):
    body = numbers_csv(50_000)
    err = fails(write(tmp_path / "a.csv", body + b"9\n"))  # the tail is always sampled
    assert err.row == 50_001 and "1 field " in err.message


def test_too_many_fields_past_the_samples_is_located_after_the_pass(tmp_path):
    data, row = _middle(numbers_csv(400_000), b"1,2,3\n")
    err = fails(write(tmp_path / "a.csv", data))
    assert err.row == row and "3 fields" in err.message and "has 2" in err.message


# ----------------------------------------------------------------------------- types
def test_value_that_does_not_fit_a_declared_type(tmp_path):
    f = write(tmp_path / "a.csv", "id,amount\n1,10\n2,12.5\n3,abc\n")
    err = fails(f, schema_overrides={"amount": "float64"})
    assert (err.file, err.row, err.column) == (str(f), 3, "amount")
    assert "'abc'" in err.message and "declared" in err.message and "float64" in err.message


def test_declared_int_misfit_far_into_the_file(tmp_path):
    data, row = _middle(numbers_csv(400_000), b"12x,1\n")
    f = write(tmp_path / "a.csv", data)
    err = fails(f, schema_overrides={"a": "int64"})
    assert (err.row, err.column) == (row, "a") and "'12x'" in err.message


def test_declared_date_misfit(tmp_path):
    f = write(tmp_path / "a.csv", "day\n2024-01-01\n2024-13-45\n")
    err = fails(f, schema_overrides={"day": "date"})
    assert (err.row, err.column) == (2, "day") and "2024-13-45" in err.message


def test_unknown_declared_type_and_column(tmp_path):
    f = write(tmp_path / "a.csv", "a\n1\n")
    with pytest.raises(SpecError) as info:
        scan_file(FileSource(path=str(f), schema_overrides={"a": "integerish"}))
    assert info.value.column == "a" and "decimal" in info.value.hint
    err = fails(f, schema_overrides={"b": "int64"})
    assert err.column == "b" and "'a'" in err.hint


# ----------------------------------------------------------------------------- bytes
def test_invalid_utf8_in_the_head(tmp_path):
    data = b"id,city\n1,Paris\n2,M\xfcnchen\n"
    err = fails(write(tmp_path / "a.csv", data), encoding="utf8")
    offset = data.index(b"\xfc")
    assert err.row == 2 and f"byte offset {offset} (line 3)" in err.message and "latin1" in err.hint


def test_invalid_utf8_past_the_samples_is_located_after_the_pass(tmp_path):
    body = b"a,b\n" + b"".join(b"%d,word%d\n" % (i, i) for i in range(300_000))
    data, row = _middle(body, b"7,caf\xe9\n")
    f = write(tmp_path / "a.csv", data)
    err = fails(f)
    offset = data.index(b"caf\xe9") + 3
    assert err.row == row and f"byte offset {offset}" in err.message and err.file == str(f)


def test_invalid_cp1252_bytes(tmp_path):
    f = write(tmp_path / "a.csv", b"a,b\n1,x\x81y\n")  # 0x81 is undefined in cp1252
    err = fails(f, encoding="cp1252")
    assert "cp1252" in err.message and "offset 7 (near line 2)" in err.message


def test_nul_byte_in_the_head_and_in_the_tail(tmp_path):
    err = fails(write(tmp_path / "a.csv", b"a,b\n1,x\x00y\n"))
    assert err.row == 1 and "NUL" in err.message and "offset 7" in err.message
    body = numbers_csv(50_000)
    err = fails(write(tmp_path / "b.csv", body + b"\x00\x00\x00\x00"))  # a zero-padded tail
    assert "NUL" in err.message and err.row == 50_001


# ----------------------------------------------------------------------------- compression
def test_truncated_gzip(tmp_path):
    data = gzip.compress(numbers_csv(100_000))
    f = write(tmp_path / "a.csv.gz", data[: len(data) // 2])
    err = fails(f)
    assert err.file == str(f) and "truncated" in err.message


def test_truncated_zstd(tmp_path):
    import pyarrow as pa

    f = tmp_path / "a.csv.zst"
    with pa.CompressedOutputStream(str(f), "zstd") as out:
        out.write(numbers_csv(100_000))
    f.write_bytes(f.read_bytes()[:-100])
    err = fails(f)
    assert err.file == str(f) and "truncated" in err.message


def test_gz_name_without_gzip_content(tmp_path):
    err = fails(write(tmp_path / "a.csv.gz", "a,b\n1,2\n"))
    assert "gzip" in err.message and "compression='none'" in err.hint


def test_decompression_bomb_is_capped(tmp_path):
    f = write(tmp_path / "bomb.csv.gz", gzip.compress(b"a\n" + b"0\n" * 5_000_000))
    limits = Limits(max_decompressed_bytes=1_000_000)
    with pytest.raises(SourceError) as info:
        scan_file(FileSource(path=str(f)), limits=limits)
    assert "more than 1,000,000 bytes" in info.value.message and info.value.file == str(f)
    limits = Limits(ratio_floor_bytes=1_000_000, max_ratio=50)
    with pytest.raises(SourceError) as info:
        scan_file(FileSource(path=str(f)), limits=limits)
    assert "bomb" in info.value.message


def test_temporary_files_go_away_after_a_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    (tmp_path / "tmp").mkdir()
    data = gzip.compress(numbers_csv(10_000))
    fails(write(tmp_path / "a.csv.gz", data[:-20]))
    assert os.listdir(tmp_path / "tmp") == []


# ----------------------------------------------------------------------------- other formats
def test_text_file_named_xlsx(tmp_path):
    err = fails(write(tmp_path / "report.xlsx", "id,name\n1,x\n"))
    assert err.file == str(tmp_path / "report.xlsx") and "not an Excel" in err.message
    assert "format='csv'" in err.hint


def test_damaged_xlsx(tmp_path):
    err = fails(write(tmp_path / "r.xlsx", b"PK\x03\x04" + b"\x00" * 100))
    assert "damaged" in err.message or "cannot be opened" in err.message


def _workbook(path, rows, sheet="Data"):
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet(sheet)
    for r, row in enumerate(rows):
        ws.write_row(r, 0, row)
    wb.close()
    return path


def test_missing_sheet_lists_the_sheets(tmp_path):
    f = _workbook(tmp_path / "a.xlsx", [["a"], [1]], sheet="Sales")
    err = fails(f, sheet="Costs")
    assert "'Costs'" in err.message and "Sales" in err.hint
    err = fails(f, sheet=2)
    assert "index 2" in err.message and "Sales" in err.hint


def test_excel_duplicate_and_empty_header(tmp_path):
    err = fails(_workbook(tmp_path / "a.xlsx", [["id", "id"], [1, 2]]))
    assert err.column == "id" and "duplicate" in err.message
    err = fails(_workbook(tmp_path / "b.xlsx", [["id", "", "x"], [1, 2, 3]]))
    assert err.column == "#2" and "empty name" in err.message


def test_excel_declared_misfit_gives_the_worksheet_row(tmp_path):
    f = _workbook(tmp_path / "a.xlsx", [["id", "n"], [1, 5], [2, "five"]])
    err = fails(f, schema_overrides={"n": "int64"})
    assert (err.row, err.column) == (2, "n") and "worksheet row 3" in err.message


def test_excel_zip_bomb_is_refused(tmp_path):
    f = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/worksheets/sheet1.xml", b" " * 20_000_000)
    with pytest.raises(SourceError) as info:
        scan_file(FileSource(path=str(f)), limits=Limits(excel_max_uncompressed=10_000_000))
    assert "inflates" in info.value.message and info.value.file == str(f)


def test_truncated_parquet(tmp_path):
    f = tmp_path / "a.parquet"
    pl.DataFrame({"a": range(10_000)}).write_parquet(f)
    f.write_bytes(f.read_bytes()[:-30])
    err = fails(f)
    assert err.file == str(f) and "truncated" in err.message


@pytest.mark.parametrize("column, arrow_type, said", [
    ("x", "decimal256(60, 0)", "decimal(60,0): more than 38 digits"),
    ("ts", "timestamp('ms', tz='+05:30')", "time zone as a fixed offset (+05:30)"),
    ("s.ts", "struct([('ts', pa.timestamp('ms', tz='-03:00'))])", "fixed offset (-03:00)"),
])
def test_a_parquet_type_polars_cannot_hold_is_named_not_a_panic(tmp_path, column, arrow_type, said):
    # valid files pyarrow writes (Python's datetime.timezone gives the offset): Polars' reader
    # panicked on them, with neither file nor column
    import datetime as dt
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    t = eval("pa." + arrow_type, {"pa": pa})  # noqa: S307 - the test's own literals
    when = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    value = {"x": decimal.Decimal("1" * 50), "ts": when, "s.ts": {"ts": when}}[column]
    f = tmp_path / "a.parquet"
    pq.write_table(pa.table({column.split(".")[0]: pa.array([value], t)}), f)
    err = fails(f)
    assert isinstance(err, SourceError) and err.file == str(f) and err.column == column
    assert said in err.message


def test_carriage_return_line_ends_are_named(tmp_path):
    # Polars reads such a file as one line; its own message named an option of its API
    err = fails(write(tmp_path / "mac.csv", b"id,v\r1,a\r2,b\r"))
    assert "carriage return alone" in err.message and err.file == str(tmp_path / "mac.csv")
    df, _ = read(write(tmp_path / "crlf.csv", b"id,v\r\n1,a\r\n"))
    assert df.rows() == [(1, "a")]


@pytest.mark.parametrize("text", ["[]", "[{}, {}]"])
def test_a_json_document_of_no_records_is_refused_as_an_empty_file_is(tmp_path, text):
    err = fails(write(tmp_path / "empty.json", text))
    assert "holds no records" in err.message


def test_an_empty_sheet_is_refused_as_an_empty_file_is(tmp_path):
    path = tmp_path / "empty.xlsx"
    book = xlsxwriter.Workbook(path)
    book.add_worksheet("data")
    book.close()
    err = fails(path)
    assert "the sheet is empty" in err.message and "sheet=" in err.hint


def test_file_named_parquet_that_is_not(tmp_path):
    err = fails(write(tmp_path / "a.parquet", "a,b\n1,2\n"), format="parquet")
    assert "not a Parquet file" in err.message


def test_malformed_json_array(tmp_path):
    f = write(tmp_path / "a.json", '[\n  {"a": 1},\n  {"a": 2,, "b": 3}\n]\n')
    err = fails(f)
    assert err.file == str(f) and "line 3" in err.message


def test_malformed_ndjson_line(tmp_path):
    f = write(tmp_path / "a.ndjson", '{"a": 1}\n{"a": 2}\n{"a": 3\n{"a": 4}\n')
    err = fails(f)
    assert (err.file, err.row) == (str(f), 3) and "malformed" in err.message


def test_malformed_ndjson_line_past_the_samples(tmp_path):
    lines = [b'{"a": %d, "b": "x"}\n' % i for i in range(200_000)]
    body = b"".join(lines)
    step = len(body) / (read_common.SAMPLE_WINDOWS + 1)
    pos = body.index(b"\n", int(1.5 * step)) + 1
    f = write(tmp_path / "a.ndjson", body[:pos] + b'{"a": 1, "b": }\n' + body[pos:])
    err = fails(f)
    assert err.row == body[:pos].count(b"\n") + 1 and "malformed" in err.message


def test_binary_file_named_csv(tmp_path):
    err = fails(write(tmp_path / "a.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
    assert "NUL" in err.message or "UTF-8" in err.message


def test_empty_file_inside_a_glob_is_named(tmp_path):
    write(tmp_path / "d" / "a.csv", "id\n1\n")
    write(tmp_path / "d" / "b.csv", b"")
    err = fails(tmp_path / "d" / "*.csv")
    assert err.file == str(tmp_path / "d" / "b.csv") and "empty" in err.message


def test_glob_of_mixed_formats(tmp_path):
    write(tmp_path / "d" / "a.csv", "id\n1\n")
    pl.DataFrame({"id": [2]}).write_parquet(tmp_path / "d" / "b.parquet")
    err = fails(tmp_path / "d" / "*")
    assert err.file == str(tmp_path / "d" / "b.parquet") and "parquet" in err.message


def test_malformed_ndjson_line_at_the_start_of_a_sampled_window(tmp_path):
    body = b"".join(b'{"a": %d}\n' % i for i in range(300_000))
    start = body.index(b"\n", len(body) // (read_common.SAMPLE_WINDOWS + 1)) + 1
    f = write(tmp_path / "a.ndjson", body[:start] + b'{"a": }\n' + body[start:])
    err = fails(f)
    assert err.row == body[:start].count(b"\n") + 1 and "malformed" in err.message
