"""CSV/TSV: a lazy, streaming ``pl.scan_csv`` over local files, with checks that cost nothing.

Before the pipeline runs, on bytes that are cheap to get:

* the head of each file (64 KiB): empty file, header (duplicate or empty names), NUL bytes,
  invalid UTF-8, rows with too many or too few fields;
* types: Polars infers them from the first 10,000 rows; windows sampled across the files
  (and each file's tail) widen a type that a later value does not fit (int → float → string),
  with a note; the same windows are checked for NUL, UTF-8 and field counts;
* every file of a glob must have the same columns.

Then one ``pl.scan_csv`` with an explicit schema streams all files. What slips past the
samples shows up as a Polars error at run time (too many fields, a value that does not
parse, invalid UTF-8), which ``diagnose`` locates exactly; a value that does not fit an
*inferred* type is fixed by ``rescan``, which widens the types and reads again.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from ..errors import SourceError
from .read_common import CSV_GUESS_ROWS, HEAD_BYTES, Input, Limits
from .read_csv_blank import blank_rows
from .read_csv_check import CsvOptions, check_bytes, check_records, read_header, whole_lines
from .read_csv_plan import HEADER_MAX, MARKER_HEAD_BYTES, CsvPlan
from .read_csv_sample import sample_windows, type_iso_dates, widen_from
from .read_limits import check_columns
from .read_types import check_declared_columns


def plan_csv(inputs: list[Input], opts: CsvOptions, declared: dict[str, pl.DataType], *,
             sample_markers: bool = True, limits: Limits | None = None) -> CsvPlan:
    """Validate the files cheaply, infer the types, and return the plan to scan them.

    With ``sample_markers`` (the default markers, not ones the user listed), only the null
    markers seen in the sampled bytes are given to Polars (see ``CsvOptions.active``)."""
    names: list[str] | None = None
    for inp in inputs:
        file_names, header_lines, records = _head(inp, opts)
        if limits is not None:
            check_columns(inp, len(file_names), limits)
        inp.extra["header_lines"] = header_lines
        if names is None:
            names = file_names
        elif file_names != names:
            raise SourceError(
                f"the columns differ from the first file's ({_diff(names, file_names)})",
                file=inp.path, row=0,
                hint=f"every file of a glob needs the same columns in the same order as "
                     f"{inputs[0].name!r}; read the odd file on its own, or move it away")
        check_records(inp, records, len(file_names), row_base=0)
    assert names is not None
    check_declared_columns(declared, names, inputs[0].path)
    dtypes = _infer(inputs[0], opts, names, declared)
    plan = CsvPlan(inputs, opts, names, dtypes, declared)
    for inp in inputs:  # the first file too: Polars' inference drops leading zeros (02134)
        widen_from(plan, inp, None)
    seen = sample_windows(plan)
    for n, inp in enumerate(inputs):
        seen |= opts.markers_in(inp.read_at(0, MARKER_HEAD_BYTES if n == 0 else HEAD_BYTES))
    type_iso_dates(inputs[0], opts, plan)
    if len(names) > 1:  # one column: a blank line is a null value
        for inp in inputs:
            if not inp.types_only:  # which rows are read: nothing of the types
                inp.extra["blank_rows"] = blank_rows(inp, opts, len(names))
    if names[-1] == "":
        plan.notes.append("every line ends with the delimiter: the empty last column is dropped")
    if sample_markers:
        plan.opts = replace(opts, active=tuple(m for m in opts.nulls if m == "" or m in seen))
    return plan


def _head(inp: Input, opts: CsvOptions) -> tuple[list[str], int, list]:
    size = inp.target_size
    if size == 0:
        raise SourceError("the file is empty", file=inp.path, row=0,
                          hint="the file has 0 bytes: check that it was written completely")
    head = inp.read_at(0, HEAD_BYTES)
    while b"\n" not in head and len(head) < min(size, HEADER_MAX):
        head = inp.read_at(0, len(head) * 4)
    complete = len(head) >= size
    if b"\n" not in head and b"\r" in head.rstrip(b"\r"):
        # Polars ends a line at "\n" only: a file of "\r" line ends is one line to it
        raise SourceError("the lines end with a carriage return alone (as old Mac exports do)",
                          file=inp.path, row=0,
                          hint="convert the line ends to \\n first, e.g. `tr '\\r' '\\n' < in.csv "
                               "> out.csv`")
    data, _ = whole_lines(head, at_start=True, at_end=complete)
    if not data and not complete:
        raise SourceError("the first line is longer than 1 MiB: this is not a CSV header",
                          file=inp.path, row=0, hint="check format= and delimiter=")
    check_bytes(inp, data, 0, lossy=opts.lossy, final=complete)
    text = data.decode("utf-8-sig", errors="replace")  # the BOM goes before a quoted name
    if not text.strip():
        raise SourceError("the file is empty (only blank lines)", file=inp.path, row=0,
                          hint="check that the file was written completely")
    return read_header(inp, text, opts, complete)


def _diff(want: list[str], got: list[str]) -> str:
    missing = [c for c in want if c not in got]
    extra = [c for c in got if c not in want]
    parts = []
    if missing:
        parts.append("missing " + ", ".join(map(repr, missing[:10])))
    if extra:
        parts.append("extra " + ", ".join(map(repr, extra[:10])))
    if not parts:
        parts.append("same names in another order")
    return "; ".join(parts)


def _infer(inp: Input, opts: CsvOptions, names: list[str],
           declared: dict[str, pl.DataType]) -> dict[str, pl.DataType]:
    """First types from the first ``CSV_GUESS_ROWS`` rows (Polars' own inference), declared ones
    kept; ``widen_from`` widens them from the text of the first ``INFER_ROWS`` rows and types the
    columns that were empty in the rows Polars saw."""
    kwargs = opts.polars_kwargs(all_markers=True)
    try:
        schema = pl.scan_csv(inp.head_source(), infer_schema_length=CSV_GUESS_ROWS, n_rows=CSV_GUESS_ROWS,
                             new_columns=names, truncate_ragged_lines=True,
                             **kwargs).collect_schema()
    except pl.exceptions.PolarsError as exc:
        plan = CsvPlan([inp], opts, names, {n: pl.String for n in names}, declared)
        located = plan.diagnose(exc)
        raise located or SourceError(f"cannot read the file as CSV: {str(exc).splitlines()[0]}",
                                     file=inp.path, hint="check delimiter= and quote_char=") from None
    inferred = list(schema.values())
    if len(inferred) != len(names):
        inferred = [pl.String] * len(names)
    out: dict[str, pl.DataType] = {}
    for name, dtype in zip(names, inferred):
        if name in declared:
            out[name] = declared[name]
        elif dtype == pl.Null:
            out[name] = pl.String  # all empty so far: text is the one type nothing breaks
        else:
            out[name] = dtype
    return out


