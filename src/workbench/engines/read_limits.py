"""Hostile sizes refused while (or before) they are read, each limit a setting its error names.

``Limits`` (in ``read_common``) holds the numbers; this module holds the checks that need to look
at bytes: the longest field of a text file (a 1 GB CSV field must not reach Polars, which would
take 13 GB to hold it and then abort), the cell references of an xlsx sheet (a cell at row
1,000,000,000 makes calamine allocate the whole grid) and the nesting of a JSON line. (The free
space left on a disk being written is ``storage.disk.check_free_space``, shared with local
storage.)
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np

from ..errors import SourceError
from .read_common import Input, Limits, count_lines_before

EXCEL_ROWS = 1_048_576
EXCEL_COLS = 16_384  # XFD
_SCAN_CHUNK = 8 * 1024 * 1024


def check_line_lengths(inp: Input, limits: Limits, *, what: str = "a record") -> None:
    """Refuse a text file with a line longer than ``max_field_bytes`` (NDJSON: a line is one
    record, so no value in it is longer), in one pass at memchr speed."""
    check_field_sizes(inp, limits, separators=b"", quote=None, what=what)


def check_field_sizes(inp: Input, limits: Limits, *, separators: bytes, quote: bytes | None,
                      what: str = "a field", upto: int | None = None) -> None:
    """Refuse a delimited text file with a field longer than ``max_field_bytes``, before any
    reader holds it: one pass in chunks no larger than the limit, memory bounded by the chunk.

    A field ends at a newline or at one of ``separators`` (the delimiter), and a quote character
    is taken as an end too, so a stretch longer than the limit with none of them in it is
    surely one field, quoted or not. Inside quotes a field may hold delimiters and newlines: the
    quote count's parity says when the file is inside quotes, and a quoted stretch longer than
    the limit with no quote character in it is refused as well. (A quoted field that hides an
    escaped quote at least every ``max_field_bytes`` is not seen; the line-free stretch check
    still bounds a field without line breaks.)

    ``upto``: only the first that many bytes are read by Polars (``Input.head_source``).
    ``quote``: one byte (the file source's spec allows no other).
    """
    assert inp.target is not None
    limit = limits.max_field_bytes
    if min(Path(inp.target).stat().st_size, upto or float("inf")) <= limit:
        return
    # each end found with find/rfind (memchr): a chunk of ordinary data answers at its edges
    ends = [b"\n"] + [bytes([c]) for c in sorted(set(separators + (quote or b"")) - {10})]
    buf = bytearray(max(1, min(_SCAN_CHUNK, limit)))
    view = memoryview(buf)
    last_end = -1  # offset of the last field end seen
    last_quote, inside = -1, False
    pos = 0
    with open(inp.target, "rb") as f:
        while (upto is None or pos < upto) and (n := f.readinto(view)):
            firsts = [i for i in (buf.find(e, 0, n) for e in ends) if i >= 0]
            if not firsts:
                if pos + n - last_end - 1 > limit:
                    _too_long(inp, last_end + 1, limit, what)
            else:
                if pos + min(firsts) - last_end - 1 > limit:
                    _too_long(inp, last_end + 1, limit, what)
                last_end = pos + max(buf.rfind(e, 0, n) for e in ends)
            if quote:
                # numpy compares 64 bytes at a time: 0.07 s per GB, where bytearray.count, a
                # byte at a time, took 0.35 s of a 1 GB ingest's 0.75 s of planning
                count = int(np.count_nonzero(np.frombuffer(buf, np.uint8, n) == quote[0]))
                if count:
                    last_quote = pos + buf.rfind(quote, 0, n)
                    inside ^= bool(count & 1)
                elif inside and pos + n - last_quote - 1 > limit:
                    _too_long(inp, last_quote, limit, what)
            pos += n


def _too_long(inp: Input, start: int, limit: int, what: str) -> None:
    line = count_lines_before(inp.target or inp.path, start) + 1
    raise SourceError(
        f"{what} on line {line} (from byte {start:,}) is longer than {limit:,} bytes, the limit",
        file=inp.path, row=line - 1 if what == "a field" else line,
        hint="if the data is genuine, raise WORKBENCH_MAX_FIELD_BYTES; a file with no line breaks "
             "or delimiters is often not a CSV (check format= and the delimiter), and an "
             "unclosed quote runs to the end of the file")


def check_columns(inp: Input, count: int, limits: Limits) -> None:
    if count > limits.max_columns:
        raise SourceError(
            f"the file has {count:,} columns, more than the limit of {limits.max_columns:,}",
            file=inp.path, row=0,
            hint="select the columns you need upstream, or raise WORKBENCH_MAX_COLUMNS; a "
                 "wrong delimiter= also makes many columns")


# ----------------------------------------------------------------------------- xlsx
_REF = re.compile(rb'<(?:c|row)\b[^>]*?\br="([A-Z]{0,4})(\d{1,15})"')
_DIM = re.compile(rb'<dimension\b[^>]*?\bref="([A-Z]{1,4})(\d{1,15})(?::([A-Z]{1,4})(\d{1,15}))?"')


def _col_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n


def check_xlsx_grid(inp: Input) -> None:
    """Refuse cell references and dimension tags past Excel's own grid (1,048,576 rows by
    16,384 columns) before any reader allocates it; streams each sheet's XML."""
    assert inp.target is not None
    try:
        zf = zipfile.ZipFile(inp.target)
    except zipfile.BadZipFile:
        return  # reported by the reader with its own message
    with zf:
        for info in zf.infolist():
            if not (info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")):
                continue
            sheet = info.filename.rsplit("/", 1)[-1]
            tail = b""
            with zf.open(info) as stream:
                while chunk := stream.read(1024 * 1024):
                    data = tail + chunk
                    for regex in (_DIM, _REF):
                        for m in regex.finditer(data):
                            groups = m.groups()
                            for letters, digits in zip(groups[::2], groups[1::2]):
                                if digits is None:
                                    continue
                                row, col = int(digits), _col_number(letters or b"A")
                                if row > EXCEL_ROWS or col > EXCEL_COLS:
                                    ref = (f"cell {letters.decode()}{digits.decode()}" if letters
                                           else f"row {digits.decode()}")
                                    raise SourceError(
                                        f"{sheet} refers to {ref}, beyond Excel's grid of "
                                        f"{EXCEL_ROWS:,} rows by {EXCEL_COLS:,} columns",
                                        file=inp.path,
                                        hint="the workbook is damaged or crafted; re-save it in "
                                             "Excel, or export the sheet as CSV")
                    tail = data[-64:]  # a reference cut by the chunk boundary


# ----------------------------------------------------------------------------- JSON depth
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth_exceeded(raw: bytes, limit: int) -> int | None:
    """The nesting depth of one JSON text if it passes ``limit``, else None (no recursion)."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for ch in brackets:
        depth += 1 if ch in (91, 123) else -1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
    return None


def dtype_depth(dtype: object) -> int:
    """How deep a Polars type nests (a list of lists of int: 2), without recursion."""
    depth, level = 0, [dtype]
    while level:
        depth += 1
        nxt: list = []
        for t in level:
            inner = getattr(t, "inner", None)
            if inner is not None:
                nxt.append(inner)
            nxt.extend(f.dtype for f in getattr(t, "fields", None) or [])
        level = nxt
    return depth - 1


def depth_error(inp: Input, line: int | None, limit: int) -> SourceError:
    where = f"line {line}" if line else "the document"
    return SourceError(f"{where} nests JSON deeper than {limit} levels, the limit",
                       file=inp.path, row=line,
                       hint="flatten the data, or raise WORKBENCH_MAX_JSON_DEPTH")
