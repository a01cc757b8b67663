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

from ..events import Event
from ..job_handle import Job
from . import model, render, static, theme
from .display import Shown, display_mode, show_bundle
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
        from ..api import read

        return read(result["name"], version=result.get("version")).head(rows).collect()
    if result.get("kind") == "rows" and result.get("columns"):
        from ..dataset_store import rows_frame

        return rows_frame(result).head(rows)
    return None


def preview_html(df: Any, total: int | None = None) -> str:
    if df is None:
        return ""
    from .tables_html import frame_table

    return f'<div class="wb-preview">{frame_table(df, total=total)}</div>'


def final_summary(job: Job, vm: model.ViewModel, rows: int = PREVIEW_ROWS
                  ) -> tuple[str, str, str | None]:
    """The finished job's summary HTML, its preview as text, and why there is no preview."""
    from .sqlcontext import sql_context
    from .tables_html import frame_text

    preview, text, problem = "", "", None
    if vm.status == "succeeded":
        try:
            df = result_preview(vm.result, rows)
        except Exception as exc:  # the job succeeded; a preview that fails must not hide that
            problem = f"{type(exc).__name__}: {exc}"
            preview = f'<div style="color:{theme.MUTED}">(no preview: {render.esc(problem)})</div>'
        else:
            if df is not None:
                text = frame_text(df)
                preview = preview_html(df, total=(vm.result or {}).get("rows"))
    context = sql_context(job.id, vm.error) if vm.status == "failed" else {}
    return static.summary_html(vm, preview, **context), text, problem


class JobView:
    """A VBox showing one job live. Build it with ``show_job(job)`` or ``job.show()``.

    Every widget value comes from ``model.view_model(job.state)``; ``flush()`` draws now (tests
    use it), otherwise the shared redraw thread draws at most every ``interval`` seconds.
    """

    def __init__(self, job: Job, *, interval: float = 0.1, preview_rows: int = PREVIEW_ROWS) -> None:
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
        # no button_style: the styled buttons put white text on a mid-tone (under 4.5:1 in a theme)
        self.cancel_button = w.Button(description="Cancel", icon="stop",
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
        self._show_lock = threading.RLock()  # the final draw and the display, never interleaved
        self._final_drawn = False
        self._preview_error: str | None = None
        self._preview_text = ""
        self.shown: Shown | None = None
        # set once the final state is drawn and the saved copy refreshed (a gate for tests and
        # for a cell that must not end before it: nbclient applies updates only while it runs)
        self.final_drawn = threading.Event()
        self._on_final: list[Any] = []
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
            self.notes.value = render.error_html({"type": type(exc).__name__, "message": str(exc)})

    # -- drawing ------------------------------------------------------------------------
    def flush(self) -> None:
        """Draw the current state now, on this thread."""
        self.draw()

    def draw(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        vm = model.view_model(self.job.state)
        self.vm = vm
        self.header.value = render.header_html(vm)
        # no total known yet: an empty bar and the label says "…" rather than a made-up share
        self.bar.value = vm.fraction if vm.fraction is not None else 0.0
        self.bar.bar_style = {"succeeded": "success", "failed": "danger",
                              "cancelled": ""}.get(vm.status, "info")
        self.percent.value = vm.percent_text
        self.stats.value = render.stats_html(vm)
        self.steps.value = render.steps_html(vm)
        self.checks.value = render.checks_html(vm)
        self.notes.value = render.notes_html(vm) if vm.retries_text or vm.messages else ""
        # the events are on screen now; the final preview below is extra, not event delay
        drawn = time.time()
        self.latencies.extend(drawn - ts for ts in pending)
        if vm.done:
            self.cancel_button.disabled = True
            self.cancel_button.description = vm.status.capitalize()
            self.cancel_button.layout.display = "none"  # nothing left to cancel
            with self._show_lock:  # once, whichever thread gets here first
                if not self._final_drawn:
                    self._final_drawn = True
                    self.summary.value = self._summary(vm)
                    self._unsubscribe()
                    redrawer().forget(self)
                    if self.shown is not None:
                        # the finished job is static: its saved copy no longer needs the kernel
                        self.shown.update(self.static_bundle(live=False))
                    self.final_drawn.set()
                    for callback in self._on_final:
                        try:
                            callback()
                        except Exception:  # a container's refresh must not break the view
                            pass
        else:
            # elapsed time and the estimate move on between events too (a slow step sends none)
            redrawer().request(self, delay=TICK)
        self.draws += 1

    def _summary(self, vm: model.ViewModel) -> str:
        summary, self._preview_text, self._preview_error = final_summary(self.job, vm, self.preview_rows)
        return summary

    def when_final(self, callback: Any) -> None:
        """Call ``callback()`` once the finished state is drawn (at once if it already is)."""
        with self._show_lock:
            if not self._final_drawn:
                self._on_final.append(callback)
                return
        callback()

    # -- static copies --------------------------------------------------------------------
    def static_bundle(self, *, live: bool = True) -> dict[str, Any]:
        """The display data: the widget view (``live``) beside static HTML and text."""
        vm = self.vm or model.view_model(self.job.state)
        html = static.job_html(vm, self.summary.value)
        text = static.job_text(self.job.state, self._preview_text)
        return static.bundle(html, text, model_id=self.widget.model_id if live else None)

    # -- display ------------------------------------------------------------------------
    def close(self) -> None:
        self._unsubscribe()
        redrawer().forget(self)

    def display(self) -> None:
        """Show it as an output of its own, updated in place when the job ends."""
        with self._show_lock:
            self.shown = show_bundle(self.static_bundle(live=not self._final_drawn))

    def _ipython_display_(self) -> None:
        self.display()


def show_job(job: Job, *, mode: str | None = None, stream: TextIO | None = None,
             follow: bool = True) -> JobView | None:
    """Show ``job``: a live widget in a front end; outside one, text lines until it ends.

    Returns the ``JobView`` when a widget was shown (its ``vm`` is the state it shows).
    """
    mode = mode or display_mode()
    if mode == "widget":
        view = JobView(job)
        view.display()
        return view
    show_text(job, stream=stream or sys.stdout, follow=follow)
    if job.done:
        show_static(job)
    return None


def show_static(job: Job) -> None:
    """Outside a front end (papermill, nbconvert, nbval): the finished job as a static output,
    so the saved notebook shows it like the live view would have."""
    from .display import _ipython

    if _ipython() is None:
        return
    vm = model.view_model(job.state)
    summary, text, _ = final_summary(job, vm)
    show_bundle(static.bundle(static.job_html(vm, summary), static.job_text(job.state, text)))


def show_text(job: Job, *, stream: TextIO, follow: bool = True) -> None:
    """Compact lines: one per step change or every few seconds, then the outcome."""
    from ..textview import TextView, final_lines, progress_line

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
