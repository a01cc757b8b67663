"""Driving a real JupyterLab in Debian's Chromium: shared by the browser tests.

Screenshots go to ``test-artifacts/`` (gitignored) so a person can look at what was rendered;
``pytest -m browser tests/notebook`` writes them again.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from servers import start_jupyterlab

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
# the built JupyterLab extension (labextension/: jlpm build); it also shows saved copies of
# workbench outputs whose widgets are gone
BUILT = REPO / "src" / "workbench" / "server" / "labextension"
CHROMIUM = "/usr/bin/chromium"
WAIT = 120_000  # ms: an upper bound for a step, not a speed requirement

SLOW_STEPS = '''\
import time

import polars as pl


def crawl(frame: pl.LazyFrame, delay: float = 3.0) -> pl.LazyFrame:
    """Pass rows through slowly: a long job to watch and cancel."""
    def slow(df: pl.DataFrame) -> pl.DataFrame:
        time.sleep(delay)
        return df
    return frame.map_batches(slow, streamable=True)
'''

BUSY_GATE = "release-busy-cell"
LONG_JOB = [
    "import os, polars as pl\nimport workbench as wb\nos.environ['WORKBENCH_HOME'] = HOME",
    "pl.DataFrame({'i': range(3_000_000)}).write_csv('long.csv')\n"
    "job = wb.submit(wb.Pipeline(name='long job', source=wb.file(os.path.abspath('long.csv')),\n"
    "                            steps=[wb.python('slow_steps:crawl', delay=4.0)],\n"
    "                            sink=wb.dataset('long')))\n"
    "job",
    # another cell keeps the kernel busy (until the test creates BUSY_GATE in the lab's root);
    # the view goes on updating meanwhile
    f"import os, time\nwhile not os.path.exists({BUSY_GATE!r}):\n    time.sleep(0.05)",
]


def with_home(path: Path, home: Path) -> None:
    """Point a notebook copy at a known workbench home (its parameters cell, or a first cell)."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            cell.source += f"\nworkbench_home = {str(home)!r}"
            break
    nbformat.write(nb, path)


def open_notebook(browser, lab, name: str):
    server, _root, _home = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(WAIT)
    base, query = server.url.split("?", 1)
    page.goto(f"{base}/tree/{name}?{query}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    # the kernel is connected when the status bar says so
    page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first.wait_for()
    return page


def run_all(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    # every code cell gets an execution count once run (a [*] prompt while waiting)
    page.wait_for_function("""() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
        .every((p) => /\\[(\\d+|\\*)\\]/.test(p.textContent))""")


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path




def start_lab(root: Path):
    """JupyterLab over ``root`` with the example notebooks (pointed at ``root/wbhome``), the
    slow-steps module and a long-job notebook; returns ``(server, root, home)``."""
    home = root / "wbhome"
    for nb in (REPO / "notebooks").glob("*.ipynb"):
        shutil.copy(nb, root / nb.name)
        with_home(root / nb.name, home)
    (root / "slow_steps.py").write_text(SLOW_STEPS)
    write_notebook(root / "long-job.ipynb", [f"HOME = {str(home)!r}", *LONG_JOB])
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    if (BUILT / "package.json").exists():  # found as an installed wheel puts it
        jpath = root / "jupyter-path"
        (jpath / "labextensions").mkdir(parents=True)
        (jpath / "labextensions" / "workbench-panel").symlink_to(BUILT)
        env["JUPYTER_PATH"] = os.pathsep.join([str(jpath), env.get("JUPYTER_PATH", "")]).rstrip(os.pathsep)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return start_jupyterlab(root, env), root, home


def write_notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}


def set_theme(server, theme: str) -> None:
    """The theme pages opened from now on start in (JupyterLab reads user settings per load)."""
    folder = server.workdir / "settings" / "@jupyterlab" / "apputils-extension"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "themes.jupyterlab-settings").write_text(json.dumps({"theme": THEMES[theme]}))


def wait_idle(page) -> None:
    """Every code cell has run and none is running ([n] prompts, no [*])."""
    page.wait_for_function("""() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
        .every((p) => /\\[\\d+\\]/.test(p.textContent))""")


# The contrast of every piece of visible text under a root: its colour composed over the
# backgrounds behind it (semi-transparent layers included), as WCAG 2 defines the ratio.
CONTRAST_JS = """(root) => {
  const canvas = document.createElement('canvas'); canvas.width = canvas.height = 1;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const rgba = (css) => {  // any CSS colour (rgb, color-mix, color(srgb …)) to 0..255 + alpha
    ctx.clearRect(0, 0, 1, 1); ctx.fillStyle = 'rgba(0,0,0,0)'; ctx.fillStyle = css;
    ctx.fillRect(0, 0, 1, 1); const d = ctx.getImageData(0, 0, 1, 1).data;
    return [d[0], d[1], d[2], d[3] / 255];
  };
  const over = (top, bottom) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let bg = [255, 255, 255, 1];
    if (layers.length && layers[layers.length - 1][3] >= 1) bg = layers.pop();
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const out = [];
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  for (const el of [root, ...root.querySelectorAll('*')]) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const field = ['INPUT', 'TEXTAREA', 'SELECT', 'BUTTON'].includes(el.tagName);
    if (!(own || field) || !visible(el)) continue;
    if (field && el.tagName === 'INPUT' && !el.value) continue;
    const bg = background(el);
    const fg = over(rgba(getComputedStyle(el).color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    out.push({text: (el.value || el.textContent).trim().slice(0, 40), tag: el.tagName,
              cls: String(el.className).slice(0, 60), ratio: (hi + 0.05) / (lo + 0.05),
              fg: fg.slice(0, 3).map(Math.round), bg: bg.slice(0, 3).map(Math.round)});
  }
  return out;
}"""


def contrast(locator) -> list[dict]:
    """Every visible text under each element the locator matches, with its contrast ratio."""
    found: list[dict] = []
    for i in range(locator.count()):
        found += locator.nth(i).evaluate(CONTRAST_JS)
    return found

