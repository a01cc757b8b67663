"""CsvPlan: what the CSV reader decided for a set of inputs (encoding, dialect, header, types,
notes) and how it turns into Polars scan options.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import polars as pl

from ..errors import SourceError
from .read_common import Input
from .read_csv_blank import exact_pass
from .read_csv_check import CsvOptions, column_in, locate
from .read_text_types import fits_expr, general_formats, misfit_column, parse_expr
from .read_types import misfit, parse_text, past_float, type_name, widen

HEADER_MAX = 1024 * 1024  # a header longer than this is not a header


MARKER_HEAD_BYTES = 4 * 1024 * 1024  # where null markers are looked for, besides the windows


@dataclass
class CsvPlan:
    inputs: list[Input]
    opts: CsvOptions
    names: list[str]
    dtypes: dict[str, pl.DataType]
    declared: dict[str, pl.DataType]
    notes: list[str] = field(default_factory=list)
    # text columns whose sampled values are all ISO dates/times or spelled booleans:
    # column -> (kind, strptime format), see read_text_types
    parse_dates: dict[str, tuple[str, str]] = field(default_factory=dict)

    def frame(self) -> pl.LazyFrame:
        targets = [i.target for i in self.inputs]
        schema = {n: self.dtypes[n] for n in self.names}
        # declared decimals are read as text and parsed here: Polars' reader rounds a value
        # with more decimal places than the scale, where this parse refuses it (read_types)
        decimals = {n: t for n, t in schema.items() if isinstance(t, pl.Decimal)}
        schema.update({n: pl.String for n in decimals})
        blanks = [i.extra.get("blank_rows") or [] for i in self.inputs]
        if any(blanks):
            # A blank line comes out of Polars as a row of nulls; like pandas, skip it, by its
            # row number (see read_csv_blank: a filter over every column costs quadratic plan
            # time, and a record of empty fields is a row of nulls that must stay).
            lf = pl.concat([self._scan(t, schema).with_row_index("__wb_line")
                            .filter(~pl.col("__wb_line").is_in(b)).drop("__wb_line")
                            if b else self._scan(t, schema) for t, b in zip(targets, blanks)])
        else:
            lf = self._scan(targets if len(targets) > 1 else targets[0], schema)
        if self.names[-1] == "":  # the column a trailing delimiter makes (see read_header)
            lf = lf.drop("")
        if decimals:
            lf = lf.with_columns([parse_text(pl.col(n), t, strict=True).alias(n)
                                  for n, t in decimals.items()])
        if self.parse_dates:
            # strict: a later value that is not in the format fails the pass, and ``widened``
            # then keeps that column as text
            lf = lf.with_columns([parse_expr(c, kind, fmt)
                                  for c, (kind, fmt) in self.parse_dates.items()])
        return lf

    def _scan(self, target, schema: dict[str, pl.DataType]) -> pl.LazyFrame:
        return pl.scan_csv(target, schema=schema, truncate_ragged_lines=False,
                           **self.opts.polars_kwargs())

    def _date_misfit(self, exc: BaseException) -> CsvPlan | None:
        c = misfit_column(exc, list(self.parse_dates))
        if c is None:
            return None
        late = self._late_markers_only(c)
        if late:  # a null marker first met past the samples, not a value of another kind
            active = self.opts.nulls if self.opts.active is None else self.opts.active
            active = tuple(m for m in self.opts.nulls if m == "" or m in late or m in active)
            note = (f"null markers first met past the sampled part of the file: {sorted(late)}; "
                    "read again with them")
            return replace(self, notes=self.notes + [note], opts=replace(self.opts, active=active))
        general = general_formats(self.parse_dates, c, "column")
        if general is not None:
            # the sample's exact date-time format missed a later value: every column read with
            # one takes the general format, so columns written alike cost one more pass in all
            parse, note = general
            return replace(self, parse_dates=parse, notes=self.notes + [note])
        kind = self.parse_dates[c][0].partition("@")[0].replace("_tz", "")
        rest = {k: v for k, v in self.parse_dates.items() if k != c}
        fmt = self.parse_dates[c][1]
        what = "a boolean" if kind == "bool" else f"an ISO {kind}" \
            if fmt.startswith(("%Y", "%H")) else f"a {kind} written as the others are"
        note = (f"column {c!r}: a value further into the file is not {what}; "
                f"read as text (declare schema_overrides to choose)")
        return replace(self, parse_dates=rest, notes=self.notes + [note])

    def _late_markers_only(self, column: str) -> set[str]:
        """The null markers not yet given to Polars that ``column`` holds, when every other
        value of it parses as its typed kind; else an empty set (the column is text)."""
        active = self.opts.nulls if self.opts.active is None else self.opts.active
        late = [m for m in self.opts.nulls if m and m not in active]
        if not late:
            return set()
        kind, fmt = self.parse_dates[column]
        col = pl.col(column)
        seen: set[str] = set()
        for inp in self.inputs:
            lf = pl.scan_csv(inp.target, schema={c: pl.String for c in self.names},
                             truncate_ragged_lines=True, **self.opts.polars_kwargs())
            exprs = [(~fits_expr(column, kind, fmt) & ~col.is_in(late)).any().alias("__bad")]
            exprs += [col.is_in([m]).any().alias(f"__m_{m}") for m in late]
            try:
                res = lf.select(exprs).collect().row(0, named=True)
            except pl.exceptions.PolarsError:
                return set()
            if res["__bad"]:
                return set()
            seen |= {m for m in late if res[f"__m_{m}"]}
        return seen

    def diagnose(self, exc: BaseException) -> SourceError | None:
        text = str(exc)
        for inp in self.inputs:
            err = locate(inp, text, self.opts, self.names, self.dtypes, self.declared)
            if err is not None:
                return err
        found = self._quoting(text)
        if found is None and self.opts.active is not None and "could not parse" in text.lower():
            found = self._late_marker(text)
        return found

    def _quoting(self, text: str) -> SourceError | None:
        """Polars could not split the records (a quote it cannot read): the exact pass names the
        record when Python's csv module, strict about quotes, cannot read it either; otherwise
        the file is named with what usually causes it."""
        quote = self.opts.quote_char
        if not ("csv malformed" in text.lower() or (quote and f"could not parse `{quote}" in text)):
            return None
        for inp in self.inputs:
            try:
                exact_pass(inp, self.opts, len(self.names))
            except SourceError as err:  # the record, located
                return err
        first = (text.strip().splitlines() or [""])[0]
        return SourceError(
            f"the file could not be split into records: {first}",
            file=self.inputs[0].path if len(self.inputs) == 1 else None,
            hint=f"a quote character ({quote}) inside an unquoted value, such as 27{quote} screen, "
                 "opens a quoted value for this reader: quote such values, or read the file "
                 "with quote_char='' if it quotes nothing")

    def _late_marker(self, text: str) -> SourceError | None:
        """A null marker first met past the samples (not given to Polars) in a typed column."""

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
        fits_int128 = {c: True for c in inferred}
        seen: set[str] = set()
        for inp in self.inputs:
            lf = pl.scan_csv(inp.target, schema={c: pl.String for c in self.names},
                             truncate_ragged_lines=True, **self.opts.polars_kwargs())
            exprs = [(misfit(pl.col(c), self.dtypes[c]) & ~pl.col(c).is_in(markers)).any()
                     .alias(c) for c in inferred]
            ints = [c for c in inferred if self.dtypes[c].is_integer()]
            exprs += [(misfit(pl.col(c), pl.Float64) & ~pl.col(c).is_in(markers)).any()
                      .alias(f"__f_{c}") for c in ints]
            # an integer past 64 bits stays exact as Int128; one past 2**53 is no float
            exprs += [(misfit(pl.col(c), pl.Int128) & ~pl.col(c).is_in(markers)).any()
                      .alias(f"__i_{c}") for c in ints]
            exprs += [past_float(pl.col(c)).any().alias(f"__b_{c}") for c in ints]
            exprs += [pl.any_horizontal(pl.col(self.names).is_in([m]).any()).alias(f"__m_{m}")
                      for m in late]
            try:
                res = lf.select(exprs).collect().row(0, named=True)
            except pl.exceptions.PolarsError:
                return None
            for c in inferred:
                bad_any[c] |= bool(res[c])
                if f"__f_{c}" in res:
                    fits_float[c] &= not res[f"__f_{c}"] and not res[f"__b_{c}"]
                    fits_int128[c] &= not res[f"__i_{c}"]
            seen |= {m for m in late if res[f"__m_{m}"]}
        changed = {c: pl.Int128 if self.dtypes[c] == pl.Int64 and fits_int128[c] else
                   widen(self.dtypes[c], fits_float[c]) for c in inferred if bad_any[c]}
        if not changed and not seen:
            return None
        notes = [f"column {c!r}: a value further into the file is not {type_name(self.dtypes[c])}; "
                 f"read as {type_name(t)} (declare schema_overrides to choose)" for c, t in changed.items()]
        if seen:
            notes.append(f"null markers first met past the sampled part of the file: "
                         f"{sorted(seen)}; read again with them")
        active = tuple(m for m in self.opts.nulls if m == "" or m in seen or m in active)
        return replace(self, dtypes={**self.dtypes, **changed}, notes=self.notes + notes,
                       opts=replace(self.opts, active=active))
