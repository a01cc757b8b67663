"""``wb.jobs()``: recent jobs as an aligned table; Cancel on running jobs, Re-run on finished ones;
selecting a row (click, or Enter on a focused row) shows that job's view under the table."""

from __future__ import annotations

import html
import threading
import time
from typing import Any

from ..context import Context
from ..errors import WorkbenchError
from ..textview import human_time as _when
from . import static, theme
from .model import human_seconds
from .render import error_html, status_badge
from .selectable import STYLES, selectable_table
from .tables_html import TABLE

ACTIVE = ("queued", "running", "retrying")
COLUMNS = ("status", "dataset", "who", "started", "duration", "error", "")
SHORT_ERROR = 60  # characters of an error shown in the row; the rest on expand


def target(j: dict[str, Any]) -> str:
    """What the job writes to: its dataset (or table), else "rows" for a preview-style job."""
    sink = (j.get("spec") or {}).get("sink") or {}
    return sink.get("name") or sink.get("table") or ("(rows)" if j.get("spec") else j.get("name") or "")


def duration(j: dict[str, Any]) -> float | None:
    if not j.get("started_at"):
        return None
    return (j.get("finished_at") or time.time()) - j["started_at"]


def error_cell(j: dict[str, Any]) -> str:
    err = (j.get("error") or {}) if j["status"] == "failed" else {}
    text = str(err.get("message") or "")
    if not text:
        return ""
    style = f"color:{theme.tone_text('error')};display:block;max-width:{SHORT_ERROR}ch"
    if len(text) <= SHORT_ERROR:
        return f'<span class="wb-job-error" style="{style}">{html.escape(text)}</span>'
    return (f'<details class="wb-job-error" style="{style}"><summary style="cursor:pointer;'
            f'white-space:nowrap;overflow:hidden;text-overflow:ellipsis">{html.escape(text[:SHORT_ERROR])}…'
            f'</summary><div style="color:{theme.TEXT};white-space:normal">{html.escape(text)}'
            + (f'<div>Hint: {html.escape(str(err["hint"]))}</div>' if err.get("hint") else "")
            + "</div></details>")


def row_cells(j: dict[str, Any]) -> list[str]:
    d = duration(j)
    return [status_badge(j["status"]), f'<b>{html.escape(target(j))}</b>',
            html.escape(j.get("owner") or "–"), html.escape(_when(j.get("started_at") or j.get("submitted_at"))),
            human_seconds(d) if d else "–", error_cell(j)]


def actions(j: dict[str, Any]) -> dict[str, str]:
    """Cancel while a job can still be stopped, Re-run once it has ended."""
    if j["status"] in ACTIVE:
        return {"action": "cancel", "label": "Cancel", "title": f"cancel job {j['id']}"}
    return {"action": "rerun", "label": "Re-run", "title": f"run job {j['id']}'s pipeline again"}


def jobs_text(items: list[dict[str, Any]]) -> str:
    if not items:
        return "no jobs yet"
    lines = [f"{'id':12}  {'status':9}  {'dataset':16}  {'who':10}  {'started':19}  {'duration':>9}  error"]
    for j in items:
        d = duration(j)
        err = (j.get("error") or {}).get("message", "") if j["status"] == "failed" else ""
        lines.append(f"{j['id'][:12]:12}  {j['status']:9}  {target(j)[:16]:16}  {(j.get('owner') or '-')[:10]:10}  "
                     f"{_when(j.get('started_at') or j['submitted_at']):19}  "
                     f"{human_seconds(d) if d else '-':>9}  {err[:SHORT_ERROR]}")
    return "\n".join(lines)


def jobs_html(items: list[dict[str, Any]], selected: str | None = None) -> str:
    """The same table as static HTML (the output's saved copy); the selected row tinted."""
    if not items:
        return f'<div class="workbench-jobs" style="color:{theme.TEXT}">no jobs yet</div>'
    head = "".join(f'<th style="text-align:left;padding:2px 8px;border-bottom:1px solid {theme.BORDER}">'
                   f'{c}</th>' for c in COLUMNS[:-1])
    body = "".join(
        (f'<tr class="wb-selected" style="{STYLES["selected"]}">' if j["id"] == selected else "<tr>")
        + "".join(f'<td style="padding:1px 8px;vertical-align:top">{c}</td>' for c in row_cells(j))
        + "</tr>" for j in items)
    return (f'<div class="workbench-jobs" style="color:{theme.TEXT}"><b>Recent jobs</b>'
            f'<table class="wb-table wb-jobs" style="{TABLE}">'
            f'<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>')


class JobsTable:
    """Recent jobs; refreshes itself every ``interval`` seconds while any job is active."""

    def __init__(self, *, limit: int = 20, interval: float = 2.0, auto: bool = True) -> None:
        import ipywidgets as w

        self.limit, self.interval = limit, interval
        self.items: list[dict[str, Any]] = []
        self.selected: str | None = None
        self.table = selectable_table(list(COLUMNS[:-1]), css_class="wb-table wb-jobs", has_actions=True,
                                      row_title="show this job", on_action=self._action)
        self.message = w.HTML()
        refresh = w.Button(description="Refresh", icon="refresh")
        refresh.on_click(lambda _b: self.refresh())
        self.job_area = w.VBox()
        self.view: Any = None
        self.widget = w.VBox([w.HBox([w.HTML("<b>Recent jobs</b>"), refresh]), self.table, self.message,
                              self.job_area])
        self.widget.add_class("workbench-jobs")
        self._stop = threading.Event()
        self.shown: Any = None
        self.refresh()
        if auto:
            threading.Thread(target=self._poll, name="workbench-jobs-table", daemon=True).start()

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            if any(j["status"] in ACTIVE for j in self.items):
                try:
                    self.refresh()
                except Exception:  # a catalog hiccup: try again next time
                    pass

    def close(self) -> None:
        self._stop.set()

    def refresh(self) -> None:
        from ..api import list_jobs

        self.items = list_jobs(limit=self.limit)
        self.table.rows = [{"id": j["id"], "cells": row_cells(j), "actions": [actions(j)]}
                           for j in self.items]
        self.table.selected = self.selected or ""
        if self.shown is not None:
            self.shown.update(self.bundle())

    def _action(self, action: str, job_id: str) -> None:
        {"select": self.open, "cancel": self.cancel, "rerun": self.rerun}.get(action, lambda _i: None)(job_id)

    def _show(self, job: Any) -> None:
        from .view import JobView

        if self.view is not None:
            self.view.close()
        self.view = JobView(job)
        self.job_area.children = [self.view.widget]
        self.view.when_final(self._refresh_shown)  # the saved copy shows how the job ended

    def _refresh_shown(self) -> None:
        if self.shown is not None:
            self.shown.update(self.bundle())

    def open(self, job_id: str):
        """Show ``job_id``'s view (steps, checks, error or result) under the table."""
        from ..api import job as attach
        from .view import live_job

        try:
            job = live_job(job_id) or attach(job_id)
        except WorkbenchError as exc:
            self.message.value = error_html(exc.to_dict())
            return None
        self.selected = job_id
        self.message.value = ""
        self._show(job)
        self.refresh()
        return job

    def cancel(self, job_id: str) -> None:
        from .view import live_job

        try:
            job = live_job(job_id)
            if job is None:
                from ..api import job as attach

                job = attach(job_id)
            job.cancel()
            self.message.value = f"cancel requested for <code>{html.escape(job_id[:12])}</code>"
        except WorkbenchError as exc:
            self.message.value = error_html(exc.to_dict())
        self.refresh()

    def rerun(self, job_id: str):
        """Submit the job's pipeline again as a new job and show it."""
        from ..api import submit
        from ..spec import pipeline_from_dict

        try:
            ctx = Context.from_settings()
            spec = ctx.catalog.get_job(job_id, ctx.namespace)["spec"]
            job = submit(pipeline_from_dict(spec))
        except WorkbenchError as exc:
            self.message.value = error_html(exc.to_dict())
            return None
        self.message.value = f"re-run as <code>{html.escape(job.id[:12])}</code>"
        self.selected = job.id
        self._show(job)
        self.refresh()
        return job

    def bundle(self) -> dict[str, Any]:
        """The live table beside its static copy: the rows, and the job opened under them."""
        html_, text = jobs_html(self.items, self.selected), jobs_text(self.items)
        if self.view is not None:
            opened = self.view.static_bundle(live=False)
            html_ += opened["text/html"]
            text += "\n\n" + opened["text/plain"]
        return static.bundle(html_, text, model_id=self.widget.model_id)

    def _ipython_display_(self) -> None:
        from .display import show_bundle

        self.shown = show_bundle(self.bundle())
