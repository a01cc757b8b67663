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
import functools
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .read_common import Input
from .read_csv_check import CsvOptions

CHUNK = 8 * 1024 * 1024
NL, CR = ord("\n"), ord("\r")


def may_hold_blank_lines(inp: Input) -> bool:
    """An empty line somewhere in the file (maybe inside a quoted value: ``blank_rows`` decides).

    A line end followed by another (``\n\n``, ``\n\r\n``): numpy marks every ``\n`` and
    looks at the byte after it, in a buffer read into in place (1 GB: 0.6 s against 0.9 s with a
    gather of the bytes after each line end, and 2.5 s for ``bytes.find`` of the two patterns)."""
    assert inp.target is not None
    buf = np.empty(CHUNK + 1, np.uint8)  # [0]: the last byte of the chunk before
    view = memoryview(buf)
    start = 1
    with open(inp.target, "rb", buffering=0) as f:
        while n := f.readinto(view[1:]):
            a = buf[start:n + 1]
            nl = a == NL
            if (nl[:-1] & (nl[1:] | (a[1:] == CR))).any():
                return True
            buf[0] = buf[n]  # a line end cut by the chunk boundary
            start = 0
    return False


def start_blank_search(inp: Input) -> None:
    """Begin ``may_hold_blank_lines`` on a thread now (numpy leaves the interpreter free while
    it compares), so that it overlaps the field-size check and the sampling that come first;
    ``blank_rows`` takes its answer."""
    inp.extra["blank_search"] = _searcher().submit(may_hold_blank_lines, inp)


@functools.lru_cache(maxsize=1)
def _searcher() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="wb-blank-lines")


def blank_rows(inp: Input, opts: CsvOptions) -> list[int]:
    """The 0-based data rows (as Polars numbers them) that are blank lines."""
    search = inp.extra.pop("blank_search", None)
    if not (search.result() if search is not None else may_hold_blank_lines(inp)):
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
