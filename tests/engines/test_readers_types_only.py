"""``scan_file(types_only=True)``: a fan-out's plan reads the column types of every file, not
every byte. It gives the types a full read gives, and what it parses stays bounded: it skips
the search for over-long fields past the first ``PLAN_PREFIX_BYTES`` of a file, so it parses
nothing past them either (each part runs the full check on its own file)."""

from __future__ import annotations

import polars as pl
import pytest

from workbench.engines.read_common import PLAN_PREFIX_BYTES, Limits
from workbench.engines.readers import scan_file
from workbench.errors import SourceError
from workbench.spec.models import FileSource


def _rows(start: int, n: int) -> str:
    return "".join(f"{i},{i * 0.5},name {i % 7},2026-01-{1 + i % 28:02d}\n" for i in range(start, start + n))


def test_types_only_gives_the_full_reads_types(tmp_path):
    folder = tmp_path / "g"
    folder.mkdir()
    header = "id,x,name,day\n"
    (folder / "a.csv").write_text(header + _rows(0, 50_000))
    (folder / "b.csv").write_text(header + _rows(0, 100) + "101,oops,n,2026-01-01\n\n" + _rows(200, 10))
    src = FileSource(path=str(folder / "*.csv"))
    full = scan_file(src)
    fast = scan_file(src, types_only=True)
    try:
        assert fast.frame.collect_schema() == full.frame.collect_schema()
        assert dict(full.frame.collect_schema())["x"] == pl.String  # widened by b.csv
        assert fast.notes == full.notes
    finally:
        full.cleanup()
        fast.cleanup()


def test_an_over_long_field_within_the_prefix_is_refused(tmp_path):
    f = tmp_path / "long.csv"
    f.write_text("id,text\n1,short\n2," + "y" * 3_000_000 + "\n3,z\n")
    limits = Limits(max_field_bytes=1_000_000)
    for types_only in (False, True):
        with pytest.raises(SourceError, match="longer than 1,000,000 bytes"):
            scan_file(FileSource(path=str(f)), limits=limits, types_only=types_only)


def test_nothing_past_the_prefix_is_parsed(tmp_path):
    """A field past the prefix is the part's to refuse; the types-only read never parses it
    (so it cannot hold it), and still types the columns from the rows before it."""
    f = tmp_path / "late.csv"
    body = "id,text\n" + "".join(f"{i},t{i}\n" for i in range(1_000_000))
    assert len(body) > PLAN_PREFIX_BYTES
    f.write_text(body + "x," + "y" * 3_000_000 + "\n")
    limits = Limits(max_field_bytes=1_000_000)
    with pytest.raises(SourceError, match="longer than 1,000,000 bytes"):
        scan_file(FileSource(path=str(f)), limits=limits)
    scan = scan_file(FileSource(path=str(f)), limits=limits, types_only=True)
    try:
        assert dict(scan.frame.collect_schema()) == {"id": pl.Int64, "text": pl.String}
    finally:
        scan.cleanup()
