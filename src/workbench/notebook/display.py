"""Widgets or text: decide how to show workbench objects in the place the code runs.

Widgets need a live front end (JupyterLab, Notebook 7, VS Code) on the other end of the kernel's
comms. Papermill, nbconvert, nbval and nbclient run a kernel with no front end: a widget there is an
empty ``VBox(...)`` in the saved notebook, so they get compact text lines instead.

How the choice is made, first match wins:

1. ``workbench.notebook.use_display("text" | "widget" | "auto")`` in the notebook (a papermill
   parameter cell can set it), or the ``WORKBENCH_DISPLAY`` environment variable with the same
   values (``workbench notebook run`` sets ``text`` for the kernels it starts).
2. No IPython kernel (a script, a terminal IPython, the CLI), or ipywidgets missing: text.
3. The request being executed came from an interactive front end: widgets. JupyterLab, Notebook 7
   and VS Code send each cell's id in the ``execute_request`` metadata (``cellId``); headless
   executors (nbclient, hence papermill, nbconvert and nbval) send no metadata. So a kernel driven
   by them gets text without anyone configuring anything.
"""

from __future__ import annotations

import os
from typing import Any

MODES = ("auto", "widget", "text")
_override: str | None = None


def use_display(mode: str) -> None:
    """Force ``"widget"`` or ``"text"`` output for this kernel, or go back to ``"auto"``."""
    global _override
    if mode not in MODES:
        raise ValueError(f"display mode must be one of {', '.join(MODES)}, not {mode!r}")
    _override = None if mode == "auto" else mode


def _ipython() -> Any:
    try:
        # heavy optional dependency: imported on first use
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _frontend_metadata(shell: Any) -> dict[str, Any] | None:
    """The metadata of the execute_request being run, or None when there is none to read."""
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return None
    try:
        parent = kernel.get_parent("shell") if hasattr(kernel, "get_parent") else kernel._parent_header
    except Exception:
        return None
    if not isinstance(parent, dict):
        return None
    return parent.get("metadata") or {}


def display_mode() -> str:
    """``"widget"`` when a live front end will render widgets, else ``"text"``."""
    mode = _override or os.environ.get("WORKBENCH_DISPLAY", "auto").strip().lower() or "auto"
    if mode in ("widget", "text"):
        return mode
    shell = _ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return "text"
    try:
        # heavy optional dependency: imported on first use
        import ipywidgets  # noqa: F401
    except ImportError:
        return "text"
    meta = _frontend_metadata(shell)
    if meta is None:
        return "text"
    return "widget" if "cellId" in meta else "text"


def display_widget(widget: Any) -> None:
    # heavy optional dependency: imported on first use
    from IPython.display import display

    display(widget)


class Shown:
    """One output in the notebook, updatable in place (``display_id``) from any thread.

    JupyterLab keeps a cell's output area listening after the cell ends, and routes an update by
    its display id, so the job's end can refresh the saved copy while other cells run.
    """

    def __init__(self, data: dict[str, Any]) -> None:
        from IPython.display import display

        self.handle = display(data, raw=True, display_id=True)

    def update(self, data: dict[str, Any]) -> None:
        if self.handle is not None:
            self.handle.update(data, raw=True)


def show_bundle(data: dict[str, Any]) -> Shown:
    """Display a raw mime bundle (a widget view beside its static ``text/html``/``text/plain``)."""
    return Shown(data)
