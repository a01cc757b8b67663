"""``job.show()`` and ``job`` as a cell's last line each display the job once, in a real kernel."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient


def _cell_outputs(tmp_path, last_line: str) -> list[dict]:
    csv = tmp_path / "t.csv"
    csv.write_text("a,b\n1,x\n2,y\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import os\n"
            f"os.environ['WORKBENCH_HOME'] = {str(tmp_path / 'home')!r}\n"
            "import workbench as wb\n"
            "from workbench.notebook import use_display\n"
            "use_display('widget')\n"
            f"job = wb.submit(wb.Pipeline(source=wb.file({str(csv)!r})), runner='local').wait(120)\n"
            "assert job.status == 'succeeded', job.error"),
        nbformat.v4.new_code_cell(last_line),
    ]
    NotebookClient(nb, timeout=180, kernel_name="python3").execute()
    return [o for o in nb.cells[1].outputs if o["output_type"] in ("display_data", "execute_result")]


def _finished_view(data: dict) -> bool:
    # a job that has ended is shown as the static copy of its finished view (no widget left that
    # would need the kernel: see notebook/static.py)
    return "wb-status-succeeded" in data.get("text/html", "") and data["text/plain"].startswith("job ")


def test_show_as_the_last_line_displays_once(tmp_path):
    outs = _cell_outputs(tmp_path, "job.show()")
    assert len(outs) == 1, outs
    assert _finished_view(outs[0]["data"])


def test_the_job_as_the_last_line_displays_once(tmp_path):
    outs = _cell_outputs(tmp_path, "job")
    assert len(outs) == 1, outs
    assert _finished_view(outs[0]["data"])
