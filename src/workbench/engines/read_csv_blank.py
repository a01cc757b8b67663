"""Blank lines and short or long records in a CSV: found on the bytes, in one read of the file.

Blank lines. Polars reads a blank line of a multi-column CSV as a row of nulls, exactly like a
record whose fields are all empty or null markers (``,,`` or ``NA,NULL``). Only the blank line may
go (a record of nulls is data). A row filter over every column would tell neither apart and,
worse, makes Polars' plan cost grow with the square of the column count (a 1,000-column file spent
seconds planning it), so the reader looks at the bytes instead, and only when a blank line may be
there, an exact record pass (quote-aware) lists the data rows the blank lines stand at. The scan
then drops those rows by their index: a cost per row dropped, none per column.

Field counts. Polars reads a record with too few fields as if the missing ones were empty: a row
that lost a delimiter in the middle moves each later value of that row one column to the left,
one that lost its last field gets a null, and neither fails the pass. The head and the sampled
windows are checked record by record (``check_records``); the same read of the bytes counts the
rest of the file: the delimiters outside quoted values must number the header's fields less one
for each record. Only when they do not does the exact record pass run, to name the first record
that differs (its line and row) before any row is read. A quote inside an unquoted value
(``27" screen``) upsets the count of what is quoted: the exact pass then finds every record
whole, and it is Polars that cannot split the file (``CsvPlan`` names it, with quote_char='').
The exact pass is strict about quotes as Polars is: a quote never closed, or text after a
closing quote, is named with its line.
"""

from __future__ import annotations

import csv
import functools
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..errors import SourceError
from .read_common import Input
from .read_csv_check import CsvOptions, ragged_error

CHUNK = 8 * 1024 * 1024  # read at once, by one task
PIECE = 1024 * 1024  # counted at once: numpy's masks of a piece stay in the CPU's caches (a
# GB counted in 8 MiB pieces took 1.6 s, in 1 MiB pieces 0.95 s)
NL, CR = ord("\n"), ord("\r")


@dataclass
class ChunkCounts:
    """One stretch of a file's bytes, counted as if it began outside a quoted value; what it
    holds when it begins inside one is the rest (a quote character is neither a delimiter nor a
    line end), so stretches are counted apart, on any thread, and added up in order."""

    size: int
    delimiters: int  # all of them
    line_ends: int
    delimiters_out: int  # outside quoted values
    line_ends_out: int
    flips: bool  # an odd number of quote characters
    blank_out: bool  # a blank line may start at a line end outside / inside quoted values
    blank_in: bool
    first: int  # the first and last byte
    last: int
    last_end_out: int  # the last line end outside / inside quoted values (-1: none)
    last_end_in: int


class _Workspace(threading.local):
    """Each thread's buffers, used again for every piece: a fresh array per comparison paid
    for its pages again (the count took twice as long)."""

    def __init__(self) -> None:
        self.size = 0

    def arrays(self, n: int) -> tuple[np.ndarray, ...]:
        if self.size < n:
            self.size = max(n, PIECE)
            self.masks = [np.empty(self.size, bool) for _ in range(4)]
        return tuple(m[:n] for m in self.masks)

    def buffer(self) -> np.ndarray:
        if getattr(self, "raw", None) is None or self.raw.size < CHUNK:
            self.raw = np.empty(CHUNK, np.uint8)
        return self.raw


_WORK = _Workspace()


def count_chunk(data: np.ndarray, delim: int, quote: int | None) -> ChunkCounts:
    qm, dm, nm, tmp = _WORK.arrays(data.size)
    quotes = None
    if quote is not None:
        np.equal(data, quote, out=qm)
        if qm.any():
            quotes = np.flatnonzero(qm)
    np.equal(data, delim, out=dm)
    np.equal(data, NL, out=nm)
    delimiters, line_ends = int(np.count_nonzero(dm)), int(np.count_nonzero(nm))
    inside = None
    d_in = n_in = 0
    if quotes is not None:
        # the stretches between quote characters alternate outside and inside a quoted value
        # (an escaped "" is an empty stretch between two)
        lengths = np.diff(np.concatenate(([0], quotes, [data.size])))
        quoted = np.zeros(lengths.size, bool)
        quoted[1::2] = True
        inside = np.repeat(quoted, lengths)
        d_in = int(np.count_nonzero(np.logical_and(dm, inside, out=tmp)))
        n_in = int(np.count_nonzero(np.logical_and(nm, inside, out=tmp)))
    # a blank line: a line end followed by another, or by "\r\n"; both ends are outside
    # quotes or both inside (no quote stands between them)
    blank_out = blank_in = False
    if line_ends > 1:
        at = np.empty(0, np.intp)
        if np.logical_and(nm[:-1], nm[1:], out=tmp[:-1]).any():
            at = np.flatnonzero(tmp[:-1])
        if data.size > 2 and np.logical_and(nm[:-2], nm[2:], out=tmp[:-2]).any():
            two = np.flatnonzero(tmp[:-2])
            at = np.concatenate((at, two[data[two + 1] == CR]))
        if at.size:
            quoted_at = inside[at] if inside is not None else np.zeros(at.size, bool)
            blank_out, blank_in = bool((~quoted_at).any()), bool(quoted_at.any())
    last_out = last_in = -1
    if line_ends:
        # the last line ends, looked for near the end first
        tail = max(0, data.size - (1 << 16))
        ends = np.flatnonzero(nm[tail:]) + tail
        if ends.size == 0:
            ends = np.flatnonzero(nm)
        quoted_end = inside[ends] if inside is not None else np.zeros(ends.size, bool)
        outs, ins = ends[~quoted_end], ends[quoted_end]
        if inside is None:
            last_out = int(ends[-1])
        else:  # looked for in the whole piece only when the tail had none (and there is one)
            last_out = int(outs[-1]) if outs.size else \
                (_last(nm & ~inside) if line_ends > n_in else -1)
            last_in = int(ins[-1]) if ins.size else (_last(nm & inside) if n_in else -1)
    return ChunkCounts(data.size, delimiters, line_ends, delimiters - d_in, line_ends - n_in,
                       bool(quotes.size & 1) if quotes is not None else False, blank_out, blank_in,
                       int(data[0]), int(data[-1]), last_out, last_in)


def _last(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[-1]) if mask.any() else -1


@dataclass
class LineCounts:
    """What a read of a file's bytes found outside quoted values, stretch by stretch."""

    blank: bool = False  # a blank line may be there
    delimiters: int = 0
    line_ends: int = 0
    last_line_end: int = -1  # offset of the last line end
    last_byte: int = NL
    inside: bool = False  # whether the bytes end inside a quoted value
    size: int = 0  # bytes counted

    def add(self, c: ChunkCounts) -> None:
        out = not self.inside
        if self.size and self.last_line_end == self.size - 1 and c.first in (NL, CR):
            self.blank = True  # a blank line cut by the stretches' boundary
        self.blank |= c.blank_out if out else c.blank_in
        self.delimiters += c.delimiters_out if out else c.delimiters - c.delimiters_out
        self.line_ends += c.line_ends_out if out else c.line_ends - c.line_ends_out
        last = c.last_end_out if out else c.last_end_in
        if last >= 0:
            self.last_line_end = self.size + last
        self.last_byte = c.last
        self.inside ^= c.flips
        self.size += c.size


def count_lines(data: np.ndarray, delim: int, quote: int | None,
                into: LineCounts | None = None) -> LineCounts:
    """``data`` counted (after what ``into`` holds)."""
    into = into if into is not None else LineCounts()
    if data.size:
        into.add(count_chunk(data, delim, quote))
    return into


def _count_at(path: str, offset: int, delim: int, quote: int | None) -> list[ChunkCounts]:
    """The ``CHUNK`` bytes at ``offset``, read at once and counted ``PIECE`` bytes at a time."""
    raw = _WORK.buffer()
    with open(path, "rb", buffering=0) as f:
        f.seek(offset)
        n = f.readinto(memoryview(raw)[:CHUNK])
    return [count_chunk(raw[at:min(n, at + PIECE)], delim, quote) for at in range(0, n, PIECE)]


def start_blank_search(inp: Input, opts: CsvOptions) -> None:
    """Count ``inp``'s bytes on the searcher's threads from now on, a stretch per task (numpy
    leaves the interpreter free while it compares), so that the count overlaps the field-size
    check and the sampling that come first; ``blank_rows`` takes the answer."""
    if len(opts.delimiter.encode()) == 1 and inp.target is not None:
        delim, quote = _bytes_of(opts)
        pool = searcher()
        inp.extra["blank_search"] = [pool.submit(_count_at, inp.target, at, delim, quote)
                                     for at in range(0, max(1, inp.target_size), CHUNK)]


def stop_blank_search(inputs: list[Input]) -> None:
    """Cancel the pieces not counted yet (the plan failed: nobody will ask for the answer)."""
    for inp in inputs:
        for part in inp.extra.pop("blank_search", None) or ():
            part.cancel()


def scan_lines(inp: Input, delim: int, quote: int | None) -> LineCounts:
    """The counts of ``inp``'s bytes, in this thread."""
    assert inp.target is not None
    return _added(_count_at(inp.target, at, delim, quote)
                  for at in range(0, max(1, inp.target_size), CHUNK))


def _added(stretches: Iterable[list[ChunkCounts]]) -> LineCounts:
    """The counts of a file's stretches, in order, added up."""
    counts = LineCounts()
    for pieces in stretches:
        for c in pieces:
            counts.add(c)
    return counts


def _bytes_of(opts: CsvOptions) -> tuple[int, int | None]:
    return ord(opts.delimiter), ord(opts.quote_char) if opts.quote_char else None


@functools.lru_cache(maxsize=1)
def searcher() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="wb-blank-lines")


def blank_rows(inp: Input, opts: CsvOptions, ncols: int) -> list[int]:
    """The 0-based data rows (as Polars numbers them) that are blank lines; raises the located
    ``SourceError`` of the first record whose field count is not ``ncols`` (the header's)."""
    search = inp.extra.pop("blank_search", None)
    if search is not None:
        counts = _added(part.result() for part in search)
    elif len(opts.delimiter.encode()) == 1:
        counts = scan_lines(inp, *_bytes_of(opts))
    else:
        counts = LineCounts(blank=True)  # a delimiter of several bytes: the exact pass
    if not counts.blank and _whole(inp, opts, ncols, counts):
        return []
    return exact_pass(inp, opts, ncols)


def _whole(inp: Input, opts: CsvOptions, ncols: int, counts: LineCounts) -> bool:
    """Whether the counts say every record after the header has ``ncols`` fields."""
    start = _data_start(inp, int(inp.extra.get("header_lines", 1)))
    if start is None:
        return False
    head = count_lines(np.frombuffer(inp.read_at(0, start), np.uint8), *_bytes_of(opts))
    if head.inside or counts.inside:  # a quote never closed: the exact pass names it
        return False
    records = counts.line_ends - head.line_ends
    tail = counts.size - counts.last_line_end - 1  # bytes after the last line end
    if tail > 1 or (tail == 1 and counts.last_byte != CR):
        records += 1
    return counts.delimiters - head.delimiters == (ncols - 1) * records


def _data_start(inp: Input, header_lines: int) -> int | None:
    """The byte offset of the first record after the header (and the rows skipped before it);
    None when a lone carriage return makes the header's lines uncertain."""
    want = 64 * 1024
    while True:
        head = inp.read_at(0, want)
        end = -1
        for _ in range(header_lines):
            end = head.find(b"\n", end + 1)
            if end < 0:
                break
        if end >= 0 or header_lines == 0:
            region = head[:end + 1]
            return None if region.replace(b"\r\n", b"").count(b"\r") else end + 1
        if len(head) < want:
            return None  # the header is the whole file
        want *= 4


def exact_pass(inp: Input, opts: CsvOptions, ncols: int) -> list[int]:
    """Record by record (Python's csv module, strict about quotes as Polars is): the blank
    lines' rows; the first record of another field count, or a quote Polars cannot read (never
    closed, or text after a closing quote), as an error."""
    assert inp.target is not None
    out: list[int] = []
    with open(inp.target, encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f, **{**opts.dialect, "strict": True})
        row, starts = 0, 1
        try:
            for _ in range(opts.skip_rows):
                next(reader, None)
            first = next(reader, None)
            while first == []:  # blank lines before the header: Polars skips them too
                first = next(reader, None)
            if not opts.has_header and first is not None:
                row = 1
            starts = reader.line_num + 1
            for rec in reader:
                if not rec:
                    out.append(row)
                elif len(rec) != ncols:
                    raise ragged_error(inp, row + 1, reader.line_num, len(rec), ncols)
                row += 1
                starts = reader.line_num + 1
        except csv.Error as exc:
            raise SourceError(
                f"the record that starts on line {starts} is not valid CSV: {exc}",
                file=inp.path, row=row + 1,
                hint="a quote that is never closed swallows the rest of the file, and a quoted "
                     "value ends at its closing quote; fix the record, or read the file with "
                     "quote_char='' if it quotes nothing") from None
    return out
