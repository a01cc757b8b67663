"""Data as themed HTML tables: result previews, offending rows, profiles.

Numbers are formatted for people (``58,381.81``, ``2.50 M``) and right-aligned; text is escaped
and left as it is. Our own tables rather than a DataFrame's ``_repr_html_`` so the colours follow
the theme and the numbers read the same everywhere.
"""

from __future__ import annotations

import html
from typing import Any, Iterable, Sequence

from ..textview import human_count, human_number
from . import theme

MAX_TEXT = 80  # characters of one cell; the whole value stays in the cell's tooltip

TABLE = f"border-collapse:collapse;font-size:90%;color:{theme.TEXT};margin:2px 0"
TH = (f"text-align:left;padding:2px 8px;border-bottom:1px solid {theme.BORDER};color:{theme.STRONG};"
      "font-weight:bold")
TD = "padding:1px 8px;vertical-align:top;text-align:left"


def cell(v: Any) -> str:
    """One ``<td>``: numbers right-aligned and human, long text cut with the whole as a tooltip."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f'<td style="{TD};text-align:right;font-variant-numeric:tabular-nums">{human_number(v)}</td>'
    text = human_number(v)
    if v is None:
        return f'<td style="{TD};color:{theme.MUTED}">null</td>'
    if len(text) > MAX_TEXT:
        return (f'<td style="{TD}" title="{html.escape(text)}">{html.escape(text[:MAX_TEXT])}…</td>')
    return f'<td style="{TD}">{html.escape(text)}</td>'


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, types: Sequence[str] | None = None,
          css_class: str = "wb-table") -> str:
    head = "".join(
        f'<th style="{TH}">{html.escape(str(c))}'
        + (f'<div style="color:{theme.MUTED};font-weight:normal;font-size:85%">{html.escape(t)}</div>'
           if types else "") + "</th>"
        for c, t in zip(columns, types or [""] * len(columns)))
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    return (f'<table class="{css_class}" style="{TABLE}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{body}</tbody></table>')


def rows_table(records: list[dict[str, Any]]) -> str:
    """Rows given as dicts (a check's offending rows)."""
    if not records:
        return ""
    columns = list(records[0])
    return table(columns, ([r.get(c) for c in columns] for r in records), css_class="wb-table wb-rows")


def short_type(dtype: Any) -> str:
    """The type as Polars prints it over a column (``i64``, ``str``, ``datetime[μs]``)."""
    try:
        return dtype._string_repr()
    except Exception:  # a private helper: fall back to the long name
        return str(dtype)


def frame_table(df: Any, *, total: int | None = None) -> str:
    """A Polars DataFrame's rows with its schema under the column names."""
    note = ""
    if total is not None and total > df.height:
        note = (f'<div style="color:{theme.MUTED};font-size:85%">first {human_count(df.height)} of '
                f'{human_count(total)} rows</div>')
    return table(df.columns, df.iter_rows(), types=[short_type(t) for t in df.dtypes],
                 css_class="wb-table wb-frame") + note


def frame_text(df: Any) -> str:
    """The same rows as plain text (the static ``text/plain`` copy)."""
    import polars as pl

    with pl.Config(tbl_rows=df.height, tbl_cols=df.width, fmt_str_lengths=MAX_TEXT,
                   thousands_separator=",", float_precision=2):
        return str(df)


__all__ = ["cell", "frame_table", "frame_text", "rows_table", "table"]
