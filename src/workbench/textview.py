"""Job progress as text: a live bar on a terminal, compact lines everywhere else.

Used by the CLI and by notebooks run outside a front end (papermill, nbconvert), so scheduled runs
leave readable logs.
"""

from __future__ import annotations

import math
import shutil
import sys
import threading
import time
from typing import TextIO

from .events import Event
from .job_handle import Job, JobState


def human_bytes(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def human_count(n: float | None) -> str:
    """A count for people: exact with thousands separators below a million (``205,731``),
    then two decimals and a unit (``2.50 M``, ``1.20 bn``)."""
    if n is None:
        return "?"
    if abs(n) >= 1e9:
        return f"{n / 1e9:.2f} bn"
    if abs(n) >= 1e6:
        return f"{n / 1e6:.2f} M"
    return f"{int(round(n)):,}"


def human_number(v: object) -> str:
    """A value for people, in statistics and previews: ``58,381.81``, ``1,204``, ``3``,
    ``0.01235``, ``2.50 M``; text and other types as they are, never reformatted."""
    if v is None:
        return "null"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if abs(v) >= 1e6:
        return human_count(v)
    if isinstance(v, int) or v == int(v):
        return f"{int(v):,}"
    return f"{v:,.2f}" if abs(v) >= 1 else f"{v:.4g}"


def fit(line: str, width: int | None) -> str:
    """Cut a line to ``width`` characters with an ellipsis (a terminal wraps it otherwise)."""
    if width is None or len(line) <= width:
        return line
    return line[: max(width - 1, 0)] + "…"


def terminal_width(stream: TextIO) -> int | None:
    """The width to fit lines to on a terminal; None (no cutting) for pipes, files and logs."""
    isatty = getattr(stream, "isatty", None)
    return shutil.get_terminal_size().columns if isatty and isatty() else None


def human_time(ts: float | None, *, seconds: bool = True) -> str:
    """A local wall-clock time for listings, or "-" when there is none."""
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return time.strftime(fmt, time.localtime(ts)) if ts else "-"


def datasets_text(items: list, *, empty: str = "no datasets yet", width: int | None = None) -> str:
    """The datasets listing as plain text (the CLI, and notebooks outside a front end); with a
    ``width``, each row is cut to it rather than wrapped."""
    if not items:
        return empty
    name_w = max(4, min(32, max(len(d.name) for d in items)))
    lines = [f"{'name':{name_w}}  {'version':>7}  {'rows':>8}  {'size':>8}  {'created':16}  columns"]
    for d in items:
        lines.append(f"{d.name:{name_w}}  {d.version:>7}  {human_count(d.rows):>8}  "
                     f"{human_bytes(d.bytes):>8}  {human_time(d.created_at, seconds=False):16}  "
                     f"{', '.join(d.columns)}")
    return "\n".join(fit(line, width) for line in lines)


def progress_line(state: JobState, width: int = 24) -> str:
    frac = state.fraction
    bar = ""
    if frac is not None:
        filled = int(frac * width)
        bar = "[" + "#" * filled + "-" * (width - filled) + f"] {frac * 100:5.1f}% "
    step = state.current_step or state.status
    if getattr(state, "phase", "") and not state.done:
        step += f" ({state.phase})"
    parts = [f"{bar}{step}", f"{human_count(state.rows)} rows"]
    if state.bytes_total:
        parts.append(f"{human_bytes(state.bytes)}/{human_bytes(state.bytes_total)}")
    if not state.done and state.status == "running" and state.stalled():
        parts.append("– rows/s")  # a rate from before a stall would drift down while nothing moves
    else:
        if state.rows_per_s:
            parts.append(f"{human_count(state.rows_per_s)} rows/s")
        if state.bytes_per_s:
            parts.append(f"{human_bytes(state.bytes_per_s)}/s")
    parts.append(f"{state.elapsed:.1f}s")
    if state.eta is not None:
        parts.append(f"eta {state.eta:.0f}s")
    return "  ".join(parts)


def final_lines(state: JobState) -> list[str]:
    lines = []
    for c in state.checks:
        mark = "ok  " if c["passed"] else ("WARN" if c["severity"] == "warn" else "FAIL")
        lines.append(f"  check {mark} {c['name']}" + (f": {c['message']}" if c.get("message") else ""))
    if state.status == "succeeded" and state.result:
        r = state.result
        if r.get("kind") == "dataset":
            lines.append(f"done: {r['name']} v{r['version']}  {human_count(r['rows'])} rows  "
                         f"{human_bytes(r['bytes'])}  in {state.elapsed:.2f}s")
        else:
            lines.append(f"done: {r.get('rows')} rows in {state.elapsed:.2f}s")
    elif state.status == "failed" and state.error:
        e = state.error
        where = ", ".join(f"{k} {e[k]}" for k in ("file", "row", "column", "step") if e.get(k) is not None)
        lines.append(f"failed: {e.get('type')}: {e.get('message')}" + (f" ({where})" if where else ""))
        if e.get("hint"):
            lines.append(f"  hint: {e['hint']}")
    elif state.status == "cancelled":
        lines.append(f"cancelled after {state.elapsed:.1f}s")
    return lines


class TextView:
    """Subscribes to a job and writes progress; a live bar only on a terminal."""

    def __init__(self, job: Job, stream: TextIO | None = None, *, live: bool | None = None,
                 interval: float | None = None) -> None:
        self.job = job
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.interval = interval if interval is not None else (0.1 if self.live else 2.0)
        self._last = 0.0
        self._last_step: str | None = None
        self._closed = False
        # the job's thread (terminal event) and the waiting thread both finish the view: the
        # second must not return before the first has written the summary
        self._finish_lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        st = self.job.state
        now = time.monotonic()
        if event.terminal:
            self._finish()
            return
        if event.kind in ("message", "retrying"):
            text = getattr(event, "text", None) or f"retrying (attempt {getattr(event, 'attempt', '?')}): " \
                f"{getattr(event, 'error', {}).get('message')}"
            self._write_line(f"  {text}")
            return
        step_changed = st.current_step != self._last_step
        if not step_changed and now - self._last < self.interval:
            return
        self._last, self._last_step = now, st.current_step
        line = fit(progress_line(st), self.width)
        if self.live:
            self.stream.write("\r\x1b[2K" + line)
            self.stream.flush()
        else:
            self._write_line(line)

    def _write_line(self, line: str) -> None:
        if self.live:
            self.stream.write("\r\x1b[2K")
        self.stream.write(line + "\n")
        self.stream.flush()

    @property
    def width(self) -> int | None:
        # a live line longer than the terminal wraps, and "\r" then redraws only its last part
        return terminal_width(self.stream) - 1 if self.live and terminal_width(self.stream) else None

    def _finish(self) -> None:
        with self._finish_lock:
            self._finish_locked()

    def _finish_locked(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.live:
            self.stream.write("\r\x1b[2K" + fit(progress_line(self.job.state), self.width) + "\n")
        for line in final_lines(self.job.state):
            self.stream.write(line + "\n")
        self.stream.flush()


def follow(job: Job, stream: TextIO | None = None, *, live: bool | None = None) -> Job:
    """Print a job's progress until it ends."""
    view = TextView(job, stream, live=live)
    unsubscribe = job.subscribe(view)
    try:
        job.wait()
    finally:
        unsubscribe()
    view._finish()
    return job
