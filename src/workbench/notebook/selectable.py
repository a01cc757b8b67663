"""A table whose rows can be selected (click, or Enter/Space on a focused row), with per-row
action buttons: the jobs table and the datasets table.

A small ``anywidget`` front end draws the rows from HTML cells the kernel renders (the same cells
the static copy uses, so live and saved tables read alike); the selected row's id comes back as
the ``selected`` trait, a button press as a ``{"action", "id"}`` message.
"""

from __future__ import annotations

from typing import Any, Callable

from . import theme
from .tables_html import TABLE, TD, TH

ESM = """
function render({ model, el }) {
  el.classList.add("wb-selectable");
  el.style.overflowX = "auto";  // a narrow output scrolls the table, never cuts its buttons off
  const draw = () => {
    const selected = model.get("selected");
    const table = document.createElement("table");
    table.className = model.get("css_class");
    table.style.cssText = model.get("styles").table;
    table.setAttribute("role", "grid");
    const head = table.createTHead().insertRow();
    for (const c of model.get("columns")) {
      const th = document.createElement("th");
      th.textContent = c;
      th.style.cssText = model.get("styles").th;
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const r of model.get("rows")) {
      const tr = body.insertRow();
      const on = r.id === selected;
      tr.dataset.id = r.id;
      tr.tabIndex = 0;
      tr.className = "wb-row" + (on ? " wb-selected" : "");
      tr.setAttribute("aria-selected", on ? "true" : "false");
      tr.title = model.get("row_title");
      tr.style.cssText = "cursor:pointer;" + (on ? model.get("styles").selected : "");
      for (const cell of r.cells) {
        const td = tr.insertCell();
        td.innerHTML = cell;
        td.style.cssText = model.get("styles").td;
      }
      if (model.get("has_actions")) {
        const td = tr.insertCell();
        td.style.cssText = model.get("styles").td + ";white-space:nowrap";
        for (const a of r.actions || []) {
          const b = document.createElement("button");
          b.className = "jupyter-widgets jupyter-button widget-button wb-action";
          b.textContent = a.label;
          b.title = a.title || a.label;
          b.dataset.action = a.action;
          b.style.cssText = "width:auto;padding:0 10px;margin:0 2px";
          b.addEventListener("click", (e) => {
            e.stopPropagation();
            model.send({ action: a.action, id: r.id });
          });
          td.appendChild(b);
        }
      }
      const pick = (e) => {
        if (e.target.closest("button, summary, a")) return;
        model.set("selected", r.id);
        model.save_changes();
        model.send({ action: "select", id: r.id });
      };
      tr.addEventListener("click", pick);
      tr.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(e); }
      });
    }
    el.replaceChildren(table);
  };
  model.on("change:rows", draw);
  model.on("change:selected", draw);
  draw();
}
export default { render };
"""

STYLES = {
    "table": TABLE + ";width:100%",
    "th": TH,
    "td": TD + f";vertical-align:middle;border-bottom:1px solid {theme.BORDER}",
    # the selected row: a tint of the brand colour and a bar on its left, in either theme
    "selected": f"background:{theme.tone_background('info', 16)};"
                f"box-shadow:inset 3px 0 0 {theme.tone('info')}",
}


def selectable_table(columns: list[str], *, css_class: str, row_title: str = "",
                     has_actions: bool = False, on_action: Callable[[str, str], None] | None = None
                     ) -> Any:
    """The widget; set ``.rows`` to ``[{"id", "cells": [html, ...], "actions": [...]}]``.

    ``on_action(action, row_id)`` is called for a button press and (as ``"select"``) for every
    pick of a row, the one already selected included."""
    # heavy optional dependencies: imported on first use
    import anywidget
    import traitlets

    class SelectableTable(anywidget.AnyWidget):
        _esm = ESM
        columns = traitlets.List(traitlets.Unicode()).tag(sync=True)
        rows = traitlets.List(traitlets.Dict()).tag(sync=True)
        selected = traitlets.Unicode("").tag(sync=True)
        css_class = traitlets.Unicode("wb-table").tag(sync=True)
        row_title = traitlets.Unicode("").tag(sync=True)
        has_actions = traitlets.Bool(False).tag(sync=True)
        styles = traitlets.Dict().tag(sync=True)

    widget = SelectableTable(columns=list(columns) + ([""] if has_actions else []), css_class=css_class,
                             row_title=row_title, has_actions=has_actions, styles=STYLES)
    if on_action is not None:
        def handle(_w: Any, content: Any, _buffers: Any) -> None:
            if isinstance(content, dict) and content.get("id"):
                on_action(str(content.get("action")), str(content["id"]))

        widget.on_msg(handle)
    return widget


__all__ = ["selectable_table"]
