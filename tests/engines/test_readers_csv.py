"""CSV/TSV: options, null markers, encodings, type inference and widening."""

from __future__ import annotations

import codecs
import threading
from decimal import Decimal

import polars as pl
import pytest
from test_readers_helpers import fails, numbers_csv, read, source, write

import workbench as wb
from workbench.engines.read_common import file_fingerprint
from workbench.engines.readers import scan_file


def test_reads_csv_lazily_with_types(tmp_path):
    f = write(tmp_path / "sales.csv", "id,region,amount,ok\n1,north,2.5,true\n2,south,3,false\n")
    df, scan = read(f)
    assert df.schema == pl.Schema({"id": pl.Int64, "region": pl.String, "amount": pl.Float64,
                                   "ok": pl.Boolean})
    assert df.rows() == [(1, "north", 2.5, True), (2, "south", 3.0, False)]
    # the fingerprint (size, times, inode) lets the job see the file change under it
    assert scan.inputs == [{"path": str(f), "size": f.stat().st_size, "local_path": str(f),
                            "fingerprint": file_fingerprint(str(f))}]
    assert scan.bytes_total == f.stat().st_size


def test_scan_is_a_plain_polars_csv_scan_on_the_original_file(tmp_path):
    f = write(tmp_path / "a.csv", numbers_csv(10))
    scan = scan_file(source(f))
    plan = scan.frame.explain()
    assert "csv" in plan.lower() and str(f) in plan


def test_r_style_na_markers_leave_numbers_numeric(tmp_path):
    f = write(tmp_path / "flights.csv",
              "dep_delay,arr_delay,carrier\n2,NA,UA\nNA,-3,AA\nN/A,4,NULL\n,5,null\n")
    df, _ = read(f)
    assert df.schema["dep_delay"] == pl.Int64 and df.schema["arr_delay"] == pl.Int64
    assert df["dep_delay"].to_list() == [2, None, None, None]
    assert df["carrier"].to_list() == ["UA", "AA", None, None]


def test_null_values_empty_list_turns_markers_off(tmp_path):
    f = write(tmp_path / "a.csv", "code,name\nNA,North America\n,empty\n")
    df, _ = read(f, null_values=[])
    assert df["code"].to_list() == ["NA", ""]


def test_custom_null_values(tmp_path):
    f = write(tmp_path / "a.csv", "x,y\n1,-\n-,2\n")
    df, _ = read(f, null_values=["-"])
    assert df.rows() == [(1, None), (None, 2)]


def test_delimiter_quote_header_skip_rows(tmp_path):
    f = write(tmp_path / "a.txt", "# exported 2024\n# by tool\nx|y\n1|'a|b'\n2|'c'\n")
    df, _ = read(f, delimiter="|", quote_char="'", skip_rows=2, format="csv")
    assert df.rows() == [(1, "a|b"), (2, "c")]
    g = write(tmp_path / "b.csv", "1,2\n3,4\n")
    df, _ = read(g, has_header=False)
    assert df.columns == ["column_1", "column_2"] and df.rows() == [(1, 2), (3, 4)]


def test_delimiter_sniffed_and_tsv(tmp_path):
    df, _ = read(write(tmp_path / "semi.csv", "a;b;c\n1;2,5;x\n3;4;y\n"))
    assert df.columns == ["a", "b", "c"] and df["b"].to_list() == ["2,5", "4"]
    df, _ = read(write(tmp_path / "t.tsv", "a\tb\n1\thello, world\n"))
    assert df.rows() == [(1, "hello, world")]
    df, _ = read(write(tmp_path / "t.dat", "a\tb\n1\t2\n"), format="tsv")
    assert df.rows() == [(1, 2)]


def test_schema_overrides(tmp_path):
    f = write(tmp_path / "a.csv",
              "id,price,day,at,flag,code\n1,10.25,2024-01-31,2024-01-31 10:00:00,TRUE,007\n"
              "2,NA,2024-02-01,2024-02-01 11:30:00,false,010\n")
    df, _ = read(f, schema_overrides={"id": "int32", "price": "decimal(10,2)", "day": "date",
                                      "at": "datetime", "flag": "bool", "code": "string"})
    assert df.schema == pl.Schema({"id": pl.Int32, "price": pl.Decimal(10, 2), "day": pl.Date,
                                   "at": pl.Datetime("us"), "flag": pl.Boolean,
                                   "code": pl.String})
    assert df["price"].to_list() == [Decimal("10.25"), None]
    assert df["code"].to_list() == ["007", "010"]


def test_a_declared_decimal_refuses_a_value_it_would_round(tmp_path):
    # Polars' reader rounds 1.005 to 1.00 as decimal(12,2); zeros past the scale lose nothing
    rows = "".join(f"{i},{i}.25\n" for i in range(200_000))
    ok = write(tmp_path / "ok.csv", "id,amount\n" + rows + "7,1.000\n8,-2.5\n")
    df, _ = read(ok, schema_overrides={"amount": "decimal(12,2)"})
    assert df["amount"].tail(2).to_list() == [Decimal("1.00"), Decimal("-2.50")]
    for late in ("-0.009", "3.125"):
        bad = write(tmp_path / "bad.csv", "id,amount\n" + rows + f"9,{late}\n")
        err = run_failing(bad, schema_overrides={"amount": "decimal(12,2)"})
        assert err.row == 200_001 and err.column == "amount"
        assert f"value '{late}' does not fit the declared type decimal" in err.message


def run_failing(path, **options):
    job = wb.submit(wb.Pipeline(source=wb.file(str(path), **options)), runner="local").wait(120)
    assert job.status == "failed"
    return job.error


def test_iso_dates_are_read_typed_with_a_note(tmp_path):
    f = write(tmp_path / "a.csv", "day,at,zoned,n\n2024-01-31,2024-01-31 10:00:00,2024-01-31T10:00Z,1\n"
                                  "2024-02-01,2024-02-01 11:30:15,2024-02-01T10:00Z,2\n")
    df, scan = read(f)
    assert df.schema["day"] == pl.Date and df.schema["at"] == pl.Datetime("us")
    assert df.schema["zoned"] == pl.String  # a zone suffix is not guessed at
    assert df["at"][1].isoformat() == "2024-02-01T11:30:15"
    assert any("'day' as date" in n for n in scan.notes)


def test_declared_string_keeps_an_iso_column_as_text(tmp_path):
    f = write(tmp_path / "a.csv", "day,n\n2024-01-31,1\n")
    df, _ = read(f, schema_overrides={"day": "string"})
    assert df.schema["day"] == pl.String


def test_utf8_bom_is_stripped_from_the_first_name(tmp_path):
    f = write(tmp_path / "a.csv", codecs.BOM_UTF8 + b"id,name\n1,x\n")
    df, _ = read(f)
    assert df.columns == ["id", "name"]


def test_utf16_with_bom_is_transcoded(tmp_path):
    for enc in ("utf-16", "utf-16-be"):
        data = "id;name\n1;Zoë\n2;Łódź\n".encode(enc)
        if enc == "utf-16-be":
            data = codecs.BOM_UTF16_BE + data
        f = write(tmp_path / f"{enc}.csv", data)
        df, scan = read(f)
        assert df.columns == ["id", "name"]
        assert df.rows() == [(1, "Zoë"), (2, "Łódź")]
        assert scan.inputs[0]["local_path"] != str(f)
        assert scan.inputs[0]["path"] == str(f) and len(scan.inputs[0]["sha256"]) == 64


def test_latin1_and_cp1252(tmp_path):
    f = write(tmp_path / "l.csv", "city,n\nMünchen,1\nSão Paulo,2\n".encode("latin-1"))
    df, _ = read(f, encoding="latin1")
    assert df["city"].to_list() == ["München", "São Paulo"]
    g = write(tmp_path / "w.csv", "price,note\n5,“quoted” – €\n".encode("cp1252"))
    df, _ = read(g, encoding="cp1252")
    assert df["note"].to_list() == ["“quoted” – €"]


def test_utf8_lossy_replaces_bad_bytes(tmp_path):
    f = write(tmp_path / "a.csv", b"a,b\n1,caf\xe9\n")
    df, _ = read(f, encoding="utf8-lossy")
    assert df["b"].to_list() == ["caf\ufffd"]


def test_header_only_gives_zero_rows_with_columns(tmp_path):
    df, _ = read(write(tmp_path / "a.csv", "id,name,amount\n"))
    assert df.height == 0 and df.columns == ["id", "name", "amount"]
    df, _ = read(write(tmp_path / "b.csv", "id,amount\n"), schema_overrides={"amount": "float64"})
    assert df.schema["amount"] == pl.Float64 and df.height == 0


def test_blank_lines_are_skipped(tmp_path):
    df, _ = read(write(tmp_path / "a.csv", "a,b\n1,2\n\n3,4\n\n\n"))
    assert df.rows() == [(1, 2), (3, 4)]


def test_a_record_of_empty_fields_or_null_markers_stays_a_row_of_nulls(tmp_path):
    # only a truly blank line is skipped; ``,,`` and ``NA,NULL`` are records of nulls
    df, _ = read(write(tmp_path / "a.csv", "a,b,c\n1,2,x\n,,\n\nNA,NULL,\n3,4,y\n"))
    assert df.rows() == [(1, 2, "x"), (None, None, None), (None, None, None), (3, 4, "y")]


def test_blank_lines_crlf_quoted_and_across_a_glob(tmp_path):
    write(tmp_path / "p1.csv", b'a,b\r\n1,"x\r\n\r\ny"\r\n\r\n,\r\n2,z\r\n')
    write(tmp_path / "p2.csv", b"a,b\n\n3,w\n")
    df, _ = read(str(tmp_path / "p*.csv"))
    assert df.rows() == [(1, "x\r\n\r\ny"), (None, None), (2, "z"), (3, "w")]


def test_crlf_and_quoted_newlines(tmp_path):
    f = write(tmp_path / "a.csv", b'id,text\r\n1,"two\r\nlines"\r\n2,plain\r\n')
    df, _ = read(f)
    assert df["text"].to_list() == ["two\r\nlines", "plain"]


def test_a_late_float_widens_an_int_column_with_a_note(tmp_path):
    body = numbers_csv(60_000)
    f = write(tmp_path / "a.csv", body + b"2.5,7\n")  # the tail window sees it
    df, scan = read(f)
    assert df.schema["a"] == pl.Float64 and df["a"][-1] == 2.5
    assert any("'a'" in n and "float64" in n for n in scan.notes)


def test_a_late_word_widens_to_string(tmp_path):
    body = numbers_csv(60_000)
    mid = len(body) // 2
    mid = body.index(b"\n", mid) + 1
    f = write(tmp_path / "a.csv", body[:mid] + b"n/a?,1\n" + body[mid:] + b"x,1\n")
    df, scan = read(f)
    assert df.schema["a"] == pl.String
    assert df.filter(pl.col("a") == "x").height == 1
    assert scan.notes


def test_columns_empty_at_first_are_typed_as_polars_types_the_first_rows(tmp_path):
    # Polars guesses from a few rows; the text of the first 10,000 rows types what it could not
    # see (an empty start is common in sparse exports): the result is Polars' own inference
    # over those rows, quoted numbers and leading zeros included
    lines = [b"id,late_int,late_float,late_bool,quoted,zip,never,late_text"]
    for i in range(3_000):
        lines.append(b",".join([
            str(i).encode(),
            str(i).encode() if i >= 500 else b"",
            b"1.5" if i >= 700 else b"",
            b"true" if i >= 200 else b"",
            b'"7"' if i >= 300 else b"",
            (b"0%d" % i if i == 2_500 else str(i).encode()) if i >= 600 else b"",
            b"",
            b"x" if i == 2_999 else (b"1" if i >= 150 else b""),
        ]))
    f = write(tmp_path / "sparse.csv", b"\n".join(lines) + b"\n")
    df, scan = read(f)
    polars_own = pl.read_csv(f, infer_schema_length=10_000).schema
    for name in ("late_int", "late_float", "late_bool", "quoted", "late_text"):
        assert df.schema[name] == polars_own[name], name
    assert dict(df.schema) == {"id": pl.Int64, "late_int": pl.Int64, "late_float": pl.Float64,
                               "late_bool": pl.Boolean, "quoted": pl.Int64, "zip": pl.String,
                               "never": pl.String, "late_text": pl.String}
    assert df["late_int"][500] == 500 and df["late_int"][499] is None
    assert df["zip"][2_500] == "02500"  # Polars alone would read 2500: the leading zero kept
    assert any("'zip'" in n and "leading zero" in n for n in scan.notes)


def test_an_integer_past_64_bits_further_on_widens_to_int128_exactly(tmp_path):
    big = 2 ** 64 + 11
    body = numbers_csv(60_000)
    f = write(tmp_path / "a.csv", body + str(big).encode() + b",7\n")  # the tail window sees it
    df, scan = read(f)
    assert df.schema["a"] == pl.Int128 and df["a"][-1] == big
    assert any("'a'" in n and "int128" in n for n in scan.notes)


def _unsampled_misfit(tmp_path, value: bytes, *, rows: int = 400_000, gap: int = 1):
    """A bad value between the sampled windows: found only when the pass runs."""
    from workbench.engines import read_common

    body = numbers_csv(rows)
    # SAMPLE_WINDOWS windows of WINDOW_BYTES are spread evenly past the head; this spot lies
    # halfway between windows ``gap`` and ``gap + 1``.
    step = (len(body) - read_common.HEAD_BYTES) / (read_common.SAMPLE_WINDOWS + 1)
    pos = body.index(b"\n", int(read_common.HEAD_BYTES + (gap + 0.5) * step)) + 1
    row = body[:pos].count(b"\n") - 1  # data rows before it (the header line is not data)
    return write(tmp_path / "late.csv", body[:pos] + value + b",1\n" + body[pos:]), row + 1


def test_unsampled_misfit_of_an_inferred_type_is_located_and_rescan_widens(tmp_path):
    f, row = _unsampled_misfit(tmp_path, b"oops")
    scan = scan_file(source(f))
    assert scan.notes == []  # the samples did not see it
    try:
        scan.frame.collect()
    except Exception as exc:
        err = scan.diagnose(exc)
        assert err is not None and (err.row, err.column, err.file) == (row, "a", str(f))
        assert "oops" in err.message and "inferred" in err.message
        wider = scan.rescan(exc)
    else:
        raise AssertionError("the pass was expected to fail on 'oops'")
    assert wider is not None
    df = wider.frame.collect()
    assert df.schema["a"] == pl.String and df.height == 400_001
    assert any("'a'" in n for n in wider.notes)
    assert wider.inputs == scan.inputs and wider.cleanup == scan.cleanup  # one set of temp files


@pytest.mark.parametrize("value, dtype", [
    (b"99999999999999999999", pl.Int128),  # past 64 bits: exact as Int128, as sampled ones are
    (b"-170141183460469231731687303715884105729", pl.String),  # past Int128: no float rounds it
])
def test_rescan_keeps_a_late_long_integer_exact(tmp_path, value, dtype):
    f, row = _unsampled_misfit(tmp_path, value)
    df = _widened(f).frame.collect()
    assert df.schema["a"] == dtype and str(df["a"][row - 1]) == value.decode()


def test_a_float_column_holding_an_integer_past_2_53_is_read_as_text(tmp_path):
    # Polars infers 12345678901234567 and 0.5 as float, which rounds the integer
    f = write(tmp_path / "mixed.csv", "id,v\n1,12345678901234567\n2,0.5\n3,\n")
    df, scan = read(f)
    assert df["v"].to_list() == ["12345678901234567", "0.5", None]
    assert any("past 2**53" in n for n in scan.notes)
    g = write(tmp_path / "floats.csv", "id,v\n1,1234567890123456.5\n2,0.5\n")
    assert read(g)[0].schema["v"] == pl.Float64  # a long float is a float: nothing to keep


def _widened(path):
    """The rescan after the pass over ``path`` failed on a value past the samples."""
    scan = scan_file(source(path))
    try:
        scan.frame.collect()
    except Exception as exc:
        wider = scan.rescan(exc)
    else:
        raise AssertionError("the pass was expected to fail on the late value")
    assert wider is not None
    return wider


def test_rescan_widens_int_to_float_when_that_is_enough(tmp_path):
    f, _ = _unsampled_misfit(tmp_path, b"1.5")
    assert _widened(f).frame.collect_schema()["a"] == pl.Float64


def test_diagnose_works_from_another_thread(tmp_path):
    f, row = _unsampled_misfit(tmp_path, b"oops")
    scan = scan_file(source(f))
    box: dict = {}

    def run() -> None:
        try:
            scan.frame.collect()
        except Exception as exc:
            box["exc"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join()
    out: dict = {}
    t2 = threading.Thread(target=lambda: out.setdefault("err", scan.diagnose(box["exc"])))
    t2.start()
    t2.join()
    assert out["err"].row == row and out["err"].column == "a"


def test_glob_of_three_files_is_one_source(tmp_path):
    for i in range(3):
        write(tmp_path / "orders" / f"part-{i}.csv", f"id,amount\n{i},{i * 1.5}\n{i + 10},NA\n")
    df, scan = read(tmp_path / "orders" / "*.csv")
    assert df.height == 6 and df.schema["amount"] == pl.Float64
    assert [i["path"] for i in scan.inputs] == [str(tmp_path / "orders" / f"part-{i}.csv")
                                                for i in range(3)]
    assert scan.bytes_total == sum(i["size"] for i in scan.inputs)


def test_glob_widens_from_a_later_file(tmp_path):
    write(tmp_path / "d" / "a.csv", "id,v\n1,2\n")
    write(tmp_path / "d" / "b.csv", "id,v\n2,x\n")
    df, scan = read(tmp_path / "d" / "*.csv")
    assert df.schema["v"] == pl.String and sorted(df["v"].to_list()) == ["2", "x"]


def test_glob_heads_widen_together_and_name_the_file(tmp_path):
    """The heads of the files past the first are checked at once: each widening names the
    file its example came from, a leading zero anywhere keeps a column text, and a float in one
    file and text in another give text."""
    write(tmp_path / "g" / "a.csv", "id,v,zip,n\n1,2,2134,5\n")
    write(tmp_path / "g" / "b.csv", "id,v,zip,n\n2,3,2135,6.5\n")
    write(tmp_path / "g" / "c.csv", "id,v,zip,n\n3,x,02136,7\n")
    write(tmp_path / "g" / "d.csv", "id,v,zip,n\n4,5,2137,8\n")
    df, scan = read(tmp_path / "g" / "*.csv")
    assert dict(df.schema) == {"id": pl.Int64, "v": pl.String, "zip": pl.String, "n": pl.Float64}
    assert df.sort("id")["zip"].to_list() == ["2134", "2135", "02136", "2137"]
    assert "column 'v': 'x' further into c.csv is not int64; read as string" in scan.notes
    assert any("'02136' in c.csv has a leading zero" in n for n in scan.notes)
    assert any(n.startswith("column 'n': '6.5' further into b.csv") for n in scan.notes)


def test_folder_reads_its_files(tmp_path):
    write(tmp_path / "d" / "a.csv", "id\n1\n")
    write(tmp_path / "d" / "b.csv", "id\n2\n")
    df, _ = read(tmp_path / "d")
    assert sorted(df["id"].to_list()) == [1, 2]


def test_missing_file_and_empty_glob(tmp_path):
    err = fails(tmp_path / "nope.csv")
    assert err.file == str(tmp_path / "nope.csv") and "no such file" in err.message
    err = fails(tmp_path / "none" / "*.csv")
    assert err.file == str(tmp_path / "none" / "*.csv") and "no files match" in err.message


def test_a_null_marker_first_met_past_the_samples(tmp_path):
    from workbench.engines.read_csv import MARKER_HEAD_BYTES

    # markers are looked for in the first MARKER_HEAD_BYTES and in the windows: go past both
    f, row = _unsampled_misfit(tmp_path, b"NULL", rows=1_000_000, gap=8)
    assert f.read_bytes().index(b"NULL") > MARKER_HEAD_BYTES
    scan = scan_file(source(f))
    try:
        scan.frame.collect()
    except Exception as exc:
        err = scan.diagnose(exc)
        assert err is not None and (err.row, err.column) == (row, "a")
        assert "'NULL'" in err.message and "marker" in err.message
        again = scan.rescan(exc)
    else:
        raise AssertionError("the pass was expected to fail on the unsampled marker")
    assert again is not None
    df = again.frame.collect()
    assert df.schema["a"] == pl.Int64 and df["a"].null_count() == 1  # a null, not a widening
    assert any("NULL" in n for n in again.notes)


def test_markers_listed_by_the_user_are_all_applied(tmp_path):
    f, row = _unsampled_misfit(tmp_path, b"NULL")
    df, _ = read(f, null_values=["NULL"])
    assert df.schema["a"] == pl.Int64 and df["a"][row - 1] is None


def test_utf16_without_bom_is_recognised(tmp_path):
    f = write(tmp_path / "a.csv", "id,name\n1,Ana\n2,Bo\n".encode("utf-16-le"))
    df, _ = read(f)
    assert df.rows() == [(1, "Ana"), (2, "Bo")]
    df, _ = read(f, encoding="utf16")
    assert df.columns == ["id", "name"]


def test_bom_before_a_quoted_header(tmp_path):
    f = write(tmp_path / "a.csv", codecs.BOM_UTF8 + b'"id","a,b"\n1,"x,y"\n')
    df, _ = read(f)
    assert df.columns == ["id", "a,b"] and df.rows() == [(1, "x,y")]


def test_glob_with_skip_rows_applies_to_every_file(tmp_path):
    write(tmp_path / "d" / "1.csv", "# export 1\na,b\n1,2\n")
    write(tmp_path / "d" / "2.csv", "# export 2\na,b\n3,4\n")
    df, _ = read(tmp_path / "d" / "*.csv", skip_rows=1)
    assert df.rows() == [(1, 2), (3, 4)]


def test_a_trailing_delimiter_on_every_line_is_dropped_with_a_note(tmp_path):
    f = write(tmp_path / "a.csv", "a,b,c,\r\n1,2,3,\r\n4,NA,6,\r\n")
    df, scan = read(f)
    assert df.columns == ["a", "b", "c"] and df["b"].to_list() == [2, None]
    assert any("ends with the delimiter" in n for n in scan.notes)


def test_an_unnamed_last_column_with_data_is_still_an_error(tmp_path):
    err = fails(write(tmp_path / "a.csv", "a,b,\n1,2,x\n"))
    assert "empty name" in err.message and err.column == "#3"


def test_a_blank_line_cut_by_the_search_chunk_is_still_found(tmp_path, monkeypatch):
    from workbench.engines import read_csv_blank

    monkeypatch.setattr(read_csv_blank, "CHUNK", 4)  # "a,b\n" | "1,2\n" | "\n3,4" ...
    df, _ = read(write(tmp_path / "a.csv", "a,b\n1,2\n\n3,4\n"))
    assert df.rows() == [(1, 2), (3, 4)]
    df, _ = read(write(tmp_path / "b.csv", "a,b\r\n1,2\r\n\r\n3,4\r\n"))
    assert df.rows() == [(1, 2), (3, 4)]


def _first_rows_as_in_a_whole_read(tmp_path, monkeypatch, body: str,
                                    prefix: int | tuple[int, ...]):
    """The type check's first rows of a large file come from its first bytes (a read of the
    whole file maps far past them): the file's types and notes must be the ones a read of the
    whole file gives."""
    from workbench.engines import read_csv_sample

    f = write(tmp_path / "big.csv", body)
    whole = read(f)
    sizes = prefix if isinstance(prefix, tuple) else (prefix,)
    monkeypatch.setattr(read_csv_sample, "_prefix_sizes", lambda plan, inp: sizes)
    taken: list = []
    real = pl.read_csv
    monkeypatch.setattr(read_csv_sample.pl, "read_csv",
                        lambda data, **kw: taken.append(kw.get("n_rows")) or real(data, **kw))
    cut = read(f)
    assert cut[0].schema == whole[0].schema and cut[0].equals(whole[0])
    assert cut[1].notes == whole[1].notes
    return whole, taken


def test_a_large_files_first_rows_come_from_its_first_bytes(tmp_path, monkeypatch):
    from workbench.engines.read_common import INFER_ROWS

    # a leading zero in the last of the rows the check reads, a float just after them
    rows = [f"{'0' if i == INFER_ROWS - 1 else ''}{10_000 + i},{i + 0.5 if i == INFER_ROWS else i}"
            for i in range(30_000)]
    (df, _), taken = _first_rows_as_in_a_whole_read(
        tmp_path, monkeypatch, "zip,n\n" + "\n".join(rows) + "\n", prefix=200_000)
    assert INFER_ROWS + 1 in taken  # the prefix was read, one row past the rows wanted
    assert df.schema["zip"] == pl.String and df["zip"][INFER_ROWS - 1] == "019999"
    assert df.schema["n"] == pl.Float64 and df.height == 30_000


def test_a_prefix_that_cuts_a_quoted_value_open_falls_back_to_the_whole_file(tmp_path, monkeypatch):
    from workbench.engines.read_common import INFER_ROWS

    # every record spans three lines: the prefix holds enough lines, but fewer records than
    # wanted, the last of them cut open
    body = "a,b\n" + "".join(f'{i},"x{i}\ny\nz"\n' for i in range(3 * INFER_ROWS))
    prefix = 90_000
    assert body.encode()[:prefix].count(b"\n") > INFER_ROWS + 2
    (df, _), taken = _first_rows_as_in_a_whole_read(tmp_path, monkeypatch, body, prefix=prefix)
    assert INFER_ROWS + 1 in taken  # tried, found short, and the whole file read instead
    assert df.height == 3 * INFER_ROWS and df["b"][5] == "x5\ny\nz"


def test_a_prefix_too_short_for_the_rows_gives_way_to_a_longer_one(tmp_path, monkeypatch):
    from workbench.engines.read_common import INFER_ROWS

    # the first prefix holds a few hundred rows, the second all the rows wanted and more
    rows = [f"{i},{'0' if i == INFER_ROWS - 1 else ''}{i + 7}" for i in range(3 * INFER_ROWS)]
    body = "a,b\n" + "\n".join(rows) + "\n"
    assert body.encode()[:2_000].count(b"\n") < INFER_ROWS
    (df, _), taken = _first_rows_as_in_a_whole_read(tmp_path, monkeypatch, body,
                                                    prefix=(2_000, 200_000))
    assert taken.count(INFER_ROWS + 1) == 1  # only the longer prefix was parsed
    assert df.schema["b"] == pl.String and df["b"][INFER_ROWS - 1] == f"0{INFER_ROWS + 6}"


def test_the_first_prefix_tried_is_sized_from_the_heads_lines(tmp_path, monkeypatch):
    from workbench.engines import read_csv_sample
    from workbench.engines.read_common import INFER_ROWS, Input
    from workbench.engines.read_csv_plan import MARKER_HEAD_BYTES

    rows = [f"{i},{i * 3}" for i in range(20 * INFER_ROWS)]
    f = write(tmp_path / "long.csv", "a,b\n" + "\n".join(rows) + "\n")
    whole = pl.read_csv(f)
    asked: list[int] = []
    real = Input.read_at
    monkeypatch.setattr(Input, "read_at", lambda self, off, n: asked.append(n) or real(self, off, n))
    df, _ = read(f)
    assert df.equals(whole)
    tried = [n for n in asked if n > 64 * 1024 and n != MARKER_HEAD_BYTES]  # markers: 4 MiB
    # one prefix, large enough for the rows wanted (~14 bytes each) and far from 8 MiB
    assert len(tried) == 1 and INFER_ROWS * 14 < tried[0] < read_csv_sample.HEAD_ROWS_BYTES // 8
