"""The live job view: a widget in a front end, compact text lines everywhere else.

>>> job = wb.submit(pipeline)
>>> job            # the last expression of a cell shows the live view
"""

from __future__ import annotations

import sys
import threading
import time
import weakref
from collections import deque
from typing import Any, TextIO


from ..api import read
from ..dataset_store import rows_frame
from ..events import Event
from ..job_handle import Job
from ..textview import TextView, final_lines, progress_line
from . import model
from .display import display_mode, display_widget
from .redraw import redrawer

PREVIEW_ROWS = 10
TICK = 1.0  # seconds between redraws of a running job that sends no events
# Jobs shown in this kernel, by id: a jobs-table Cancel reaches the live handle (a LocalJob's
# cancel flag) rather than only the catalog's request.
_LIVE: weakref.WeakValueDictionary[str, Job] = weakref.WeakValueDictionary()


def live_job(job_id: str) -> Job | None:
    return _LIVE.get(job_id)


def result_preview(result: dict[str, Any] | None, rows: int = PREVIEW_ROWS):
    """The first rows of a job's result as a DataFrame (schema in its header), or None."""
    if not result:
        return None

    if result.get("kind") == "dataset":

        return read(result["name"], version=result.get("version")).head(rows).collect()
    if result.get("kind") == "rows" and result.get("columns"):

        return rows_frame(result).head(rows)
    return None


def preview_html(df: Any) -> str:
    if df is None:
        return ""
    return f'<div class="wb-preview">{df._repr_html_()}</div>'


def summary_html(vm: model.ViewModel, preview: str) -> str:
    if vm.status == "failed" and vm.error:
        return model.error_html(vm.error)
    if vm.status == "cancelled":
        return ('<div class="wb-summary wb-cancelled">Cancelled after '
                f'{vm.elapsed_text}; nothing it wrote became visible.</div>')
    if vm.status == "succeeded" and vm.result:
        r = vm.result
        if r.get("kind") == "dataset":
            head = (f'<b>{r["name"]}</b> v{r.get("version")} · {model.human_count(r.get("rows"))} rows'
                    f' · {model.human_bytes(r.get("bytes"))} · {vm.elapsed_text}')
        else:
            head = f'{model.human_count(r.get("rows"))} rows · {vm.elapsed_text}'
        return f'<div class="wb-summary wb-succeeded">{head}</div>{preview}'
    return ""


class JobView:
    """A VBox showing one job live. Build it with ``show_job(job)`` or ``job.show()``.

    Every widget value comes from ``model.view_model(job.state)``; ``flush()`` draws now (tests
    use it), otherwise the shared redraw thread draws at most every ``interval`` seconds.
    """

    def __init__(self, job: Job, *, interval: float = 0.1, preview_rows: int = PREVIEW_ROWS) -> None:
        # heavy optional dependency: imported on first use
        import ipywidgets as w

        self.job = job
        _LIVE[job.id] = job
        self.interval = interval
        self.preview_rows = preview_rows
        self.header = w.HTML()
        self.bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, bar_style="info",
                                   layout=w.Layout(width="60%"))
        self.percent = w.Label("…")
        self.stats = w.HTML()
        self.steps = w.HTML()
        self.checks = w.HTML()
        self.notes = w.HTML()
        self.cancel_button = w.Button(description="Cancel", icon="stop", button_style="warning",
                                      tooltip="stop the job between batches; nothing partial is kept")
        self.cancel_button.on_click(self._on_cancel)
        self.summary = w.HTML()
        self.widget = w.VBox([self.header, w.HBox([self.bar, self.percent, self.cancel_button]),
                              self.stats, self.steps, self.checks, self.notes, self.summary])
        self.widget.add_class("workbench-job")
        self.vm: model.ViewModel | None = None
        self.latencies: deque[float] = deque(maxlen=10_000)  # event ts -> drawn, seconds
        self.draws = 0
        self._pending: list[float] = []
        self._lock = threading.Lock()
        self._final_drawn = False
        self._preview_error: str | None = None
        self._unsubscribe = job.subscribe(self._on_event)
        self.flush()

    # -- feeding (any thread; cheap) ----------------------------------------------------
    def _on_event(self, event: Event) -> None:
        with self._lock:
            if len(self._pending) < 10_000:
                self._pending.append(event.ts)
        redrawer().request(self)

    def _on_cancel(self, _button: Any = None) -> None:
        self.cancel_button.disabled = True
        self.cancel_button.description = "Cancelling…"
        try:
            self.job.cancel()
        except Exception as exc:  # show why, and let the user try again
            self.cancel_button.disabled = False
            self.cancel_button.description = "Cancel"
            self.notes.value = model.error_html({"type": type(exc).__name__, "message": str(exc)})

    # -- drawing ------------------------------------------------------------------------
    def flush(self) -> None:
        """Draw the current state now, on this thread."""
        self.draw()

    def draw(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        vm = model.view_model(self.job.state)
        self.vm = vm
        self.header.value = model.header_html(vm)
        # no total known yet: an empty bar and the label says "…" rather than a made-up share
        self.bar.value = vm.fraction if vm.fraction is not None else 0.0
        self.bar.bar_style = {"succeeded": "success", "failed": "danger",
                              "cancelled": "warning"}.get(vm.status, "info")
        self.percent.value = vm.percent_text
        self.stats.value = model.stats_html(vm)
        self.steps.value = model.steps_html(vm)
        self.checks.value = model.checks_html(vm)
        self.notes.value = model.notes_html(vm) if vm.retries_text or vm.messages else ""
        # the events are on screen now; the final preview below is extra, not event delay
        drawn = time.time()
        self.latencies.extend(drawn - ts for ts in pending)
        if vm.done:
            self.cancel_button.disabled = True
            self.cancel_button.description = vm.status.capitalize()
            self.cancel_button.layout.display = "none"  # nothing left to cancel
            if not self._final_drawn:
                self._final_drawn = True
                self.summary.value = summary_html(vm, self._preview(vm))
                self._unsubscribe()
                redrawer().forget(self)
        else:
            # elapsed time and the estimate move on between events too (a slow step sends none)
            redrawer().request(self, delay=TICK)
        self.draws += 1

    def _preview(self, vm: model.ViewModel) -> str:
        try:
            return preview_html(result_preview(vm.result, self.preview_rows))
        except Exception as exc:  # the job succeeded; a preview that fails must not hide that
            self._preview_error = f"{type(exc).__name__}: {exc}"
            return f'<div style="color:#777">(no preview: {self._preview_error})</div>'

    # -- display ------------------------------------------------------------------------
    def close(self) -> None:
        self._unsubscribe()
        redrawer().forget(self)

    def _ipython_display_(self) -> None:
        display_widget(self.widget)


def show_job(job: Job, *, mode: str | None = None, stream: TextIO | None = None,
             follow: bool = True) -> JobView | None:
    """Show ``job``: a live widget in a front end; outside one, text lines until it ends.

    Returns the ``JobView`` when a widget was shown (its ``vm`` is the state it shows).
    """
    mode = mode or display_mode()
    if mode == "widget":
        view = JobView(job)
        display_widget(view.widget)
        return view
    show_text(job, stream=stream or sys.stdout, follow=follow)
    return None


def show_text(job: Job, *, stream: TextIO, follow: bool = True) -> None:
    """Compact lines: one per step change or every few seconds, then the outcome."""

    name = job.state.name or ""
    stream.write(f"job {job.id} {name}".rstrip() + "\n")
    if job.done or not follow:
        stream.write(progress_line(job.state) + "\n")
        for line in final_lines(job.state):
            stream.write(line + "\n")
        if not job.done:
            stream.write(f"  ({job.state.status}; job.show() again to follow it)\n")
        stream.flush()
        return
    view = TextView(job, stream, live=False)
    unsubscribe = job.subscribe(view)
    try:
        job.wait()
    except KeyboardInterrupt:  # stop following; the job itself goes on
        stream.write(f"  (stopped following; the job is {job.state.status})\n")
        return
    finally:
        unsubscribe()
    view._finish()
