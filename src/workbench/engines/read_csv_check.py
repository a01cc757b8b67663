"""CSV validation: the header, sampled windows, and the slow exact pass that locates a failure.

The cheap checks run before the pipeline on bytes already sniffed (the head of each file, a few
windows spread over it, its tail). The exact pass (Python's csv module, or Polars reading every
column as text) runs only after a failure, to say which row and column it was.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterator

import polars as pl

from ..errors import SourceError
from .read_common import LIMITS, Input, count_lines_before
from .read_detect import csv_dialect, first_invalid_utf8
from .read_types import misfit, type_name

csv.field_size_limit(1 << 30)  # real files carry long text fields; the default is 128 KiB


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str
    quote_char: str | None
    has_header: bool
    skip_rows: int
    nulls: tuple[str, ...]  # the markers that mean "missing"
    lossy: bool
    # The markers the sampled bytes actually use (None: all). Polars compares every field with
    # every marker, which costs ~4% of the pass per marker; a marker first met past the samples
    # makes the pass fail on a typed column, and ``rescan`` adds it.
    active: tuple[str, ...] | None = None

    @property
    def dialect(self) -> dict:
        return csv_dialect(self.delimiter, self.quote_char)

    def polars_kwargs(self, *, all_markers: bool = False) -> dict:
        """The options every Polars scan of these files shares."""
        used = self.nulls if all_markers or self.active is None else self.active
        markers = [v for v in used if v != ""]
        return {"has_header": self.has_header, "separator": self.delimiter,
                "quote_char": self.quote_char, "skip_rows": self.skip_rows,
                "null_values": markers or None, "empty_string_is_null": "" in self.nulls,
                "encoding": "utf8-lossy" if self.lossy else "utf8", "raise_if_empty": False}

    def markers_in(self, data: bytes) -> set[str]:
        """The non-empty markers that stand as a whole field somewhere in ``data``."""
        # A substring test first (C speed): most bytes hold no marker text at all.
        markers = [m for m in self.nulls if m and m.encode() in data]
        if not markers:
            return set()
        d = re.escape(self.delimiter.encode())
        q = re.escape(self.quote_char.encode()) + b"?" if self.quote_char else b""
        alt = b"|".join(re.escape(m.encode()) for m in sorted(markers, key=len, reverse=True))
        rx = re.compile(rb"(?:^|" + d + rb")" + q + rb"(" + alt + rb")" + q +
                        rb"(?=" + d + rb"|\r|\n|$)", re.M)
        # stop once every candidate is seen: findall listed each of a common marker's fields
        # (0.12 s of a fan-out's plan of 16 files)
        found: set[bytes] = set()
        for match in rx.finditer(data):
            found.add(match.group(1))
            if len(found) == len(markers):
                break
        return {m.decode() for m in found}


# ----------------------------------------------------------------------------- bytes checks
def check_bytes(inp: Input, data: bytes, offset: int, *, lossy: bool, final: bool) -> None:
    """NUL bytes and invalid UTF-8 in a window that starts at a character boundary."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise _at(inp, offset + nul, "the file contains a NUL byte (binary data in a text file)",
                  "if this is not a text file, set format=; if the file was padded or corrupted, "
                  "cut the bad part (e.g. `tr -d '\\000'`)")
    if not lossy:
        bad = first_invalid_utf8(data, final=final)
        if bad is not None:
            raise _utf8_error(inp, offset + bad, data[bad:bad + 4])


def _utf8_error(inp: Input, offset: int, sample: bytes) -> SourceError:
    err = _at(inp, offset, f"invalid UTF-8 (bytes {sample.hex(' ')})",
              "declare the file's encoding: latin1 or cp1252 (Windows/Excel exports), utf16, or "
              "utf8-lossy to replace the bad bytes (--encoding on the command line, "
              "encoding= in Python or YAML)")
    return err


def _at(inp: Input, offset: int, what: str, hint: str) -> SourceError:
    assert inp.target is not None
    line = count_lines_before(inp.target, offset) + 1
    header_lines = inp.extra.get("header_lines", 1)
    row = line - header_lines if line > header_lines else 0  # exact unless values span lines
    return SourceError(f"{what} at byte offset {offset} (line {line})", file=inp.path, row=row,
                       hint=hint)


def whole_lines(data: bytes, *, at_start: bool, at_end: bool) -> tuple[bytes, int]:
    """Cut a window to whole lines; returns the bytes and how many were dropped in front."""
    start = 0
    if not at_start:
        nl = data.find(b"\n")
        if nl < 0:
            return b"", 0
        start = nl + 1
    end = len(data) if at_end else data.rfind(b"\n") + 1
    return (data[start:end], start) if end > start else (b"", start)


# ----------------------------------------------------------------------------- header
def read_header(inp: Input, text: str, opts: CsvOptions, complete: bool) -> tuple[list[str], int, list]:
    """``(column names, header lines, data records seen in the head)``; validates the names."""
    reader = csv.reader(io.StringIO(text, newline=""), **opts.dialect)
    records: list[tuple[int, list[str]]] = []
    try:
        for _ in range(opts.skip_rows):
            next(reader, None)
        first = next(reader, None)
        while first == []:  # blank lines before the header
            first = next(reader, None)
        header_lines = reader.line_num
        for rec in reader:
            records.append((reader.line_num, rec))
    except csv.Error as exc:
        raise SourceError(f"cannot parse the start of the file as CSV: {exc}", file=inp.path,
                          hint="check delimiter= and quote_char=") from None
    if not complete and records:
        records.pop()  # the head may end inside the last record
    if first is None:
        raise SourceError("the file has no header row" if opts.has_header else "the file has no rows",
                          file=inp.path, row=0,
                          hint="the file holds only blank lines or skipped rows; check skip_rows=")
    if not opts.has_header:
        return [f"column_{i + 1}" for i in range(len(first))], header_lines - 1, [
            (header_lines, first)] + records
    names = [n.lstrip("\ufeff") if i == 0 else n for i, n in enumerate(first)]
    trailing = len(names) > 1 and names[-1] == "" and all(
        len(rec) == len(names) and not rec[-1].strip() for _line, rec in records)
    for i, name in enumerate(names):
        if trailing and i == len(names) - 1:
            # every line ends with the delimiter (a common export quirk): an empty, unnamed
            # last column, which the plan drops
            continue
        if not name.strip():
            raise SourceError(
                f"column {i + 1} of {len(names)} has an empty name", file=inp.path, row=0,
                column=f"#{i + 1}",
                hint="name every column in the header, or read with has_header=False and "
                     "rename the columns in a step")
    dups = sorted(n for n, k in Counter(names).items() if k > 1)
    if dups:
        raise SourceError(
            f"duplicate column names: {', '.join(repr(d) for d in dups)}", file=inp.path, row=0,
            column=dups[0],
            hint="rename the columns in the file so each is unique, or read with has_header=False "
                 "and rename them in a step")
    return names, header_lines, records


def check_records(inp: Input, records: list, ncols: int, *, line_offset: int = 0,
                  row_base: int | None = None) -> None:
    """Every record has ``ncols`` fields (blank lines are skipped, as Polars gives null rows
    that the reader drops)."""
    for i, (line, rec) in enumerate(records):
        if rec and len(rec) != ncols:
            row = row_base + i + 1 if row_base is not None else None
            raise ragged_error(inp, row, line + line_offset, len(rec), ncols)


def ragged_error(inp: Input, row: int | None, line: int | None, found: int, expected: int) -> SourceError:
    where = f" (line {line})" if line else ""
    return SourceError(
        f"row has {found} field{'s' if found != 1 else ''} but the header has {expected}{where}",
        file=inp.path, row=row,
        hint="fix the row in the file (a missing or extra delimiter, or an unquoted delimiter "
             "inside a value); check delimiter= and quote_char=")


def window_records(data: bytes, opts: CsvOptions) -> list[tuple[int, list[str]]]:
    text = data.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), **opts.dialect)
    return [(reader.line_num, rec) for rec in reader]


# ----------------------------------------------------------------------------- exact pass
def locate(inp: Input, exc_text: str, opts: CsvOptions, names: list[str],
           dtypes: dict[str, pl.DataType], declared: dict[str, pl.DataType]) -> SourceError | None:
    """Find the row and column behind a failed pass over ``inp`` (slow; only after a failure)."""
    low = exc_text.lower()
    # Only messages of Polars' CSV parser lead to a pass over the file: an error raised by a
    # later step must not cost a slow scan of the source.
    if "utf-8" in low or "utf8" in low:
        return None if opts.lossy else locate_utf8(inp)
    if "more fields" in low:
        return locate_fields(inp, opts, len(names))
    if "could not parse" in low or "invalid primitive" in low or "conversion from `str`" in low:
        err = locate_misfit(inp, opts, names, dtypes, declared, hint_column=column_in(exc_text))
        if err is not None:
            return err
        # bad bytes inside a number column fail as a parse error, not as UTF-8
        return None if opts.lossy else locate_utf8(inp)
    return None


def column_in(text: str) -> str | None:
    m = re.search(r"column '([^']+)'|in column \"?([^\s\"]+)\"?", text)
    return (m.group(1) or m.group(2)) if m else None


def locate_utf8(inp: Input) -> SourceError | None:
    assert inp.target is not None
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(inp.target, "rb") as f:
        while chunk := f.read(8 * 1024 * 1024):
            buffered = len(decoder.getstate()[0])  # bytes of a character cut by the last chunk
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad = offset - buffered + exc.start
                return _utf8_error(inp, bad, inp.read_at(bad, 4))
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return _utf8_error(inp, offset, b"")
    return None


def _records(inp: Input, opts: CsvOptions) -> Iterator[tuple[int, int, list[str]]]:
    """``(data row, line, fields)`` of every record, by Python's csv module."""
    assert inp.target is not None
    with open(inp.target, encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f, **opts.dialect)
        for _ in range(opts.skip_rows):
            next(reader, None)
        if opts.has_header:
            first = next(reader, None)
            while first == []:
                first = next(reader, None)
        row = 0
        read_limit = LIMITS.max_diagnose_bytes
        for rec in reader:
            row += 1
            yield row, reader.line_num, rec
            if row % 65536 == 0 and f.tell() > read_limit:
                return


def locate_fields(inp: Input, opts: CsvOptions, ncols: int) -> SourceError | None:
    try:
        for row, line, rec in _records(inp, opts):
            if rec and len(rec) != ncols:
                return ragged_error(inp, row, line, len(rec), ncols)
            for value in rec:
                if "\x00" in value:
                    return SourceError(f"the file contains a NUL byte (line {line})",
                                       file=inp.path, row=row,
                                       hint="if this is not a text file, set format=; else cut "
                                            "the bad part of the file")
    except csv.Error as exc:
        return SourceError(f"the file is not valid CSV: {exc}", file=inp.path,
                           hint="check delimiter= and quote_char=; a quote that is never closed "
                                "swallows the rest of the file")
    return None


def locate_misfit(inp: Input, opts: CsvOptions, names: list[str], dtypes: dict[str, pl.DataType],
                  declared: dict[str, pl.DataType], hint_column: str | None = None) -> SourceError | None:
    """Polars reads every column as text; the first row whose value does not parse is the one."""
    typed = [c for c in names if dtypes.get(c, pl.String) != pl.String]
    if not typed:
        return None
    if hint_column in typed:
        typed.remove(hint_column)
        typed.insert(0, hint_column)
    lf = pl.scan_csv(inp.target, schema={c: pl.String for c in names}, row_index_name="__wb_row",
                     row_index_offset=1, truncate_ragged_lines=True,
                     **opts.polars_kwargs(all_markers=True))
    try:
        hit = lf.filter(pl.any_horizontal([misfit(pl.col(c), dtypes[c]) for c in typed])).head(
            1).collect()
    except pl.exceptions.PolarsError:
        return None
    if hit.height == 0:
        return None
    rec = hit.row(0, named=True)
    for c in typed:
        value = rec[c]
        if value is None:
            continue
        bad = pl.select(misfit(pl.lit(value, pl.String), dtypes[c])).item()
        if bad:
            return misfit_error(inp, rec["__wb_row"], c, value, dtypes[c], c in declared)
    return None


def misfit_error(inp: Input, row: int, column: str, value: str, dtype: pl.DataType,
                 declared: bool) -> SourceError:
    shown = value if len(value) <= 80 else value[:77] + "..."
    if declared:
        return SourceError(
            f"value {shown!r} does not fit the declared type {type_name(dtype)}", file=inp.path,
            row=row, column=column,
            hint=f"fix the value, declare a wider type (schema_overrides={{{column!r}: 'string'}}), "
                 "or add it to null_values if it means missing")
    return SourceError(
        f"value {shown!r} does not fit the type {type_name(dtype)} inferred from the first rows "
        "and sampled parts of the file", file=inp.path, row=row, column=column,
        hint=f"declare the column's type, e.g. schema_overrides={{{column!r}: 'string'}}, or add "
             "the value to null_values if it means missing")
