"""Every record of a CSV has the header's field count, wherever it is in the file.

Polars reads a record with too few fields as if the missing ones were empty: without the count
of the whole file (read_csv_blank), a short row past the sampled bytes was read with its values
moved one column left, or a null in its last column, and the job succeeded.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from test_readers_helpers import fails, fixed_width_csv, read, unsampled_rows

import workbench as wb
from workbench.engines import read_csv_blank
from workbench.engines.read_csv_blank import LineCounts, count_lines
from workbench.errors import SourceError

def write_text(path, text: str):
    path.write_text(text)
    return path


ROWS = 60_000  # 6 MB of 100-byte lines: rows past the marker head and between the windows


def _records(bad: dict[int, str] | None = None, *, quoted: bool = False) -> list[str]:
    out = []
    for i in range(ROWS):
        comment = f'"say ""hi"", {i}\nnext line"' if quoted and i % 7 == 0 else f"c{i}"
        out.append((bad or {}).get(i, f"{i},{i * 3},2024-01-{i % 28 + 1:02d},{comment},"))
    return out


@pytest.mark.parametrize("line, found", [
    ("{i},2024-01-01,c{i},", 4),          # a middle field lost: the rest would move left
    ("{i},{n},2024-01-01,", 4),           # the last fields lost: nulls
    ("{i},{n},2024-01-01,c{i},extra,", 6),  # one field too many
])
def test_a_record_of_another_field_count_past_the_samples_fails_with_its_line(tmp_path, line, found):
    row = unsampled_rows(ROWS, 1)[0]
    bad = {row: line.format(i=row, n=row * 3)}
    f = fixed_width_csv(tmp_path / "events.csv", "id,n,day,comment,pad", _records(bad))
    err = fails(f)
    assert isinstance(err, SourceError)
    assert f"row has {found} fields but the header has 5 (line {row + 2})" in err.message
    assert err.row == row + 1 and err.file == f


def test_quoted_delimiters_line_breaks_and_escaped_quotes_are_one_field(tmp_path):
    f = fixed_width_csv(tmp_path / "quoted.csv", "id,n,day,comment,pad", _records(quoted=True))
    df, _ = read(f)
    assert df.height == ROWS
    assert df["comment"][7] == 'say "hi", 7\nnext line' and df["comment"][8] == "c8"


def test_a_short_record_among_quoted_values_is_found_too(tmp_path):
    row = unsampled_rows(ROWS, 1)[0]
    bad = {row: f'{row},"a, b",2024-01-01,'}
    f = fixed_width_csv(tmp_path / "quoted.csv", "id,n,day,comment,pad", _records(bad, quoted=True))
    err = fails(f)
    assert "row has 4 fields but the header has 5" in err.message and err.row == row + 1


def test_blank_lines_are_dropped_and_a_short_record_among_them_is_found(tmp_path):
    body = "".join(f"{i},{i * 2},x\n" + ("\n" if i % 1000 == 0 else "") for i in range(50_000))
    ok = tmp_path / "blank.csv"
    ok.write_text("a,b,c\n" + body)
    df, _ = read(ok)
    assert df.height == 50_000 and df["a"].null_count() == 0
    bad = tmp_path / "blank_short.csv"
    bad.write_text("a,b,c\n" + body.replace("43210,86420,x\n", "43210,x\n"))
    err = fails(bad)
    assert "row has 2 fields but the header has 3" in err.message


def test_crlf_a_last_line_without_its_end_and_a_trailing_delimiter(tmp_path):
    lines = [f"{i},{i * 2}," for i in range(200_000)]
    ok = tmp_path / "crlf.csv"
    ok.write_bytes(("a,b,\r\n" + "\r\n".join(lines)).encode())  # no line end after the last
    df, _ = read(ok)
    assert df.columns == ["a", "b"] and df.height == 200_000
    short = tmp_path / "crlf_short.csv"
    short.write_bytes(("a,b,\r\n" + "\r\n".join(lines[:-1] + ["199999,"])).encode())
    err = fails(short)
    assert "row has 2 fields but the header has 3" in err.message and err.row == 200_000


def test_a_quote_inside_an_unquoted_value_names_the_file_and_the_way_out(tmp_path):
    body = "".join(f'{i},27" screen {i},ok\n' for i in range(100_000))
    f = tmp_path / "inches.csv"
    f.write_text("id,item,state\n" + body)
    err = run_failing(f)
    assert isinstance(err, SourceError) and err.file == str(f)
    assert "could not be split into records" in err.message and "quote_char=''" in err.hint
    df, _ = read(f, quote_char="")
    assert df.height == 100_000 and df["item"][5] == '27" screen 5'


@pytest.mark.parametrize("bad, line, what", [
    ('100,"never closed', 102, "unexpected end of data"),
    ('100,"ab"c', 102, "',' expected after '\"'"),
])
def test_a_quote_polars_cannot_read_is_located(tmp_path, bad, line, what):
    f = tmp_path / "bad.csv"
    f.write_text("id,s\n" + "".join(f"{i},ok\n" for i in range(100)) + bad + "\n101,x\n")
    err = run_failing(f)
    assert isinstance(err, SourceError) and err.file == str(f) and err.row == 101
    assert f"the record that starts on line {line} is not valid CSV: {what}" in err.message


def run_failing(path) -> SourceError:
    """The error a local job reading ``path`` ends with."""
    job = wb.submit(wb.Pipeline(source=wb.file(str(path))), runner="local").wait(120)
    assert job.status == "failed"
    return job.error


def test_skipped_rows_and_a_file_without_header(tmp_path):
    f = tmp_path / "skip.csv"
    f.write_text("exported by a tool, with, commas\nid,v\n" +
                 "".join(f"{i},{i}\n" for i in range(100_000)))
    df, _ = read(f, skip_rows=1)
    assert df.height == 100_000
    g = tmp_path / "noheader.csv"
    g.write_text("".join(f"{i},{i}\n" if i != 70_000 else "70000\n" for i in range(100_000)))
    err = fails(g, has_header=False)
    assert "row has 1 field but the header has 2" in err.message and err.row == 70_001


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_the_counts_do_not_depend_on_where_the_stretches_are_cut(chunk):
    data = (b'a,b\n1,"x,\n""y"""\n\n2,3\r\n4,"5"\n"6,7",8')
    whole = count_lines(np.frombuffer(data, np.uint8), ord(","), ord('"'))
    parts = LineCounts()
    for at in range(0, len(data), chunk):
        count_lines(np.frombuffer(data[at:at + chunk], np.uint8), ord(","), ord('"'), parts)
    assert whole.blank and parts.blank  # the empty line after the quoted value
    for field in ("delimiters", "line_ends", "last_line_end", "inside", "size", "last_byte"):
        assert getattr(parts, field) == getattr(whole, field), field
    assert (whole.delimiters, whole.line_ends, whole.last_line_end) == (5, 5, 28)


def test_a_quoted_line_break_is_no_blank_line(monkeypatch, tmp_path):
    monkeypatch.setattr(read_csv_blank, "CHUNK", 5)  # tasks of 5 bytes, counted 3 at a time
    monkeypatch.setattr(read_csv_blank, "PIECE", 3)
    f = tmp_path / "q.csv"
    f.write_text('a,b\n1,"x\n\ny"\n2,z\n')
    df, _ = read(f)
    assert df.rows() == [(1, "x\n\ny"), (2, "z")]
    assert df.schema == pl.Schema({"a": pl.Int64, "b": pl.String})


def test_a_refused_file_leaves_no_piece_queued(tmp_path, monkeypatch):
    # a short record in the head fails the plan at once: the pieces of the rest of the file,
    # queued on the reader's threads, are cancelled, not counted for nobody
    import threading

    from workbench.engines import readers

    queued = []

    def spy(inp, opts):
        read_csv_blank.start_blank_search(inp, opts)
        queued.extend(inp.extra.get("blank_search") or [])

    monkeypatch.setattr(readers, "start_blank_search", spy)
    f = write_text(tmp_path / "big.csv", "a,b\n1\n" + "".join(f"{i},{i}\n" for i in range(2_000_000)))
    gate = threading.Event()
    pool = read_csv_blank.searcher()
    busy = [pool.submit(gate.wait) for _ in range(2)]  # both threads taken: the pieces wait
    try:
        err = fails(f)
    finally:
        gate.set()
        for b in busy:
            b.result(timeout=10)
    assert "row has 1 field but the header has 2" in err.message
    assert len(queued) >= 2 and all(p.cancelled() for p in queued)
