"""``wb.jobs()`` and ``wb.datasets()``: live tables in a front end, plain text elsewhere."""

from __future__ import annotations

import html
import threading
import time
from typing import Any

from ..api import info
from ..api import job as attach
from ..api import list_datasets, list_jobs, read, submit
from ..context import Context
from ..errors import WorkbenchError
from ..spec import pipeline_from_dict
from ..textview import datasets_text
from ..textview import human_time as _when
from .display import display_mode, display_widget
from .model import error_html, human_bytes, human_count, human_seconds, status_badge
from .view import JobView, live_job

ACTIVE = ("queued", "running", "retrying")


def _duration(j: dict[str, Any]) -> float | None:
    if not j.get("started_at"):
        return None
    return (j.get("finished_at") or time.time()) - j["started_at"]


# ----------------------------------------------------------------------------- text
def jobs_text(items: list[dict[str, Any]]) -> str:
    if not items:
        return "no jobs yet"
    lines = [f"{'id':12}  {'status':9}  {'duration':>9}  {'runner':6}  {'submitted':19}  {'who':10}  "
             "name / error"]
    for j in items:
        d = _duration(j)
        err = (j.get("error") or {}).get("message") if j["status"] == "failed" else None
        lines.append(f"{j['id'][:12]:12}  {j['status']:9}  {human_seconds(d) if d else '-':>9}  "
                     f"{j['runner']:6}  {_when(j['submitted_at']):19}  {(j.get('owner') or '-')[:10]:10}  "
                     f"{j.get('name') or ''}"
                     + (f"  ! {err}" if err else ""))
    return "\n".join(lines)




# ----------------------------------------------------------------------------- profile charts
def profile_html(profile: dict[str, Any]) -> str:
    """One row per column: type, a null-share bar, distinct count, range, top values as bars."""
    rows_total = profile.get("rows") or 0
    out = []
    for name, col in (profile.get("columns") or {}).items():
        nulls = col.get("null_count") or 0
        share = nulls / rows_total if rows_total else 0.0
        bar = (f'<div title="{share:.1%} null" style="width:80px;height:8px;background:#e8f0fe">'
               f'<div style="width:{share * 80:.0f}px;height:8px;background:#d93025"></div></div>')
        rng = ""
        if "min" in col or "max" in col:
            rng = f"{col.get('min')} … {col.get('max')}"
        tops = ""
        if col.get("top_values"):
            peak = max(t["count"] for t in col["top_values"]) or 1
            tops = "".join(
                f'<div style="display:flex;gap:4px;align-items:center;font-size:85%">'
                f'<div style="width:{60 * t["count"] / peak:.0f}px;height:7px;background:#1a73e8"></div>'
                f'{html.escape(str(t["value"]))[:24]} ({t["count"]})</div>' for t in col["top_values"][:5])
        out.append(f'<tr><td><b>{html.escape(name)}</b></td><td>{html.escape(str(col.get("type")))}</td>'
                   f'<td>{bar}</td><td>{human_count(col.get("approx_distinct"))}</td>'
                   f'<td>{html.escape(rng)}</td><td>{tops}</td></tr>')
    head = ("<tr><th>column</th><th>type</th><th>nulls</th><th>distinct</th><th>range</th>"
            "<th>top values</th></tr>")
    return f'<table class="wb-profile" style="font-size:90%">{head}{"".join(out)}</table>'


# ----------------------------------------------------------------------------- jobs table
class JobsTable:
    """Recent jobs; refreshes itself every ``interval`` seconds while any job is active."""

    def __init__(self, *, limit: int = 20, interval: float = 2.0, auto: bool = True) -> None:
        # heavy optional dependency: imported on first use
        import ipywidgets as w

        self.limit, self.interval = limit, interval
        self.items: list[dict[str, Any]] = []
        self.grid = w.VBox()
        self.message = w.HTML()
        refresh = w.Button(description="Refresh", icon="refresh")
        refresh.on_click(lambda _b: self.refresh())
        self.widget = w.VBox([w.HBox([w.HTML("<b>Recent jobs</b>"), refresh]), self.grid, self.message])
        self.widget.add_class("workbench-jobs")
        self.job_area = w.VBox()
        self.widget.children = (*self.widget.children, self.job_area)
        self._stop = threading.Event()
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
        # heavy optional dependency: imported on first use
        import ipywidgets as w

        self.items = list_jobs(limit=self.limit)
        rows = [w.HTML("<span style='color:#777'>id · name · status · duration · submitted · who · "
                       "error</span>")]
        for j in self.items:
            d = _duration(j)
            err = (j.get("error") or {}).get("message") if j["status"] == "failed" else ""
            label = w.HTML(
                f'<code>{html.escape(j["id"][:12])}</code> {html.escape(j.get("name") or "")} '
                f'{status_badge(j["status"])} {human_seconds(d) if d else "-"} · {_when(j["submitted_at"])}'
                + (f' · {html.escape(j["owner"])}' if j.get("owner") else "")
                + (f' <span style="color:#d93025">{html.escape(err)}</span>' if err else ""),
                layout=w.Layout(width="75%"))
            buttons = []
            if j["status"] in ACTIVE:
                b = w.Button(description="Cancel", icon="stop", layout=w.Layout(width="90px"))
                b.on_click(lambda _b, i=j["id"]: self.cancel(i))
                buttons.append(b)
            b = w.Button(description="Re-run", icon="repeat", layout=w.Layout(width="90px"))
            b.on_click(lambda _b, i=j["id"]: self.rerun(i))
            buttons.append(b)
            rows.append(w.HBox([label, *buttons]))
        self.grid.children = rows

    def cancel(self, job_id: str) -> None:
        try:
            job = live_job(job_id)
            if job is None:

                job = attach(job_id)
            job.cancel()
            self.message.value = f"cancel requested for <code>{html.escape(job_id[:12])}</code>"
        except WorkbenchError as exc:
            self.message.value = error_html(exc.to_dict())
        self.refresh()

    def rerun(self, job_id: str):
        """Submit the job's pipeline again as a new job and show it."""

        try:
            ctx = Context.from_settings()
            spec = ctx.catalog.get_job(job_id, ctx.namespace)["spec"]
            job = submit(pipeline_from_dict(spec))
        except WorkbenchError as exc:
            self.message.value = error_html(exc.to_dict())
            return None
        self.message.value = f"re-run as <code>{html.escape(job.id[:12])}</code>"
        self.job_area.children = [JobView(job).widget]
        self.refresh()
        return job

    def _ipython_display_(self) -> None:
        display_widget(self.widget)


# ----------------------------------------------------------------------------- datasets table
class DatasetsTable:
    """Datasets with their versions; pick one to see its schema, profile charts and first rows."""

    def __init__(self) -> None:
        # heavy optional dependency: imported on first use
        import ipywidgets as w

        self.items: list[Any] = []
        self.table = w.HTML()
        self.select = w.Dropdown(description="Dataset", options=[])
        self.version = w.Dropdown(description="Version", options=[])
        self.detail = w.HTML()
        self.select.observe(lambda _c: self._versions(), names="value")
        self.version.observe(lambda _c: self.show(), names="value")
        refresh = w.Button(description="Refresh", icon="refresh")
        refresh.on_click(lambda _b: self.refresh())
        self.widget = w.VBox([w.HBox([w.HTML("<b>Datasets</b>"), refresh]), self.table,
                              w.HBox([self.select, self.version]), self.detail])
        self.widget.add_class("workbench-datasets")
        self.refresh()

    def refresh(self) -> None:
        self.items = list_datasets()
        ctx = Context.from_settings()
        counts = {d.name: len(ctx.catalog.list_versions(ctx.namespace, d.name)) for d in self.items}
        rows = "".join(
            f'<tr class="wb-dataset"><td><b>{html.escape(d.name)}</b></td><td>v{d.version} '
            f'({counts[d.name]})</td><td>{human_count(d.rows)}</td><td>{human_bytes(d.bytes)}</td>'
            f'<td>{_when(d.created_at)}</td><td>{html.escape(", ".join(d.columns)[:80])}</td></tr>'
            for d in self.items)
        self.table.value = ('<table class="wb-datasets" style="font-size:90%"><tr><th>name</th>'
                            '<th>version (count)</th><th>rows</th><th>size</th><th>created</th>'
                            f'<th>columns</th></tr>{rows}</table>' if rows else "no datasets yet")
        names = [d.name for d in self.items]
        current = self.select.value
        self.select.options = names
        if names:
            self.select.value = current if current in names else names[0]

    def _versions(self) -> None:
        name = self.select.value
        if not name:
            return
        ctx = Context.from_settings()
        versions = [v.version for v in ctx.catalog.list_versions(ctx.namespace, name)]
        self.version.options = sorted(versions, reverse=True)
        if versions:
            self.version.value = max(versions)
        self.show()

    def show(self) -> None:
        name, version = self.select.value, self.version.value
        if not name or not version:
            self.detail.value = ""
            return
        try:
            ds = info(name, version=version)
            head = read(name, version=version).head(10).collect()
        except WorkbenchError as exc:
            self.detail.value = error_html(exc.to_dict())
            return
        self.detail.value = (
            f'<div class="wb-dataset-detail"><b>{html.escape(ds.name)}</b> v{ds.version} · '
            f'{human_count(ds.rows)} rows · {human_bytes(ds.bytes)} · checksum '
            f'<code>{ds.checksum[:12]}</code> · <code>{html.escape(ds.uri)}</code>'
            f'<h4>Profile</h4>{profile_html(ds.profile)}<h4>First rows</h4>{head._repr_html_()}</div>')

    def _ipython_display_(self) -> None:
        display_widget(self.widget)


def jobs(**kwargs: Any):
    if display_mode() == "widget":
        return JobsTable(**kwargs)
    print(jobs_text(list_jobs(limit=kwargs.get("limit", 20))))
    return None


def datasets(**kwargs: Any):
    if display_mode() == "widget":
        return DatasetsTable(**kwargs)
    print(datasets_text(list_datasets()))
    return None
