"""HTML pieces of a job view, drawn from a ``ViewModel``; every colour from ``theme``.

The live widget shows these pieces in its HTML children; ``static.py`` joins the same pieces into
one static page for saved notebooks, so both look alike.
"""

from __future__ import annotations

import html
from typing import Any

from . import theme
from .model import ViewModel
from .tables_html import rows_table

STEP_TONES = {"done": "success", "running": "info", "failed": "error", "cancelled": "neutral",
              "stopped": "neutral", "pending": "neutral"}


def esc(v: Any) -> str:
    return html.escape(str(v))


def status_badge(status: str) -> str:
    return theme.badge(esc(status), theme.STATUS_TONES.get(status, "neutral"),
                       css_class=f"wb-status wb-status-{esc(status)}")


def header_html(vm: ViewModel) -> str:
    return (f'<b class="wb-title" style="color:{theme.STRONG}">{esc(vm.title)}</b> '
            f'{status_badge(vm.status)} '
            f'<span class="wb-jobid" style="color:{theme.MUTED};font-size:85%">job {esc(vm.job_id)}</span>')


def bar_html(vm: ViewModel) -> str:
    """A progress bar drawn with two divs (the static copy; the live view uses the widget's)."""
    share = vm.fraction if vm.fraction is not None else 0.0
    fill = theme.tone(theme.STATUS_TONES.get(vm.status, "info"))
    return (f'<div class="wb-bar-row" style="display:flex;align-items:center;gap:8px;margin:2px 0">'
            f'<div class="wb-bar" style="width:60%;height:10px;background:var(--jp-layout-color2);'
            f'border:1px solid {theme.BORDER};border-radius:2px">'
            f'<div class="wb-bar-fill" style="width:{share * 100:.1f}%;height:100%;background:{fill}">'
            f'</div></div><span class="wb-percent" style="color:{theme.TEXT}">{esc(vm.percent_text)}'
            f'</span></div>')


def stats_html(vm: ViewModel) -> str:
    cells = [("step", vm.current_step or "–"), ("rows", vm.rows_text), ("bytes", vm.bytes_text or "–"),
             ("throughput", vm.throughput_text or "–"), ("elapsed", vm.elapsed_text),
             ("left", vm.eta_text)]
    if vm.done:  # an ended job has no running step and nothing left: the steps below say the rest
        cells = [c for c in cells if c[0] not in ("step", "left")]
    return (f'<div class="wb-stats" style="font-size:90%;color:{theme.TEXT}">' + " &nbsp;·&nbsp; ".join(
        f'<span class="wb-stat-{k}"><span style="color:{theme.MUTED}">{k}</span> {esc(v)}</span>'
        for k, v in cells) + "</div>")


def steps_html(vm: ViewModel) -> str:
    rows = "".join(
        # no stripes: JupyterLab's table rows alternate a tint that reads as a selected step
        f'<tr class="wb-step wb-step-{esc(s.status)}" style="background:none">'
        f'<td style="color:{theme.tone_text(STEP_TONES.get(s.status, "neutral"))};padding:0 4px">'
        f'{s.mark}</td><td style="color:{theme.TEXT};padding:0 6px">{esc(s.name)}</td>'
        f'<td style="color:{theme.MUTED};padding:0 6px">{esc(s.status)}</td>'
        f'<td style="color:{theme.MUTED};padding:0 6px">{esc(s.detail)}</td></tr>' for s in vm.steps)
    return (f'<table class="wb-steps" style="font-size:90%;border-collapse:collapse">{rows}</table>'
            if rows else "")


def check_html(c: dict[str, Any]) -> str:
    if c.get("passed"):
        mark, tone_name = "✓", "success"
    elif c.get("severity") == "warn":
        mark, tone_name = "!", "warn"
    else:
        mark, tone_name = "✗", "error"
    text = f'<span style="color:{theme.TEXT}">{esc(c.get("name") or "check")}</span>'
    if c.get("message"):
        text += f' <span style="color:{theme.MUTED}">{esc(c["message"])}</span>'
    out = (f'<li class="wb-check wb-check-{tone_name}" style="list-style:none">'
           f'<span style="color:{theme.tone_text(tone_name)};font-weight:bold">{mark}</span> {text}')
    examples = c.get("examples") or []
    if not c.get("passed") and examples:
        out += (f'<div class="wb-examples" style="margin:2px 0 4px 16px">'
                f'<span style="color:{theme.MUTED};font-size:90%">first {len(examples[:5])} offending '
                f'row{"s" if len(examples) > 1 else ""}</span>{rows_table(examples[:5])}</div>')
    return out + "</li>"


def checks_html(vm: ViewModel) -> str:
    if not vm.checks:
        return ""
    items = "".join(check_html(c) for c in vm.checks)
    return f'<ul class="wb-checks" style="margin:2px 0;padding-left:4px;font-size:90%">{items}</ul>'


def notes_html(vm: ViewModel) -> str:
    lines = ([vm.retries_text] if vm.retries_text else []) + vm.messages[-5:]
    return "".join(
        f'<div class="wb-note" style="color:{theme.tone_text("warn")};font-size:90%">{esc(t)}</div>'
        for t in lines)


def error_html(error: dict[str, Any], *, sql: str | None = None,
               columns: list[str] | None = None) -> str:
    """The error box: which step failed, what, where, the hint; for SQL, the statement with the
    failing place marked and the columns ``input`` has."""
    step = error.get("step")
    title = esc(error.get("type") or "Error")
    where = ", ".join(f"{k} {error[k]}" for k in ("file", "row", "column")
                      if error.get(k) is not None)
    out = (f'<div class="wb-error" style="{theme.box("error")}">'
           + (f'<div class="wb-error-step" style="color:{theme.TEXT};font-size:90%">step '
              f'<b style="color:{theme.TEXT}">{esc(step)}</b> failed</div>' if step else "")
           + f'<b style="color:{theme.tone_text("error")}">{title}</b>: '
           f'<span class="wb-error-message">{esc(error.get("message") or "")}</span>')
    if where:
        out += f'<div class="wb-error-where" style="color:{theme.TEXT}">{esc(where)}</div>'
    if sql:
        out += sql_html(sql, error)
    if columns:
        out += (f'<div class="wb-input-columns" style="color:{theme.TEXT}">columns of '
                f'<code>input</code>: {", ".join(f"<code>{esc(c)}</code>" for c in columns)}</div>')
    if error.get("hint"):
        out += f'<div class="wb-hint" style="color:{theme.TEXT}">Hint: {esc(error["hint"])}</div>'
    return out + "</div>"


def sql_position(sql: str, error: dict[str, Any]) -> tuple[int, int] | None:
    """Where in ``sql`` the error points: a named column, or the text DuckDB quotes ("near x")."""
    import re

    message = str(error.get("message") or "")
    targets = []
    if error.get("column"):
        targets.append(str(error["column"]))
    targets += re.findall(r'(?:near|at or near|column|Referenced column) "([^"]+)"', message)
    for t in targets:
        m = re.search(re.escape(t), sql, flags=re.IGNORECASE)
        if m:
            return m.start(), m.end()
    return None


def sql_html(sql: str, error: dict[str, Any]) -> str:
    pos = sql_position(sql, error)
    if pos is None:
        body = esc(sql)
    else:
        a, b = pos
        body = (esc(sql[:a]) + f'<mark class="wb-sql-mark" style="background:{theme.tone_background("error", 30)};'
                f'color:{theme.STRONG};text-decoration:underline wavy {theme.tone("error")}">'
                f'{esc(sql[a:b])}</mark>' + esc(sql[b:]))
    return (f'<pre class="wb-sql" style="font-family:{theme.MONO};background:{theme.SURFACE};'
            f'color:{theme.TEXT};border:1px solid {theme.BORDER};padding:4px;margin:4px 0;'
            f'white-space:pre-wrap">{body}</pre>')


def exception_html(err: BaseException) -> str:
    """``error_html`` for any exception (a ``WorkbenchError`` keeps its where and hint)."""
    from ..errors import WorkbenchError

    if isinstance(err, WorkbenchError):
        return error_html(err.to_dict())
    return error_html({"type": type(err).__name__, "message": str(err)})


def message_html(text: str) -> str:
    """A one-line status message in a form (not an error)."""
    return f'<div class="wb-message" style="color:{theme.TEXT}">{text}</div>'


__all__ = ["bar_html", "check_html", "checks_html", "error_html", "exception_html", "header_html",
           "message_html",
           "notes_html", "sql_html", "stats_html", "status_badge", "steps_html"]
