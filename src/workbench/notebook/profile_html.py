"""A dataset profile as a themed table: nulls as numbers and shares with a bar, distinct counts
("≈" when estimated), ranges and means for people, top values as bars."""

from __future__ import annotations

import html
from typing import Any

from ..textview import human_count, human_number
from . import theme
from .tables_html import TABLE, TD, TH

BAR = 80  # px: the width of a full null-share bar


def distinct_text(col: dict[str, Any]) -> str:
    if col.get("distinct") is None:
        return "–"
    return ("≈ " if col.get("distinct_estimated") else "") + human_count(col["distinct"])


def nulls_text(col: dict[str, Any], rows: int) -> str:
    nulls = int(col.get("null_count") or 0)
    share = nulls / rows if rows else 0.0
    return f"{human_count(nulls)} ({share:.1%})"


def _null_bar(share: float) -> str:
    # the empty part is the layout's own surface with a border, so no share looks "full"
    return (f'<div class="wb-null-bar" title="{share:.1%} null" style="display:inline-block;'
            f'width:{BAR}px;height:8px;border:1px solid {theme.BORDER};vertical-align:middle">'
            f'<div style="width:{share * BAR:.0f}px;height:8px;background:{theme.tone("warn")}">'
            f'</div></div>')


def _tops(col: dict[str, Any]) -> str:
    tops = col.get("top_values") or []
    if not tops:
        return ""
    peak = max(t["count"] for t in tops) or 1
    return "".join(
        f'<div style="display:flex;gap:4px;align-items:center;font-size:85%">'
        f'<div style="width:{60 * t["count"] / peak:.0f}px;height:7px;background:{theme.tone("info")}"></div>'
        f'{html.escape(str(t["value"]))[:24]} ({human_count(t["count"])})</div>' for t in tops[:5])


def profile_html(profile: dict[str, Any]) -> str:
    rows = int(profile.get("rows") or 0)
    body = []
    for name, col in (profile.get("columns") or {}).items():
        share = (col.get("null_count") or 0) / rows if rows else 0.0
        cells = [f"<b>{html.escape(name)}</b>", html.escape(str(col.get("type"))),
                 f'{_null_bar(share)} <span class="wb-nulls">{nulls_text(col, rows)}</span>',
                 f'<span class="wb-distinct">{distinct_text(col)}</span>',
                 html.escape(human_number(col["min"])) if "min" in col else "",
                 html.escape(human_number(col["max"])) if "max" in col else "",
                 html.escape(human_number(col["mean"])) if col.get("mean") is not None else "",
                 _tops(col)]
        body.append("<tr>" + "".join(
            f'<td style="{TD}{";text-align:right" if 3 <= i <= 6 else ""}">{c}</td>'
            for i, c in enumerate(cells)) + "</tr>")
    head = "".join(f'<th style="{TH}">{h}</th>' for h in
                   ("column", "type", "nulls", "distinct", "min", "max", "mean", "top values"))
    return (f'<table class="wb-profile" style="{TABLE}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>'
            f'<div style="color:{theme.MUTED};font-size:85%">{human_count(rows)} rows; ≈ marks an '
            f'estimated distinct count</div>')


def profile_text(profile: dict[str, Any]) -> str:
    rows = int(profile.get("rows") or 0)
    lines = [f"{'column':20}  {'type':10}  {'nulls':>16}  {'distinct':>12}  min … max"]
    for name, col in (profile.get("columns") or {}).items():
        rng = ""
        if "min" in col or "max" in col:
            rng = f"{human_number(col.get('min'))} … {human_number(col.get('max'))}"
        lines.append(f"{name[:20]:20}  {str(col.get('type'))[:10]:10}  {nulls_text(col, rows):>16}  "
                     f"{distinct_text(col):>12}  {rng}")
    return "\n".join(lines)


__all__ = ["distinct_text", "nulls_text", "profile_html", "profile_text"]
