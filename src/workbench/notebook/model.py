"""What a job view shows, as plain data computed from ``JobState`` only.

The widget and the tests both read this; the widget only turns it into HTML. Nothing here touches
ipywidgets, so it is cheap and runs anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..job_handle import JobState
from ..textview import human_bytes, human_count

STEP_MARKS = {"pending": "○", "running": "◐", "done": "✓", "failed": "✗", "cancelled": "⊘",
              "stopped": "–"}


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
        bytes_text = f"{human_bytes(state.bytes)} of {human_bytes(state.bytes_total)} read"
    else:
        bytes_text = f"{human_bytes(state.bytes)} read" if state.bytes else ""
    if state.bytes_out:  # the write phase's own count: what has reached the sink
        bytes_text = (bytes_text + " · " if bytes_text else "") + f"{human_bytes(state.bytes_out)} written"
    rows_per_s, bytes_per_s = state.rows_per_s, state.bytes_per_s
    if state.stalled():  # a rate from before a stall would drift down while nothing moves
        rows_per_s = bytes_per_s = 0.0
    if state.done and state.elapsed > 0:  # at the end the job's average says more than the last sample
        read = next((s.rows for s in state.steps if s.name == "read" and s.rows), None)
        rows_per_s = (read or state.rows) / state.elapsed  # the rows it went through, not the result's
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
        if s.status == "running" and s.name == state.current_step:
            if state.percent is not None:  # a SQL step's own estimate (DuckDB's query progress)
                bits.append(f"{state.percent:.0f}% of the query")
            elif state.rows:
                bits.append(f"{human_count(state.rows)} rows so far")
            if s.name in ("write", "collect") and state.bytes_out:
                bits.append(f"{human_bytes(state.bytes_out)} written")
            if getattr(state, "phase", ""):
                bits.append(state.phase)
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
