"""Formats other than plain CSV: compressed text, JSON, NDJSON, Excel, Parquet, detection."""

from __future__ import annotations

import gzip
import hashlib
import json
import os

import polars as pl
import pyarrow as pa
import xlsxwriter

from test_readers_helpers import fails, numbers_csv, read, source, write
from workbench.engines.read_detect import detect_format
from workbench.engines.readers import scan_file


def _zstd(path, data: bytes):
    with pa.CompressedOutputStream(str(path), "zstd") as out:
        out.write(data)
    return path


# ----------------------------------------------------------------------------- compressed
def test_gzip_and_zstd_round_trip(tmp_path):
    data = numbers_csv(20_000)
    expected = pl.read_csv(data)
    for f in (write(tmp_path / "a.csv.gz", gzip.compress(data)), _zstd(tmp_path / "a.csv.zst", data)):
        df, scan = read(f)
        assert df.equals(expected)
        item = scan.inputs[0]
        assert item["path"] == str(f) and item["size"] == f.stat().st_size
        assert item["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()  # of the original
        assert item["local_path"] != str(f)


def test_decompressed_temp_file_is_removed_by_cleanup(tmp_path):
    f = write(tmp_path / "a.csv.gz", gzip.compress(numbers_csv(100)))
    scan = scan_file(source(f))
    local = scan.inputs[0]["local_path"]
    assert os.path.exists(local)
    scan.frame.collect()
    scan.cleanup()
    assert not os.path.exists(local)
    scan.cleanup()  # twice is fine


def test_compression_found_by_magic_without_the_extension(tmp_path):
    f = write(tmp_path / "export.csv", gzip.compress(b"a,b\n1,2\n"))
    df, _ = read(f)
    assert df.rows() == [(1, 2)]


def test_multi_member_gzip(tmp_path):
    f = write(tmp_path / "a.csv.gz", gzip.compress(b"a,b\n1,2\n") + gzip.compress(b"3,4\n"))
    df, _ = read(f)
    assert df.rows() == [(1, 2), (3, 4)]


def test_gzip_of_utf16_and_ndjson_zstd(tmp_path):
    f = write(tmp_path / "a.csv.gz", gzip.compress("a,b\n1,Ünïcode\n".encode("utf-16")))
    df, _ = read(f)
    assert df.rows() == [(1, "Ünïcode")]
    g = _zstd(tmp_path / "e.ndjson.zst", b'{"a": 1, "b": "x"}\n{"a": 2, "b": null}\n')
    df, _ = read(g)
    assert df.rows() == [(1, "x"), (2, None)]


def test_glob_of_mixed_compressed_and_plain_files(tmp_path):
    write(tmp_path / "d" / "1.csv", "a,b\n1,2\n")
    write(tmp_path / "d" / "2.csv.gz", gzip.compress(b"a,b\n3,4\n"))
    _zstd(tmp_path / "d" / "3.csv.zst", b"a,b\n5,6\n")
    df, scan = read(tmp_path / "d" / "*")
    assert sorted(df.rows()) == [(1, 2), (3, 4), (5, 6)]
    assert len(scan.inputs) == 3


# ----------------------------------------------------------------------------- JSON
def test_json_array(tmp_path):
    f = write(tmp_path / "a.json", '[{"id": 1, "tags": ["x"], "v": 1.5}, {"id": 2, "tags": [], "v": null}]')
    df, scan = read(f)
    assert df.schema["id"] == pl.Int64 and df.schema["tags"] == pl.List(pl.String)
    assert df["v"].to_list() == [1.5, None] and scan.rows_total == 2


def test_json_null_markers_only_when_given(tmp_path):
    f = write(tmp_path / "a.json", '[{"region": "NA"}, {"region": "EU"}]')
    df, _ = read(f)
    assert df["region"].to_list() == ["NA", "EU"]  # North America, not missing
    df, _ = read(f, null_values=["NA"])
    assert df["region"].to_list() == [None, "EU"]


def test_json_declared_types(tmp_path):
    f = write(tmp_path / "a.json", '[{"day": "2024-01-02", "n": 1}]')
    df, _ = read(f, schema_overrides={"day": "date", "n": "float64"})
    assert df.schema == pl.Schema({"day": pl.Date, "n": pl.Float64})


def test_ndjson_lazy_with_late_keys_and_wider_types(tmp_path):
    lines = [b'{"id": %d, "v": 1}\n' % i for i in range(30_000)]
    f = write(tmp_path / "a.ndjson", b"".join(lines) + b'{"id": 30000, "v": 2.5, "extra": "x"}\n')
    df, scan = read(f)
    assert df.schema == pl.Schema({"id": pl.Int64, "v": pl.Float64, "extra": pl.String})
    assert df["extra"].drop_nulls().to_list() == ["x"] and df["v"][-1] == 2.5
    assert len(scan.notes) == 2


def test_ndjson_key_first_seen_outside_the_sampled_windows_is_read(tmp_path):
    # 100,000 lines (~4 MB): line 57,000 lies between the sampled windows, and it alone has
    # the key "email" and the key "late" inside the object "o"
    lines = []
    for i in range(100_000):
        rec = {"id": i, "name": f"name{i}", "n": i * 3, "o": {"a": i}}
        if i == 57_000:
            rec["email"] = "a@b.c"
            rec["o"]["late"] = "x"
        lines.append(json.dumps(rec))
    f = write(tmp_path / "late.ndjson", "\n".join(lines) + "\n")
    df, scan = read(f)
    assert df.schema == pl.Schema({"id": pl.Int64, "name": pl.String, "n": pl.Int64,
                                   "o": pl.Struct({"a": pl.Int64, "late": pl.String}),
                                   "email": pl.String})
    assert df.height == 100_000
    assert df.row(57_000) == (57_000, "name57000", 171_000, {"a": 57_000, "late": "x"}, "a@b.c")
    assert df["email"].null_count() == 99_999 and df["o"].struct.field("late").null_count() == 99_999
    assert df.row(56_999) == (56_999, "name56999", 170_997, {"a": 56_999, "late": None}, None)
    assert scan.notes == ["key 'o.late' first appears further into late.ndjson; included",
                          "key 'email' first appears further into late.ndjson; included"]


# a high surrogate escape with no low one after it (UTF-16 cut by a JavaScript producer), a
# low one alone, and a valid pair (an emoji), as NDJSON lines and as a JSON array
_SURROGATE_RECORDS = ['{"id": 1, "s": "\\ud83d"}', '{"id": 2, "s": "a\\ude00b"}',
                      '{"id": 3, "s": "\\ud83d\\ude00"}', '{"id": 4, "s": "\\\\ud83d"}']


def test_lone_surrogate_escape_is_an_error_naming_the_line(tmp_path):
    nd = write(tmp_path / "a.ndjson", "\n".join(['{"id": 0, "s": "ok"}'] + _SURROGATE_RECORDS))
    err = fails(nd)
    assert (err.file, err.row) == (str(nd), 2)
    assert "lone UTF-16 surrogate escape \\ud83d on line 2" in err.message
    assert "utf8-lossy" in err.hint
    arr = write(tmp_path / "a.json", "[\n" + ",\n".join(_SURROGATE_RECORDS[1:]) + "\n]")
    err = fails(arr)
    assert err.file == str(arr) and "surrogate escape \\ude00 on line 2" in err.message


def test_lone_surrogate_escape_with_utf8_lossy_is_u_fffd(tmp_path):
    expected = [(1, "\ufffd"), (2, "a\ufffdb"), (3, "\U0001F600"), (4, "\\ud83d")]
    note = ("2 lone UTF-16 surrogate escapes (half of a character, the first on line 1) read as "
            "U+FFFD, the replacement character (encoding='utf8-lossy')")
    nd = write(tmp_path / "a.ndjson", "\n".join(_SURROGATE_RECORDS) + "\n")
    df, scan = read(nd, encoding="utf8-lossy")
    assert df.rows() == expected and scan.notes == [note]
    assert nd.read_text().startswith('{"id": 1, "s": "\\ud83d"}')  # the source is left as it was
    df, scan = read(write(tmp_path / "a.json", "[" + ",\n".join(_SURROGATE_RECORDS) + "]"),
                    encoding="utf8-lossy")
    assert df.rows() == expected and scan.notes == [note]


def test_surrogate_pairs_and_escaped_backslashes_read_as_they_are(tmp_path):
    lines = ['{"id": %d, "s": "\\ud83d\\ude00 x\\uD83D\\uDE03", "t": "\\\\ud83d\\\\"}' % i
             for i in range(3)]
    for f in (write(tmp_path / "a.ndjson", "\n".join(lines)),
              write(tmp_path / "a.json", "[" + ",".join(lines) + "]")):
        df, scan = read(f)
        assert df.rows() == [(i, "\U0001F600 x\U0001F603", "\\ud83d\\") for i in range(3)]
        assert scan.notes == []


def test_ndjson_declared_misfit_is_located(tmp_path):
    f = write(tmp_path / "a.jsonl", '{"a": 1}\n{"a": 2}\n{"a": "three"}\n')
    scan = scan_file(source(f, schema_overrides={"a": "int64"}))
    try:
        scan.frame.collect()
    except Exception as exc:
        err = scan.diagnose(exc)
    else:
        raise AssertionError("expected the pass to fail")
    assert (err.row, err.column, err.file) == (3, "a", str(f)) and "'three'" in err.message


# ----------------------------------------------------------------------------- Excel
def _workbook(path, sheets: dict[str, list[list]]):
    wb = xlsxwriter.Workbook(str(path))
    for name, rows in sheets.items():
        ws = wb.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None:
                    ws.write(r, c, value)
    wb.close()
    return path


def test_excel_sheet_by_name_and_index(tmp_path):
    f = _workbook(tmp_path / "a.xlsx", {"First": [["a"], [1]], "Second": [["b", "c"], ["x", 2.5]]})
    df, scan = read(f)
    assert df.rows() == [(1,)] and scan.rows_total == 1
    df, _ = read(f, sheet="Second")
    assert df.rows() == [("x", 2.5)]
    df, _ = read(f, sheet=1)
    assert df.columns == ["b", "c"]


def test_excel_na_cells_leave_numbers_numeric_and_codes_keep_zeros(tmp_path):
    f = _workbook(tmp_path / "a.xlsx", {"S": [["n", "code", "late"], [1, "007", 1], ["NA", "010", 2],
                                              [2.5, "NA", 3]] + [[3, "011", 4]] * 200 +
                                        [[4, "012", "oops"]]})
    df, scan = read(f)
    assert df.schema["n"] == pl.Float64 and df["n"][:3].to_list() == [1.0, None, 2.5]
    assert df.schema["code"] == pl.String and df["code"][:3].to_list() == ["007", "010", None]
    assert df.schema["late"] == pl.String and df["late"][-1] == "oops"  # not a silent null


def test_excel_skip_rows_and_no_header(tmp_path):
    f = _workbook(tmp_path / "a.xlsx", {"S": [["Report"], [], ["id", "v"], [1, "x"]]})
    df, _ = read(f, skip_rows=2)
    assert df.columns == ["id", "v"] and df.rows() == [(1, "x")]
    g = _workbook(tmp_path / "b.xlsx", {"S": [[1, "x"], [2, "y"]]})
    df, _ = read(g, has_header=False)
    assert df.height == 2 and df.width == 2


def test_excel_glob(tmp_path):
    (tmp_path / "x").mkdir()
    for i in range(2):
        _workbook(tmp_path / "x" / f"{i}.xlsx", {"S": [["id"], [i]]})
    df, _ = read(tmp_path / "x" / "*.xlsx")
    assert sorted(df["id"].to_list()) == [0, 1]


# ----------------------------------------------------------------------------- Parquet
def test_parquet_glob_lazy_with_row_counts(tmp_path):
    for i in range(3):
        pl.DataFrame({"id": [i, i + 10], "v": ["a", "b"]}).write_parquet(tmp_path / f"p{i}.parquet")
    df, scan = read(tmp_path / "p*.parquet")
    assert df.height == 6 and scan.rows_total == 6
    assert "parquet" in scan_file(source(tmp_path / "p*.parquet")).frame.explain().lower()


def test_parquet_glob_with_other_types_names_the_file(tmp_path):
    from test_readers_helpers import fails

    pl.DataFrame({"id": [1]}).write_parquet(tmp_path / "a.parquet")
    pl.DataFrame({"id": ["x"]}).write_parquet(tmp_path / "b.parquet")
    err = fails(tmp_path / "*.parquet")
    assert err.file == str(tmp_path / "b.parquet") and err.column == "id"


def test_parquet_declared_cast(tmp_path):
    pl.DataFrame({"id": ["1", "2"], "day": ["2024-01-01", "2024-01-02"]}).write_parquet(
        tmp_path / "a.parquet")
    df, _ = read(tmp_path / "a.parquet", schema_overrides={"id": "int64", "day": "date"})
    assert df.schema == pl.Schema({"id": pl.Int64, "day": pl.Date})


# ----------------------------------------------------------------------------- detection
def test_format_detection_by_magic_and_name(tmp_path):
    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "data.bin")
    df, _ = read(tmp_path / "data.bin")
    assert df.rows() == [(1,)]
    assert detect_format(b"[{\"a\": 1}]", "x.json", "auto") == "json"
    assert detect_format(b"{\"a\": 1}\n{\"a\": 2}\n", "x.json", "auto") == "ndjson"
    assert detect_format(b"{\"a\": 1}\n{\"a\": 2}\n", "x.txt", "auto") == "ndjson"
    assert detect_format(b"PK\x03\x04", "upload", "auto") == "excel"
    assert detect_format(b"a,b\n", "upload", "auto") == "csv"
    df, _ = read(write(tmp_path / "rows.json", '{"a": 1}\n{"a": 2}\n'))
    assert df.rows() == [(1,), (2,)]


def test_gzipped_parquet(tmp_path):
    pl.DataFrame({"a": [1, 2]}).write_parquet(tmp_path / "p.parquet")
    f = write(tmp_path / "p.parquet.gz", gzip.compress((tmp_path / "p.parquet").read_bytes()))
    df, scan = read(f)
    assert df["a"].to_list() == [1, 2] and scan.rows_total == 2
