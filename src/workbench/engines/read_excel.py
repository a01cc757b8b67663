"""Excel workbooks through Polars' calamine engine (fastexcel).

A sheet is read whole (that is how calamine works), so the checks are exact: types are
inferred from every row, not a sample (calamine would otherwise turn a late text cell in a
number column into a silent null); text columns holding numbers plus null markers such as
``NA`` become numbers; declared types are applied with the row of the first value that
does not fit. Rows are reported as data rows (header = row 0) and as worksheet rows.
"""

from __future__ import annotations

import zipfile

import polars as pl

from ..errors import SourceError
from .read_common import LIMITS, Input, Limits
from .read_detect import OLE_MAGIC, ZIP_MAGIC, describe_bytes
from .read_limits import check_xlsx_grid
from .read_types import apply_declared_eager, type_name


def read_excel(inputs: list[Input], sheet: str | int | None, has_header: bool, skip_rows: int,
               nulls: list[str], declared: dict[str, pl.DataType], notes: list[str],
               limits: Limits = LIMITS) -> pl.DataFrame:
    frames = []
    for inp in inputs:
        df = _read_one(inp, sheet, has_header, skip_rows, nulls, declared, notes, limits)
        if frames and df.columns != frames[0].columns:
            raise SourceError(
                "the columns differ from the first file's", file=inp.path, row=0,
                hint="every workbook of a glob needs the same columns in the same order")
        frames.append(df)
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical_relaxed")


def _read_one(inp: Input, sheet: str | int | None, has_header: bool, skip_rows: int,
              nulls: list[str], declared: dict[str, pl.DataType], notes: list[str],
              limits: Limits) -> pl.DataFrame:
    # heavy optional dependency: imported on first use
    import fastexcel

    head = inp.read_at(0, 8)
    if inp.target_size == 0:
        raise SourceError("the file is empty", file=inp.path, row=0,
                          hint="the file has 0 bytes: check that it was written completely")
    if not head.startswith((ZIP_MAGIC, OLE_MAGIC)):
        raise SourceError(f"this is not an Excel workbook ({describe_bytes(inp.read_at(0, 256))})",
                          file=inp.path,
                          hint="if it is a CSV saved with an .xlsx name, rename it or set "
                               "format='csv'; else re-export it from Excel as .xlsx")
    if head.startswith(ZIP_MAGIC):
        _check_zip(inp, limits)
        check_xlsx_grid(inp)  # before calamine allocates the grid a cell reference implies
    try:
        reader = fastexcel.read_excel(inp.target)
    except Exception as exc:  # fastexcel's own error types
        raise SourceError(f"the workbook cannot be opened: {str(exc).splitlines()[0]}",
                          file=inp.path,
                          hint="the file is damaged or not a workbook; open and re-save it in "
                               "Excel") from None
    names = list(reader.sheet_names)
    name = _sheet_name(inp, names, sheet)
    kwargs: dict = {"sheet_name": name, "engine": "calamine", "has_header": has_header,
                    "infer_schema_length": None, "raise_if_empty": False}
    if skip_rows:
        kwargs["read_options"] = {"header_row": skip_rows} if has_header else {"skip_rows": skip_rows}
    if has_header:
        _check_header(inp, reader, name, skip_rows)
    try:
        df = pl.read_excel(inp.target, **kwargs)
    except Exception as exc:
        raise SourceError(f"sheet {name!r} cannot be read: {str(exc).splitlines()[0]}",
                          file=inp.path, hint="open and re-save the workbook in Excel") from None
    df = _recover_numbers(df, nulls, declared, inp, notes)
    first_row = skip_rows + (2 if has_header else 1)  # the worksheet row of data row 1
    return apply_declared_eager(df, declared, inp.path,
                                where=lambda i: f"sheet {name!r}, worksheet row {first_row + i}")


def _check_zip(inp: Input, limits: Limits) -> None:
    """Refuse a workbook whose parts inflate to more than the limits (a zip bomb)."""
    try:
        with zipfile.ZipFile(inp.target) as zf:  # type: ignore[arg-type]
            infos = zf.infolist()
    except zipfile.BadZipFile as exc:
        raise SourceError(f"the workbook is damaged: {exc}", file=inp.path,
                          hint="the file may be truncated; fetch or export it again") from None
    total = sum(i.file_size for i in infos)
    packed = max(sum(i.compress_size for i in infos), 1)
    if total > limits.excel_max_uncompressed or (total > 64 * 1024**2 and
                                                  total / packed > limits.excel_max_ratio):
        raise SourceError(
            f"the workbook inflates to {total:,} bytes ({total / packed:.0f}x its size), over the "
            "limit for a workbook", file=inp.path,
            hint="export the sheet as CSV and read that instead")


def _sheet_name(inp: Input, names: list[str], sheet: str | int | None) -> str:
    if sheet is None:
        if not names:
            raise SourceError("the workbook has no sheets", file=inp.path)
        return names[0]
    if isinstance(sheet, int):
        if 0 <= sheet < len(names):
            return names[sheet]
        raise SourceError(f"there is no sheet at index {sheet} (the workbook has {len(names)})",
                          file=inp.path,
                          hint=f"sheet indexes start at 0; the sheets are: {names}")
    if sheet in names:
        return sheet
    raise SourceError(f"there is no sheet named {sheet!r}", file=inp.path,
                      hint=f"the sheets are: {names}")


def _check_header(inp: Input, reader, name: str, skip_rows: int) -> None:
    """The header row as written, before fastexcel renames duplicates (a_1) and blanks."""
    try:
        raw = reader.load_sheet(name, header_row=None, skip_rows=skip_rows, n_rows=1).to_polars()
    except Exception:
        return  # an empty sheet: nothing to check
    if raw.height == 0:
        return
    values = [None if v is None else str(v) for v in raw.row(0)]
    while values and values[-1] is None:
        values.pop()
    for i, v in enumerate(values):
        if v is None or not v.strip():
            raise SourceError(
                f"column {i + 1} of sheet {name!r} has an empty name", file=inp.path, row=0,
                column=f"#{i + 1}",
                hint="name every column in the header row, or read with has_header=False")
    dups = sorted({v for v in values if values.count(v) > 1})
    if dups:
        raise SourceError(
            f"duplicate column names in sheet {name!r}: {', '.join(map(repr, dups))}",
            file=inp.path, row=0, column=dups[0],
            hint="rename the columns so each is unique, or read with has_header=False")


def _recover_numbers(df: pl.DataFrame, nulls: list[str], declared: dict[str, pl.DataType],
                     inp: Input, notes: list[str]) -> pl.DataFrame:
    """Null markers in text columns become nulls; a text column that is then all numbers (a
    number column with ``NA`` cells) becomes a number column."""
    markers = list(nulls)
    out = []
    for column in df.columns:
        s = df[column]
        if s.dtype != pl.String or column in declared:
            out.append(s)
            continue
        had_nulls = s.null_count()
        if markers:
            s = df.select(pl.when(pl.col(column).str.strip_chars().is_in(markers)).then(None)
                          .otherwise(pl.col(column)).alias(column)).to_series()
        nonnull = s.drop_nulls()
        # Only where markers stood in for missing numbers: a column of text cells such as
        # "007" is text on purpose (codes, ids) and keeps its leading zeros.
        if nonnull.len() and s.null_count() > had_nulls and not nonnull.str.contains(r"^\s*0\d").any():
            stripped = s.str.strip_chars()
            for dtype in (pl.Int64, pl.Float64):
                conv = stripped.cast(dtype, strict=False)
                if conv.null_count() == s.null_count():
                    s = conv.alias(column)
                    break
        if s.dtype == pl.String and nonnull.len():
            as_num = nonnull.str.strip_chars().cast(pl.Float64, strict=False)
            share = as_num.is_not_null().sum() / nonnull.len()
            if 0.5 <= share < 1:
                example = nonnull.filter(as_num.is_null())[0]
                notes.append(f"column {column!r} of {inp.name} is mostly numbers but holds text "
                             f"such as {example!r}; read as {type_name(pl.String)}")
        out.append(s)
    return pl.DataFrame(out)
