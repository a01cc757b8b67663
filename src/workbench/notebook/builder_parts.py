"""Pieces of the pipeline builder: Copy / Insert-as-a-new-cell for exported code, the checks of a
preview, and the style that makes the selected Source/Sink choice unmistakable."""

from __future__ import annotations

from typing import Any

from . import theme

# ipywidgets marks the chosen toggle with a slightly darker grey only; this fills it with the
# theme's brand colour and its inverse text colour (≥ 4.5:1 in both themes), and ticks it
SELECTED_STYLE = f"""<style>
.workbench-builder .widget-toggle-button.mod-active {{
  background: var(--jp-brand-color1); color: var(--jp-ui-inverse-font-color0);
  font-weight: bold; box-shadow: inset 0 -3px 0 var(--jp-brand-color0);
}}
.workbench-builder .widget-toggle-button.mod-active::before {{ content: "✓ "; }}
.workbench-builder .widget-toggle-button {{ border: 1px solid {theme.BORDER}; }}
</style>"""

ESM = r"""
function render({ model, el }) {
  const copy = document.createElement("button");
  const insert = document.createElement("button");
  const note = document.createElement("span");
  for (const [b, text, title] of [[copy, "Copy", "copy the code to the clipboard"],
                                  [insert, "Insert as a new cell", "insert the code in a new cell below"]]) {
    b.className = "jupyter-button widget-button wb-code-" + text.split(" ")[0].toLowerCase();
    b.textContent = text; b.title = title; b.style.marginRight = "6px"; b.style.width = "auto";
  }
  note.className = "wb-code-note";
  note.style.marginLeft = "6px";
  el.append(copy, insert, note);

  copy.addEventListener("click", async () => {
    const code = model.get("code");
    try {
      await navigator.clipboard.writeText(code);
    } catch (e) {  // no clipboard permission: a selected hidden textarea and the copy command
      const t = document.createElement("textarea");
      t.value = code; document.body.append(t); t.select(); document.execCommand("copy"); t.remove();
    }
    note.textContent = "copied";
  });

  // JupyterLab offers extensions, not outputs, its API; so do what a person would: select the
  // cell holding this output, press B (insert a cell below), Enter (edit it) and type the code
  // Lumino reads keyCode, which a KeyboardEvent built by script leaves at 0
  const key = (k, code, keyCode) => {
    const e = new KeyboardEvent("keydown", { key: k, code, bubbles: true, cancelable: true });
    Object.defineProperty(e, "keyCode", { get: () => keyCode });
    Object.defineProperty(e, "which", { get: () => keyCode });
    (document.activeElement || document.body).dispatchEvent(e);
  };
  // wait for the notebook to react, up to a few seconds (a loaded machine is slow)
  const until = async (cond) => {
    for (let i = 0; i < 250 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
    return cond();
  };
  insert.addEventListener("click", async () => {
    const cell = el.closest(".jp-Cell");
    const notebook = el.closest(".jp-Notebook");
    if (!cell || !notebook) { note.textContent = "not in a JupyterLab notebook: use Copy"; return; }
    const prompt = cell.querySelector(".jp-InputPrompt") || cell;
    prompt.dispatchEvent(new MouseEvent("mousedown", { bubbles: true, button: 0 }));
    prompt.dispatchEvent(new MouseEvent("mouseup", { bubbles: true, button: 0 }));
    if (!await until(() => cell.classList.contains("jp-mod-active"))) {
      note.textContent = "could not select the cell: use Copy"; return;
    }
    key("b", "KeyB", 66);
    const active = () => notebook.querySelector(".jp-Cell.jp-mod-active");
    if (!await until(() => active() && active() !== cell)) {
      note.textContent = "could not add a cell: use Copy"; return;
    }
    const fresh = active();
    key("Enter", "Enter", 13);
    await until(() => fresh.contains(document.activeElement));
    const editor = fresh.querySelector(".cm-content");
    if (editor) { editor.focus(); document.execCommand("insertText", false, model.get("code")); }
    note.textContent = "inserted below";
  });
}
export default { render };
"""


def code_actions(textarea: Any) -> Any:
    """Copy and Insert buttons for the code in ``textarea`` (kept in step with it)."""
    import anywidget
    import traitlets

    class CodeActions(anywidget.AnyWidget):
        _esm = ESM
        code = traitlets.Unicode("").tag(sync=True)

    actions = CodeActions()
    actions.add_class("wb-code-actions")
    textarea.observe(lambda change: setattr(actions, "code", change["new"]), names="value")
    return actions


def preview_checks_html(pipeline: Any, df: Any) -> str:
    """The pipeline's checks evaluated on the preview rows (what the full run would say of them)."""
    if not pipeline.checks or df is None:
        return ""
    from ..engines import checks as checks_engine
    from ..engines.profile import profile_exprs
    from .render import check_html

    try:
        exprs = checks_engine.check_exprs(pipeline.checks, df.schema)
        stats = df.select(profile_exprs(df.schema) + exprs).row(0, named=True)
        outcomes = checks_engine.evaluate(pipeline.checks, df.schema, stats)
        checks_engine.add_examples(outcomes, pipeline.checks, df.lazy())
    except Exception as exc:  # a check that cannot run on these rows says so, like the job would
        from .render import error_html

        return error_html({"type": type(exc).__name__, "message": str(exc), "step": "check"})
    items = "".join(check_html({"name": o.name, "passed": o.passed, "severity": o.severity,
                                "message": o.message, "examples": o.examples}) for o in outcomes)
    return (f'<div class="wb-preview-checks" style="color:{theme.TEXT}">checks on these '
            f'{df.height} rows:<ul style="margin:2px 0;padding-left:4px">{items}</ul></div>')
