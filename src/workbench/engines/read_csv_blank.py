"""Blank lines in a CSV: found on the bytes, dropped by row number.

Polars reads a blank line of a multi-column CSV as a row of nulls, exactly like a record whose
fields are all empty or null markers (``,,`` or ``NA,NULL``). Only the blank line may go (a record
of nulls is data). A row filter over every column would tell neither apart and, worse, makes
Polars' plan cost grow with the square of the column count (a 1,000-column file spent seconds
planning it), so the reader looks at the bytes instead: one C-speed search for an empty line per
file, and only when there is one, an exact record pass (quote-aware) that lists the data rows
the blank lines stand at. The scan then drops those rows by their index: a cost per row
dropped, none per column.
"""

from __future__ import annotations

import csv
import mmap

from .read_common import Input
from .read_csv_check import CsvOptions


def may_hold_blank_lines(inp: Input) -> bool:
    """An empty line somewhere in the file (maybe inside a quoted value: ``blank_rows`` decides)."""
    assert inp.target is not None
    if inp.target_size == 0:
        return False
    with open(inp.target, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        return mm.find(b"\n\n") >= 0 or mm.find(b"\n\r\n") >= 0 or mm.find(b"\r\r") >= 0


def blank_rows(inp: Input, opts: CsvOptions) -> list[int]:
    """The 0-based data rows (as Polars numbers them) that are blank lines."""
    if not may_hold_blank_lines(inp):
        return []
    assert inp.target is not None
    out: list[int] = []
    with open(inp.target, encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f, **opts.dialect)
        for _ in range(opts.skip_rows):
            next(reader, None)
        first = next(reader, None)
        while first == []:  # blank lines before the header: Polars skips them too
            first = next(reader, None)
        row = 0
        if not opts.has_header and first is not None:
            row = 1
        for rec in reader:
            if not rec:
                out.append(row)
            row += 1
    return out
