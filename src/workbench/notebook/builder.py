"""``wb.pipeline_builder()``: a pipeline from forms, with Preview, Submit and Export.

Each form row turns into one spec model; ``PipelineBuilder.pipeline()`` builds the ``Pipeline``
(or raises a ``SpecError`` naming the row), and Preview/Submit/Export all start from it, so what
is previewed is exactly what is submitted and exported.
"""

from __future__ import annotations

import html
import re
import time
from typing import Any, Callable

from ..errors import SpecError, WorkbenchError
from ..spec import models as m
from ..spec.models import Pipeline
from . import theme
from .builder_export import pipeline_code
from .builder_parts import SELECTED_STYLE, code_actions, preview_checks_html
from .render import exception_html
from .tables_html import frame_table

PREVIEW_ROWS = 50


def safe_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._-")[:128]
    return name or "dataset"


def _columns(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _pairs(text: str, sep: str) -> dict[str, str]:
    """``a = b`` lines (or comma-separated) into a dict, keeping the right side whole."""
    out: dict[str, str] = {}
    for line in re.split(r"\n|,(?![^()]*\))", text):
        if not line.strip():
            continue
        if sep not in line:
            raise ValueError(f"expected 'left {sep} right', got {line.strip()!r}")
        left, right = line.split(sep, 1)
        out[left.strip()] = right.strip()
    return out


def _value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


# what each step/check form asks for: (label, placeholder, parse(text) -> model)
STEP_FORMS: dict[str, tuple[str, str, Callable[[str], Any]]] = {
    "sql": ("SQL", "SELECT region, sum(amount) AS total FROM input GROUP BY region",
            lambda t: m.SqlStep(query=t)),
    "filter": ("predicate", "amount > 0 AND region IS NOT NULL", lambda t: m.FilterStep(predicate=t)),
    "select": ("columns", "region, amount", lambda t: m.SelectStep(columns=_columns(t))),
    "with_columns": ("name = expression", "total = price * quantity",
                     lambda t: m.WithColumnsStep(columns=_pairs(t, "="))),
    "rename": ("old = new", "amt = amount", lambda t: m.RenameStep(mapping=_pairs(t, "="))),
    "cast": ("column = type", "amount = float64", lambda t: m.CastStep(dtypes=_pairs(t, "="))),
    "drop": ("columns", "notes, internal_id", lambda t: m.DropStep(columns=_columns(t))),
    "drop_nulls": ("columns (empty: all)", "region",
                   lambda t: m.DropNullsStep(subset=_columns(t) or None)),
    "unique": ("columns (empty: all)", "order_id", lambda t: m.UniqueStep(subset=_columns(t) or None)),
    "sort": ("columns", "region, amount", lambda t: m.SortStep(by=_columns(t))),
    "limit": ("rows", "1000", lambda t: m.LimitStep(n=int(t))),
}

CHECK_FORMS: dict[str, tuple[str, str, Callable[[str], Any]]] = {
    "not_null": ("columns", "region, amount", lambda t: m.NotNullCheck(columns=_columns(t))),
    "unique": ("columns", "order_id", lambda t: m.UniqueCheck(columns=_columns(t))),
    "accepted_values": ("column: v1, v2", "region: north, south",
                        lambda t: m.AcceptedValuesCheck(column=t.split(":", 1)[0].strip(),
                                                        values=[_value(v.strip()) for v in
                                                                t.split(":", 1)[1].split(",")])),
    "range": ("column: min..max", "amount: 0..10000", lambda t: _range(t)),
    "regex": ("column: pattern", r"email: ^[^@]+@[^@]+$",
              lambda t: m.RegexCheck(column=t.split(":", 1)[0].strip(), pattern=t.split(":", 1)[1].strip())),
    "row_count": ("min..max", "1..", lambda t: _row_count(t)),
    "sql": ("SQL predicate", "amount >= 0 OR refund", lambda t: m.SqlPredicateCheck(predicate=t)),
}


def _bounds(text: str) -> tuple[Any, Any]:
    lo, _, hi = text.partition("..")
    return (_value(lo.strip()) if lo.strip() else None, _value(hi.strip()) if hi.strip() else None)


def _range(text: str) -> m.RangeCheck:
    column, _, rest = text.partition(":")
    lo, hi = _bounds(rest)
    return m.RangeCheck(column=column.strip(), min=lo, max=hi)


def _row_count(text: str) -> m.RowCountCheck:
    lo, hi = _bounds(text)
    return m.RowCountCheck(min=lo, max=hi)


# ----------------------------------------------------------------------------- the form
class _Row:
    """One step or check: its kind, its text, and a remove button."""

    def __init__(self, builder: PipelineBuilder, group: str, kind: str, text: str = "") -> None:
        import ipywidgets as w

        forms = STEP_FORMS if group == "steps" else CHECK_FORMS
        label, placeholder, _ = forms[kind]
        self.group, self.kind = group, kind
        if kind == "sql" and group == "steps":
            self.text = w.Textarea(value=text, placeholder=placeholder,
                                   layout=w.Layout(width="70%", height="80px"))
        else:
            self.text = w.Text(value=text, placeholder=placeholder, layout=w.Layout(width="60%"))
        remove = w.Button(icon="trash", tooltip="remove", layout=w.Layout(width="36px"))
        remove.on_click(lambda _b: builder._remove(self))
        self.widget = w.HBox([w.HTML(f"<code>{kind}</code> <span style='color:{theme.MUTED}'>{label}</span>",
                                     layout=w.Layout(min_width="200px", width="auto")), self.text, remove])

    def model(self) -> Any:
        forms = STEP_FORMS if self.group == "steps" else CHECK_FORMS
        return forms[self.kind][2](self.text.value.strip())


class PipelineBuilder:
    def __init__(self) -> None:
        import ipywidgets as w

        self.source_kind = w.ToggleButtons(options=["file", "upload", "dataset"], value="file",
                                           description="Source", style={"button_width": "auto"})
        self.path = w.Text(description="Path", placeholder="sales.csv, orders/*.csv or s3://…",
                           layout=w.Layout(width="70%"))
        self.format = w.Dropdown(options=["auto", "csv", "tsv", "json", "ndjson", "excel", "parquet"],
                                 value="auto", description="Format")
        self.delimiter = w.Text(description="Delimiter", placeholder="auto", layout=w.Layout(width="180px"))
        self.upload_id = w.Text(description="Upload id", placeholder="from wb.upload_form() or "
                                "`workbench upload-url`", layout=w.Layout(width="70%"))
        self.dataset = w.Combobox(description="Dataset", placeholder="name", options=self._dataset_names(),
                                  ensure_option=False)
        self.version = w.Text(description="Version", placeholder="latest", layout=w.Layout(width="180px"))
        self.source_box = w.VBox()
        self.source_kind.observe(lambda _c: self._show_source(), names="value")
        self.rows: list[_Row] = []
        self.steps_box, self.checks_box = w.VBox(), w.VBox()
        self.add_step = w.Dropdown(options=["add a step…"] + list(STEP_FORMS), value="add a step…")
        self.add_check = w.Dropdown(options=["add a check…"] + list(CHECK_FORMS), value="add a check…")
        self.add_step.observe(lambda c: self._added(c, "steps"), names="value")
        self.add_check.observe(lambda c: self._added(c, "checks"), names="value")
        self.sink_kind = w.ToggleButtons(options=["dataset", "none (preview only)"], value="dataset",
                                         description="Sink", style={"button_width": "auto"})
        self.sink_name = w.Text(description="Name", placeholder="dataset name")
        self.sink_mode = w.Dropdown(options=["overwrite", "create", "append", "upsert"],
                                    value="overwrite", description="Mode")
        self.sink_keys = w.Text(description="Keys", placeholder="for upsert: id, date")
        self.name = w.Text(description="Pipeline", placeholder="optional name")
        self.preview_button = w.Button(description="Preview", icon="eye")
        self.submit_button = w.Button(description="Submit", icon="play", button_style="primary")
        self.export_yaml = w.Button(description="Export YAML", icon="file-code-o")
        self.export_python = w.Button(description="Export Python", icon="code")
        self.preview_button.on_click(lambda _b: self.preview())
        self.submit_button.on_click(lambda _b: self.submit())
        self.export_yaml.on_click(lambda _b: self.export("yaml"))
        self.export_python.on_click(lambda _b: self.export("python"))
        self.output = w.HTML()
        self.code = w.Textarea(layout=w.Layout(width="95%", height="200px", display="none"))
        self.code_actions = code_actions(self.code)
        self.job_area = w.VBox()
        # what the last action produced; the next action replaces it (never a pile of old outputs)
        self.result_area = w.VBox()
        self.job = None
        self.view = None
        self.last_preview = None
        self._show_source()
        self.widget = w.VBox([
            w.HTML("<b>Pipeline builder</b>"), self.name, self.source_kind, self.source_box,
            w.HTML("<b>Steps</b>"), self.steps_box, self.add_step,
            w.HTML("<b>Checks</b>"), self.checks_box, self.add_check,
            self.sink_kind, w.HBox([self.sink_name, self.sink_mode, self.sink_keys]),
            w.HBox([self.preview_button, self.submit_button, self.export_yaml, self.export_python]),
            self.result_area, w.HTML(SELECTED_STYLE)])
        self.widget.add_class("workbench-builder")

    # -- form plumbing ------------------------------------------------------------------
    @staticmethod
    def _dataset_names() -> list[str]:
        try:
            from ..api import list_datasets

            return [d.name for d in list_datasets()]
        except WorkbenchError:
            return []

    def _show_source(self) -> None:
        import ipywidgets as w

        kind = self.source_kind.value
        if kind == "file":
            self.source_box.children = [self.path, w.HBox([self.format, self.delimiter])]
        elif kind == "upload":
            self.source_box.children = [self.upload_id, self.format]
        else:
            self.dataset.options = self._dataset_names()
            self.source_box.children = [w.HBox([self.dataset, self.version])]

    def _added(self, change: dict, group: str) -> None:
        kind = change["new"]
        if kind.startswith("add a"):
            return
        self.add_row(group, kind)
        (self.add_step if group == "steps" else self.add_check).value = change["old"]

    def add_row(self, group: str, kind: str, text: str = "") -> _Row:
        """Add a step (``group="steps"``) or a check (``"checks"``) row; returns it."""
        forms = STEP_FORMS if group == "steps" else CHECK_FORMS
        if kind not in forms:
            raise SpecError(f"unknown {group[:-1]} {kind!r}", hint=f"one of: {', '.join(forms)}")
        row = _Row(self, group, kind, text)
        self.rows.append(row)
        self._relayout()
        return row

    def _remove(self, row: _Row) -> None:
        self.rows.remove(row)
        self._relayout()

    def _relayout(self) -> None:
        self.steps_box.children = [r.widget for r in self.rows if r.group == "steps"]
        self.checks_box.children = [r.widget for r in self.rows if r.group == "checks"]

    # -- building -----------------------------------------------------------------------
    def _source(self) -> Any:
        kind = self.source_kind.value
        if kind == "file":
            if not self.path.value.strip():
                raise SpecError("the file source needs a path", step="source")
            opts: dict[str, Any] = {}
            if self.delimiter.value:
                opts["delimiter"] = "\t" if self.delimiter.value in ("\\t", "tab") else self.delimiter.value
            return m.FileSource(path=self.path.value.strip(), format=self.format.value, **opts)
        if kind == "upload":
            return m.UploadSource(upload_id=self.upload_id.value.strip(), format=self.format.value)
        version = self.version.value.strip()
        if version and not version.isdigit():
            raise SpecError(f"version must be a number, not {version!r}", step="source")
        return m.DatasetSource(name=self.dataset.value.strip(), version=int(version) if version else None)

    def pipeline(self) -> Pipeline:
        """The pipeline the form describes; a ``SpecError`` names the row that is wrong."""
        from pydantic import ValidationError

        def build(what: str, fn: Callable[[], Any]) -> Any:
            try:
                return fn()
            except WorkbenchError as exc:
                raise exc.with_context(step=what)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise SpecError(f"{what}: {first['msg']}" + (f" ({where})" if where else ""),
                                step=what) from None
            except (ValueError, IndexError, TypeError) as exc:
                raise SpecError(f"{what}: {exc or 'incomplete'}", step=what,
                                hint="see the placeholder text for the expected form") from None

        source = build("source", self._source)
        steps, checks = [], []
        n_steps = n_checks = 0
        for row in self.rows:
            if row.group == "steps":
                n_steps += 1
                steps.append(build(f"step {n_steps} ({row.kind})", row.model))
            else:
                n_checks += 1
                checks.append(build(f"check {n_checks} ({row.kind})", row.model))
        sink = None
        if self.sink_kind.value == "dataset":
            sink = build("sink", lambda: m.DatasetSink(
                name=self.sink_name.value.strip(), mode=self.sink_mode.value,
                keys=_columns(self.sink_keys.value)))
        return build("pipeline", lambda: Pipeline(name=self.name.value.strip() or None, source=source,
                                                  steps=steps, checks=checks, sink=sink))

    # -- actions ------------------------------------------------------------------------
    def _show(self, *children: Any) -> None:
        """Replace what the previous action showed."""
        if self.view is not None and self.job_area not in children:
            self.view.close()
        self.code.layout.display = None if self.code in children else "none"
        self.result_area.children = children
        self._refresh_shown()

    def _error(self, exc: BaseException) -> None:
        self.output.value = exception_html(exc)
        self._show(self.output)

    def preview(self, rows: int = PREVIEW_ROWS):
        """Run the pipeline on its first rows in this kernel; shows and returns them."""
        from ..api import preview

        self.output.value = f'<span style="color:{theme.MUTED}">previewing…</span>'
        self._show(self.output)
        try:
            t0 = time.perf_counter()
            pipeline = self.pipeline()
            df = preview(pipeline, rows=rows)
            seconds = time.perf_counter() - t0
        except BaseException as exc:
            self._error(exc)
            return None
        self.last_preview = df
        self.output.value = (f'<div class="wb-preview-info" style="color:{theme.TEXT}">preview: first '
                             f'{df.height} rows in {seconds:.2f} s (nothing written)</div>'
                             f'{preview_checks_html(pipeline, df)}<div class="wb-preview">'
                             f'{frame_table(df)}</div>')
        return df

    def submit(self):
        """Send the pipeline to the configured runner and show its live view."""
        from ..api import submit
        from .view import JobView

        try:
            self.job = submit(self.pipeline())
        except BaseException as exc:
            self._error(exc)
            return None
        self.output.value = f"submitted job <code>{html.escape(self.job.id)}</code>"
        self.view = JobView(self.job)
        self.job_area.children = [self.view.widget]
        self._show(self.output, self.job_area)
        self.view.when_final(self._refresh_shown)
        return self.job

    def export(self, fmt: str = "yaml") -> str | None:
        """The pipeline as YAML (``fmt="yaml"``), JSON, or Python code; shown in the form."""
        from ..spec import dump_pipeline

        try:
            p = self.pipeline()
        except BaseException as exc:
            self._error(exc)
            return None
        # YAML/JSON in the short form the builders read like: no field left at its default
        text = pipeline_code(p) if fmt == "python" else dump_pipeline(p, fmt)
        self.code.value = text
        self.output.value = f"{'Python' if fmt == 'python' else fmt.upper()} of the pipeline:"
        self._show(self.output, self.code, self.code_actions)
        return text

    # -- the saved copy ------------------------------------------------------------------
    def bundle(self) -> dict[str, Any]:
        """The live form beside a static copy of what it describes and what it last showed
        (refreshed after each action and when a submitted job ends), for a saved notebook."""
        from ..spec import dump_pipeline
        from . import static

        try:
            spec = dump_pipeline(self.pipeline(), "yaml")
        except BaseException as exc:  # an unfinished form: say what is missing
            spec = f"(not a complete pipeline yet: {exc})"
        shown = self.result_area.children
        parts = [f'<b style="color:{theme.STRONG}">Pipeline builder</b> '
                 f'<span style="color:{theme.MUTED}">(saved copy: the form needs its kernel)</span>',
                 f'<pre class="wb-builder-spec" style="font-family:{theme.MONO};color:{theme.TEXT};'
                 f'background:none;margin:4px 0">{html.escape(spec)}</pre>']
        text = ["pipeline builder:", spec]
        if self.output in shown and self.output.value:
            parts.append(f'<div class="wb-builder-output">{self.output.value}</div>')
            text.append(re.sub(r"<[^>]+>", "", html.unescape(self.output.value))[:2000])
        if self.code in shown and self.code.value:
            parts.append(f'<pre class="wb-builder-code" style="font-family:{theme.MONO};'
                         f'color:{theme.TEXT};background:none">{html.escape(self.code.value)}</pre>')
            text.append(self.code.value)
        if self.job_area in shown and self.view is not None:
            saved = self.view.static_bundle(live=False)
            parts.append(saved["text/html"])
            text.append(saved["text/plain"])
        return static.bundle(f'<div class="workbench-builder wb-static" style="color:{theme.TEXT}">'
                             + "".join(parts) + "</div>", "\n".join(text), model_id=self.widget.model_id)

    def _refresh_shown(self) -> None:
        shown = getattr(self, "shown", None)
        if shown is not None:
            shown.update(self.bundle())

    def _ipython_display_(self) -> None:
        from .display import show_bundle

        self.shown = show_bundle(self.bundle())


def pipeline_builder(**_kwargs: Any) -> PipelineBuilder:
    """``wb.pipeline_builder()``: shows the form (its ``pipeline()`` is the spec it describes)."""
    return PipelineBuilder()


__all__ = ["PipelineBuilder", "pipeline_builder", "pipeline_code", "safe_name"]
