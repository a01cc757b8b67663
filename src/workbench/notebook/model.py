"""What a job view shows, as plain data computed from ``JobState`` only.

The widget and the tests both read this; the widget only turns it into HTML. Nothing here touches
ipywidgets, so it is cheap and runs anywhere.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from ..errors import WorkbenchError
from ..job_handle import JobState
from ..textview import human_bytes, human_count

STEP_MARKS = {"pending": "○", "running": "◐", "done": "✓", "failed": "✗", "cancelled": "⊘"}


def human_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m}m {sec:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m"


@dataclass
class StepRow:
    name: str
    status: str
    detail: str

    @property
    def mark(self) -> str:
        return STEP_MARKS.get(self.status, "?")


@dataclass
class ViewModel:
    job_id: str
    title: str
    status: str
    fraction: float | None  # 0..1, None when the total is unknown (an indeterminate bar)
    percent_text: str
    current_step: str | None
    steps: list[StepRow]
    rows_text: str
    bytes_text: str
    throughput_text: str
    elapsed_text: str
    eta_text: str
    checks: list[dict[str, Any]]
    retries_text: str
    messages: list[str]
    error: dict[str, Any] | None
    result: dict[str, Any] | None
    done: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cancellable(self) -> bool:
        return not self.done


def view_model(state: JobState) -> ViewModel:
    frac = state.fraction
    rows = state.rows
    if not rows and state.status == "succeeded" and state.result:
        rows = state.result.get("rows") or 0  # a reattached job: only its record is known
    if state.rows_total:
        rows_text = f"{human_count(rows)} of {human_count(state.rows_total)} rows"
    else:
        rows_text = f"{human_count(rows)} rows"
    if state.bytes_total:
        bytes_text = f"{human_bytes(state.bytes)} of {human_bytes(state.bytes_total)}"
    else:
        bytes_text = human_bytes(state.bytes) if state.bytes else ""
    rows_per_s, bytes_per_s = state.rows_per_s, state.bytes_per_s
    if state.done and state.elapsed > 0:  # at the end the job's average says more than the last sample
        rows_per_s = state.rows / state.elapsed
        bytes_per_s = (state.bytes or 0) / state.elapsed
    parts = []
    if rows_per_s:
        parts.append(f"{human_count(rows_per_s)} rows/s")
    if bytes_per_s:
        parts.append(f"{human_bytes(bytes_per_s)}/s")
    steps = []
    for s in state.steps:
        bits = []
        if s.rows is not None:
            bits.append(f"{human_count(s.rows)} rows")
        if s.seconds:
            bits.append(human_seconds(s.seconds))
        if s.status == "running" and s.name == state.current_step and state.rows:
            bits.append(f"{human_count(state.rows)} rows so far")
        steps.append(StepRow(s.name, s.status, " · ".join(bits)))
    retries = ""
    if state.retries:
        msg = (state.error or {}).get("message", "")
        retries = f"retried {state.retries}× (attempt {state.attempt})" + (f": {msg}" if msg else "")
    return ViewModel(
        job_id=state.job_id,
        title=state.name or state.job_id[:12],
        status=state.status,
        fraction=frac,
        percent_text=f"{frac * 100:.0f}%" if frac is not None else "…",
        current_step=state.current_step,
        steps=steps,
        rows_text=rows_text,
        bytes_text=bytes_text,
        throughput_text=" · ".join(parts),
        elapsed_text=human_seconds(state.elapsed) if state.started_at else "–",
        eta_text=human_seconds(state.eta) if state.eta is not None else "–",
        checks=list(state.checks),
        retries_text=retries,
        messages=list(state.messages),
        error=state.error if state.status in ("failed",) else None,
        result=state.result if state.status == "succeeded" else None,
        done=state.done,
    )


# ----------------------------------------------------------------------------- HTML pieces
_STATUS_COLOURS = {"queued": "#777", "running": "#1a73e8", "retrying": "#e37400",
                   "succeeded": "#188038", "failed": "#d93025", "cancelled": "#777"}


def status_badge(status: str) -> str:
    colour = _STATUS_COLOURS.get(status, "#777")
    return (f'<span class="wb-status wb-status-{html.escape(status)}" style="background:{colour};'
            f'color:#fff;border-radius:3px;padding:1px 6px;font-size:90%">{html.escape(status)}</span>')


def header_html(vm: ViewModel) -> str:
    return (f'<b class="wb-title">{html.escape(vm.title)}</b> {status_badge(vm.status)} '
            f'<span style="color:#777;font-size:85%">job {html.escape(vm.job_id)}</span>')


def stats_html(vm: ViewModel) -> str:
    cells = [("step", vm.current_step or "–"), ("rows", vm.rows_text), ("bytes", vm.bytes_text or "–"),
             ("throughput", vm.throughput_text or "–"), ("elapsed", vm.elapsed_text),
             ("left", vm.eta_text)]
    return ('<div class="wb-stats" style="font-size:90%">' + " &nbsp;·&nbsp; ".join(
        f'<span class="wb-stat-{k}"><span style="color:#777">{k}</span> {html.escape(v)}</span>'
        for k, v in cells) + "</div>")


def steps_html(vm: ViewModel) -> str:
    rows = "".join(
        f'<tr class="wb-step wb-step-{html.escape(s.status)}"><td>{s.mark}</td>'
        f'<td>{html.escape(s.name)}</td><td style="color:#777">{html.escape(s.status)}</td>'
        f'<td style="color:#777">{html.escape(s.detail)}</td></tr>' for s in vm.steps)
    return f'<table class="wb-steps" style="font-size:90%">{rows}</table>' if rows else ""


def checks_html(vm: ViewModel) -> str:
    if not vm.checks:
        return ""
    items = []
    for c in vm.checks:
        if c.get("passed"):
            mark, colour = "✓", "#188038"
        elif c.get("severity") == "warn":
            mark, colour = "!", "#e37400"
        else:
            mark, colour = "✗", "#d93025"
        text = html.escape(str(c.get("name") or "check"))
        if c.get("message"):
            text += f' <span style="color:#777">{html.escape(str(c["message"]))}</span>'
        items.append(f'<li class="wb-check"><span style="color:{colour}">{mark}</span> {text}</li>')
    return f'<ul class="wb-checks" style="margin:2px 0;font-size:90%">{"".join(items)}</ul>'


def notes_html(vm: ViewModel) -> str:
    lines = ([vm.retries_text] if vm.retries_text else []) + vm.messages[-5:]
    return "".join(f'<div class="wb-note" style="color:#e37400;font-size:90%">{html.escape(t)}</div>'
                   for t in lines)


def error_html(error: dict[str, Any]) -> str:
    where = ", ".join(f"{k} {error[k]}" for k in ("file", "row", "column", "step")
                      if error.get(k) is not None)
    out = (f'<div class="wb-error" style="border-left:4px solid #d93025;padding:4px 8px;'
           f'background:#fce8e6"><b>{html.escape(str(error.get("type") or "Error"))}</b>: '
           f'{html.escape(str(error.get("message") or ""))}')
    if where:
        out += f'<div style="color:#555">{html.escape(where)}</div>'
    if error.get("hint"):
        out += f'<div class="wb-hint">Hint: {html.escape(str(error["hint"]))}</div>'
    return out + "</div>"


def exception_html(err: BaseException) -> str:
    """``error_html`` for any exception (a ``WorkbenchError`` keeps its where and hint)."""
    if isinstance(err, WorkbenchError):
        return error_html(err.to_dict())
    return error_html({"type": type(err).__name__, "message": str(err)})
