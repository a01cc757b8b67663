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

import io
import re
from dataclasses import dataclass, field, replace

import polars as pl

from ..errors import SourceError
from .read_common import (
    HEAD_BYTES, INFER_ROWS, SAMPLE_WINDOWS, WINDOW_BYTES, Input, Limits,
)
from .read_csv_check import (
    CsvOptions, check_bytes, check_records, locate, read_header, whole_lines, window_records,
)
from .read_limits import check_columns
from .read_types import check_declared_columns, misfit, widen

_HEADER_MAX = 1024 * 1024  # a header longer than this is not a header
MARKER_HEAD_BYTES = 4 * 1024 * 1024  # where null markers are looked for, besides the windows


@dataclass
class CsvPlan:
    inputs: list[Input]
    opts: CsvOptions
    names: list[str]
    dtypes: dict[str, pl.DataType]
    declared: dict[str, pl.DataType]
    notes: list[str] = field(default_factory=list)
    # text columns whose sampled values are all ISO dates/times: column -> (type, strptime format)
    parse_dates: dict[str, tuple[str, str]] = field(default_factory=dict)

    def frame(self) -> pl.LazyFrame:
        targets = [i.target for i in self.inputs]
        lf = pl.scan_csv(targets if len(targets) > 1 else targets[0],
                         schema={n: self.dtypes[n] for n in self.names},
                         truncate_ragged_lines=False, **self.opts.polars_kwargs())
        if len(self.names) > 1:
            # A blank line comes out of Polars as a row of nulls; like pandas, skip it (a
            # record whose every field is empty goes too: it holds no data).
            lf = lf.filter(~pl.all_horizontal(pl.all().is_null()))
        if self.names[-1] == "":  # the column a trailing delimiter makes (see read_header)
            lf = lf.drop("")
        if self.parse_dates:
            # strict: a later value that is not in the format fails the pass, and ``widened``
            # then keeps that column as text
            lf = lf.with_columns([
                pl.col(c).str.strptime(pl.Date if kind == "date" else pl.Datetime("us"), fmt,
                                       strict=True)
                for c, (kind, fmt) in self.parse_dates.items()])
        return lf

    def _date_misfit(self, exc: BaseException) -> CsvPlan | None:
        text = str(exc)
        if "conversion from `str` to `date" not in text:
            return None
        for c, (kind, _fmt) in self.parse_dates.items():
            if f"in column '{c}'" in text:
                rest = {k: v for k, v in self.parse_dates.items() if k != c}
                note = (f"column {c!r}: a value further into the file is not an ISO {kind}; "
                        f"read as text (declare schema_overrides to choose)")
                return replace(self, parse_dates=rest, notes=self.notes + [note])
        return None

    def diagnose(self, exc: BaseException) -> SourceError | None:
        text = str(exc)
        for inp in self.inputs:
            err = locate(inp, text, self.opts, self.names, self.dtypes, self.declared)
            if err is not None:
                return err
        if self.opts.active is not None and "could not parse" in text.lower():
            return self._late_marker(text)
        return None

    def _late_marker(self, text: str) -> SourceError | None:
        """A null marker first met past the samples (not given to Polars) in a typed column."""
        from .read_csv_check import column_in

        active = self.opts.nulls if self.opts.active is None else self.opts.active
        late = [m for m in self.opts.nulls if m and m not in active]
        column = column_in(text)
        if not late or column not in self.names:
            return None
        for inp in self.inputs:
            hit = pl.scan_csv(inp.target, schema={c: pl.String for c in self.names},
                              row_index_name="__wb_row", row_index_offset=1,
                              truncate_ragged_lines=True, **self.opts.polars_kwargs()).filter(
                pl.col(column).is_in(late)).select("__wb_row", column).head(1).collect()
            if hit.height:
                row, value = hit.row(0)
                return SourceError(
                    f"the null marker {value!r} first appears past the sampled part of the file",
                    file=inp.path, row=row, column=column,
                    hint="run the job again (the reader then knows the marker), or list the "
                         "markers: null_values=[...]")
        return None

    def widened(self, exc: BaseException) -> CsvPlan | None:
        """After a value did not fit a type: one Polars pass reads every typed column as text
        and finds (a) null markers first met past the samples, which are added, and (b) values
        that do not fit an *inferred* type, whose columns are widened. Declared types are
        never widened."""
        dates = self._date_misfit(exc)
        if dates is not None:
            return dates
        typed = [c for c in self.names if self.dtypes[c] != pl.String]
        active = self.opts.nulls if self.opts.active is None else self.opts.active
        late = [m for m in self.opts.nulls if m and m not in active]
        inferred = [c for c in typed if c not in self.declared]
        if not typed:
            return None
        markers = [m for m in self.opts.nulls if m]
        bad_any = {c: False for c in inferred}
        fits_float = {c: True for c in inferred}
        seen: set[str] = set()
        for inp in self.inputs:
            lf = pl.scan_csv(inp.target, schema={c: pl.String for c in self.names},
                             truncate_ragged_lines=True, **self.opts.polars_kwargs())
            exprs = [(misfit(pl.col(c), self.dtypes[c]) & ~pl.col(c).is_in(markers)).any()
                     .alias(c) for c in inferred]
            exprs += [(misfit(pl.col(c), pl.Float64) & ~pl.col(c).is_in(markers)).any()
                      .alias(f"__f_{c}") for c in inferred if self.dtypes[c].is_integer()]
            exprs += [pl.any_horizontal(pl.col(self.names).is_in([m]).any()).alias(f"__m_{m}")
                      for m in late]
            try:
                res = lf.select(exprs).collect().row(0, named=True)
            except pl.exceptions.PolarsError:
                return None
            for c in inferred:
                bad_any[c] |= bool(res[c])
                if f"__f_{c}" in res:
                    fits_float[c] &= not res[f"__f_{c}"]
            seen |= {m for m in late if res[f"__m_{m}"]}
        changed = {c: widen(self.dtypes[c], fits_float[c]) for c in inferred if bad_any[c]}
        if not changed and not seen:
            return None
        notes = [f"column {c!r}: a value further into the file is not {_tn(self.dtypes[c])}; "
                 f"read as {_tn(t)} (declare schema_overrides to choose)" for c, t in changed.items()]
        if seen:
            notes.append(f"null markers first met past the sampled part of the file: "
                         f"{sorted(seen)}; read again with them")
        active = tuple(m for m in self.opts.nulls if m == "" or m in seen or m in active)
        return replace(self, dtypes={**self.dtypes, **changed}, notes=self.notes + notes,
                       opts=replace(self.opts, active=active))


def _tn(dtype: pl.DataType) -> str:
    from .read_types import type_name

    return type_name(dtype)


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
    for inp in inputs[1:]:
        _widen_from(plan, inp, None)
    seen = _sample_windows(plan)
    for n, inp in enumerate(inputs):
        seen |= opts.markers_in(inp.read_at(0, MARKER_HEAD_BYTES if n == 0 else HEAD_BYTES))
    _type_iso_dates(inputs[0], opts, plan)
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
    while b"\n" not in head and len(head) < min(size, _HEADER_MAX):
        head = inp.read_at(0, len(head) * 4)
    complete = len(head) >= size
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
    """Types from the first ``INFER_ROWS`` rows (Polars' own inference), declared ones kept."""
    kwargs = opts.polars_kwargs(all_markers=True)
    try:
        schema = pl.scan_csv(inp.target, infer_schema_length=INFER_ROWS, n_rows=INFER_ROWS,
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


def _windows(plan: CsvPlan) -> list[tuple[Input, int]]:
    """Offsets spread evenly over all bytes past each head, plus each file's tail."""
    spans = [(inp, inp.target_size) for inp in plan.inputs]
    total = sum(max(s - HEAD_BYTES, 0) for _, s in spans)
    out: list[tuple[Input, int]] = []
    if total > 0:
        step = total / (SAMPLE_WINDOWS + 1)
        for k in range(1, SAMPLE_WINDOWS + 1):
            pos = k * step
            for inp, size in spans:
                body = max(size - HEAD_BYTES, 0)
                if pos < body:
                    out.append((inp, HEAD_BYTES + int(pos)))
                    break
                pos -= body
    for inp, size in spans:
        if size > HEAD_BYTES:
            out.append((inp, max(size - WINDOW_BYTES, HEAD_BYTES)))
    seen = sorted({(plan.inputs.index(inp), off) for inp, off in out})
    return [(plan.inputs[i], off) for i, off in seen]


def _sample_windows(plan: CsvPlan) -> set[str]:
    """Check and widen types on windows past the head. A window whose start may fall inside a
    quoted value (it contains the quote character) is used for types only when it parses
    cleanly, and never to report a ragged row."""
    opts, ncols = plan.opts, len(plan.names)
    quote = (opts.quote_char or "").encode()
    seen: set[str] = set()
    for inp, offset in _windows(plan):
        raw = inp.read_at(offset, WINDOW_BYTES)
        at_end = offset + len(raw) >= inp.target_size
        data, dropped = whole_lines(raw, at_start=False, at_end=at_end)
        if not data:
            continue
        check_bytes(inp, data, offset + dropped, lossy=opts.lossy, final=at_end)
        aligned = not quote or quote not in data
        records = window_records(data, opts)
        if aligned and any(rec and len(rec) != ncols for _, rec in records):
            _raise_ragged_at(inp, offset + dropped, data, records, ncols)
        if any(rec and len(rec) != ncols for _, rec in records):
            continue  # misaligned inside a quoted value: no types from here
        seen |= opts.markers_in(data)
        _widen_from(plan, inp, data)
    return seen


def _raise_ragged_at(inp: Input, base: int, data: bytes, records: list, ncols: int) -> None:
    from .read_common import count_lines_before
    from .read_csv_check import ragged_error

    line_in, rec = next((ln, r) for ln, r in records if r and len(r) != ncols)
    line = count_lines_before(inp.target, base) + line_in  # type: ignore[arg-type]
    header_lines = inp.extra.get("header_lines", 1)
    raise ragged_error(inp, line - header_lines, line, len(rec), ncols)


def _widen_from(plan: CsvPlan, inp: Input, data: bytes | None) -> None:
    """Widen inferred types that a value in ``data`` (whole lines) does not fit; ``None``
    means the first rows of ``inp`` itself (a later file of a glob)."""
    typed = [c for c in plan.names if c not in plan.declared and plan.dtypes[c] != pl.String]
    if not typed:
        return
    text = {c: pl.String for c in plan.names}
    try:
        if data is None:
            df = pl.scan_csv(inp.target, schema=text, n_rows=INFER_ROWS, truncate_ragged_lines=True,
                             **plan.opts.polars_kwargs(all_markers=True)).collect()
        else:
            kwargs = {**plan.opts.polars_kwargs(all_markers=True), "has_header": False,
                      "skip_rows": 0}
            df = pl.read_csv(data, schema=text, truncate_ragged_lines=True, **kwargs)
    except pl.exceptions.PolarsError:
        return
    exprs = [misfit(pl.col(c), plan.dtypes[c]).any().alias(c) for c in typed]
    exprs += [misfit(pl.col(c), pl.Float64).any().alias(f"__f_{c}") for c in typed
              if plan.dtypes[c].is_integer()]
    res = df.select(exprs).row(0, named=True)
    for c in typed:
        if res[c]:
            new = widen(plan.dtypes[c], not res.get(f"__f_{c}", True))
            example = df.filter(misfit(pl.col(c), plan.dtypes[c]))[c][0]
            plan.notes.append(
                f"column {c!r}: {example!r} further into {inp.name} is not "
                f"{_tn(plan.dtypes[c])}; read as {_tn(new)}")
            plan.dtypes[c] = new


def _type_iso_dates(inp: Input, opts: CsvOptions, plan: CsvPlan) -> None:
    """Text columns whose first values are all ISO dates or date-times are stored typed.

    Polars' own date inference costs more than the whole read; parsing a text column with one
    known format costs next to nothing (measured on 1 GB). A later value in another format
    makes the pass fail and ``widened`` keeps that column as text."""
    text_cols = [c for c in plan.names if plan.dtypes[c] == pl.String and c not in plan.declared]
    if not text_cols:
        return
    # Parse only the first bytes: a lazy scan with n_rows still reads far into a large file
    # (measured +0.06-0.38 s and +120-150 MiB on 1 GB).
    raw = inp.read_at(0, HEAD_BYTES)
    data, _ = whole_lines(raw, at_start=True, at_end=len(raw) >= inp.target_size)
    try:
        head = pl.read_csv(io.BytesIO(data), schema={c: pl.String for c in plan.names}, n_rows=1000,
                           truncate_ragged_lines=True,
                           **opts.polars_kwargs(all_markers=True)).select(text_cols)
    except pl.exceptions.PolarsError:
        return
    for c in text_cols:
        values = head[c].drop_nulls().head(200).to_list()
        if not values:
            continue
        fmt = _iso_format(values)
        if fmt is not None:
            plan.parse_dates[c] = fmt
    if plan.parse_dates:
        cols = ", ".join(f"{c!r} as {k}" for c, (k, _f) in plan.parse_dates.items())
        plan.notes.append(f"ISO dates read typed: {cols} (schema_overrides={{col: 'string'}} "
                          "keeps a column as text)")


_ISO_FORMATS = [
    ("date", "%Y-%m-%d", re.compile(r"^\d{4}-\d{2}-\d{2}$")),
    ("datetime", "%Y-%m-%d %H:%M:%S", re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")),
    ("datetime", "%Y-%m-%dT%H:%M:%S", re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")),
    ("datetime", "%Y-%m-%d %H:%M:%S%.f",
     re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{1,9}$")),
    ("datetime", "%Y-%m-%dT%H:%M:%S%.f",
     re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{1,9}$")),
    ("datetime", "%Y-%m-%d %H:%M", re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$")),
    ("datetime", "%Y-%m-%dT%H:%M", re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")),
]


def _iso_format(values: list[str]) -> tuple[str, str] | None:
    """The one ISO format every value is written in, or None (mixed, zoned or not a date)."""
    for kind, fmt, pattern in _ISO_FORMATS:
        if all(pattern.match(v) for v in values):
            return kind, fmt
    return None
