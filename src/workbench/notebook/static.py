"""A job's latest state as static ``text/html`` and ``text/plain``: what outlives the kernel.

A widget needs a live kernel; a saved notebook reopened later, a papermill output, nbval,
nbconvert's HTML and GitHub's viewer have none. Jupyter's display protocol lets every output carry
other renderings beside the widget view (tqdm's notebook bar and Plotly do the same), so each
workbench output also carries these, refreshed when the job ends: status, rows, bytes, duration,
steps, checks with their offending rows, the error with its hint, and the result preview.
"""

from __future__ import annotations

from typing import Any

from ..job_handle import JobState
from ..textview import final_lines, human_bytes, human_count
from . import render, theme
from .model import ViewModel, view_model

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def summary_html(vm: ViewModel, preview: str = "", *, sql: str | None = None,
                 columns: list[str] | None = None) -> str:
    """What the job came to: the error box, the cancel note, or the result line and preview."""
    if vm.status == "failed" and vm.error:
        return render.error_html(vm.error, sql=sql, columns=columns)
    if vm.status == "cancelled":
        return (f'<div class="wb-summary wb-cancelled" style="color:{theme.TEXT}">Cancelled after '
                f'{vm.elapsed_text}; nothing it wrote became visible.</div>')
    if vm.status == "succeeded" and vm.result:
        r = vm.result
        if r.get("kind") == "dataset":
            head = (f'<b style="color:{theme.STRONG}">{render.esc(r["name"])}</b> v{r.get("version")}'
                    f' · {human_count(r.get("rows"))} rows · {human_bytes(r.get("bytes"))} · '
                    f'{vm.elapsed_text}')
        else:
            head = f'{human_count(r.get("rows"))} rows · {vm.elapsed_text}'
        return f'<div class="wb-summary wb-succeeded" style="color:{theme.TEXT}">{head}</div>{preview}'
    return ""


def job_html(vm: ViewModel, summary: str) -> str:
    """The whole view as one static block (the same pieces the widget shows)."""
    parts = [render.header_html(vm), render.bar_html(vm), render.stats_html(vm),
             render.steps_html(vm), render.checks_html(vm), render.notes_html(vm), summary]
    return (f'<div class="workbench-job wb-static" style="color:{theme.TEXT};'
            f'font-family:var(--jp-ui-font-family);font-size:var(--jp-ui-font-size1)">'
            + "".join(p for p in parts if p) + "</div>")


def job_text(state: JobState, preview_text: str = "") -> str:
    """The same as plain lines (the notebook's ``text/plain`` and the text log agree)."""
    from ..textview import progress_line

    vm = view_model(state)
    lines = [f"job {state.job_id} {state.name or ''}".rstrip() + f": {state.status}",
             progress_line(state)]
    if vm.steps:
        lines.append("  steps: " + "  ".join(f"{s.mark} {s.name}" + (f" ({s.detail})" if s.detail else "")
                                              for s in vm.steps))
    lines += [f"  {t}" for t in ([vm.retries_text] if vm.retries_text else []) + vm.messages[-5:]]
    lines += final_lines(state)
    for c in state.checks:
        if not c.get("passed") and c.get("examples"):
            import polars as pl

            from .tables_html import frame_text

            try:
                lines.append(frame_text(pl.DataFrame(c["examples"][:5])))
            except Exception:  # odd example values: show them as they are
                lines += [f"    {row}" for row in c["examples"][:5]]
    if preview_text:
        lines.append(preview_text)
    return "\n".join(lines)


def bundle(html: str, text: str, *, model_id: str | None = None) -> dict[str, Any]:
    """A display bundle: the widget view (while live) beside its static renderings."""
    data: dict[str, Any] = {"text/plain": text, "text/html": html}
    if model_id:
        data[WIDGET_VIEW] = {"version_major": 2, "version_minor": 0, "model_id": model_id}
    return data


__all__ = ["bundle", "job_html", "job_text", "summary_html"]
