"""``wb.datasets()``: datasets newest first; select a row (click, or Enter on a focused row) to see
that dataset's schema, profile and first rows under the table."""

from __future__ import annotations

import html
from typing import Any

from ..context import Context
from ..errors import WorkbenchError
from ..textview import datasets_text, human_bytes, human_count
from ..textview import human_time as _when
from . import static, theme
from .profile_html import profile_html
from .selectable import selectable_table
from .render import error_html
from .tables_html import frame_table, table


COLUMNS = ["name", "version (count)", "rows", "size", "created", "columns"]


def row_values(d: Any, counts: dict[str, int]) -> list[str]:
    return [d.name, f"v{d.version} ({counts.get(d.name, 1)})", human_count(d.rows),
            human_bytes(d.bytes), _when(d.created_at), ", ".join(d.columns)[:80]]


def datasets_html(items: list[Any], counts: dict[str, int]) -> str:
    if not items:
        return f'<span style="color:{theme.TEXT}">no datasets yet</span>'
    return table(COLUMNS, (row_values(d, counts) for d in items), css_class="wb-table wb-datasets")


def schema_html(schema: dict[str, Any]) -> str:
    fields = schema.get("fields") or []
    return table(["column", "type", "nullable"],
                 ([f["name"], f["type"], "yes" if f.get("nullable", True) else "no"] for f in fields),
                 css_class="wb-table wb-schema")


class DatasetsTable:
    """Datasets newest first; select one to see its schema, profile charts and first rows."""

    def __init__(self) -> None:
        import ipywidgets as w

        self.items: list[Any] = []
        self.counts: dict[str, int] = {}
        self.selected: str | None = None
        self.table = selectable_table(COLUMNS, css_class="wb-table wb-datasets",
                                      row_title="show this dataset", on_action=self._action)
        self.version = w.Dropdown(description="Version", options=[])
        self.detail = w.HTML()
        self.version.observe(lambda _c: self.show(), names="value")
        refresh = w.Button(description="Refresh", icon="refresh")
        refresh.on_click(lambda _b: self.refresh())
        self.widget = w.VBox([w.HBox([w.HTML("<b>Datasets</b>"), refresh]), self.table,
                              self.version, self.detail])
        self.widget.add_class("workbench-datasets")
        self.shown: Any = None
        self.refresh()

    def refresh(self) -> None:
        from ..api import list_datasets

        # newest first: the dataset just written is the one looked for
        self.items = sorted(list_datasets(), key=lambda d: d.created_at or 0, reverse=True)
        ctx = Context.from_settings()
        self.counts = {d.name: len(ctx.catalog.list_versions(ctx.namespace, d.name)) for d in self.items}
        self.table.rows = [{"id": d.name, "cells": [html.escape(v) for v in row_values(d, self.counts)]}
                           for d in self.items]
        names = [d.name for d in self.items]
        self.select(self.selected if self.selected in names else (names[0] if names else None))

    def _action(self, action: str, name: str) -> None:
        if action == "select":
            self.select(name)

    def select(self, name: str | None) -> None:
        """Show ``name``'s newest version (its schema, profile and first rows)."""
        self.selected = name
        self.table.selected = name or ""
        self._versions()

    def _versions(self) -> None:
        name = self.selected
        if not name:
            self.version.options = []
            self.detail.value = ""
            return
        ctx = Context.from_settings()
        versions = [v.version for v in ctx.catalog.list_versions(ctx.namespace, name)]
        self.version.options = sorted(versions, reverse=True)
        if versions:
            self.version.value = max(versions)
        self.show()

    def show(self) -> None:
        from ..api import info, read

        name, version = self.selected, self.version.value
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
            f'<div class="wb-dataset-detail" style="color:{theme.TEXT}"><b>{html.escape(ds.name)}</b> '
            f'v{ds.version} · {human_count(ds.rows)} rows · {human_bytes(ds.bytes)} · checksum '
            f'<code>{ds.checksum[:12]}</code> · <code>{html.escape(ds.uri)}</code>'
            f'<h4>Schema</h4>{schema_html(ds.schema)}'
            f'<h4>Profile</h4>{profile_html(ds.profile)}<h4>First rows</h4>{frame_table(head)}</div>')
        if self.shown is not None:
            self.shown.update(self.bundle())

    def bundle(self) -> dict[str, Any]:
        return static.bundle(
            f'<div class="workbench-datasets">{datasets_html(self.items, self.counts)}'
            f'{self.detail.value}</div>',
            datasets_text(self.items), model_id=self.widget.model_id)

    def _ipython_display_(self) -> None:
        from .display import show_bundle

        self.shown = show_bundle(self.bundle())
