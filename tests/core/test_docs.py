"""The docs site builds with no warning, and the code it shows runs as shown."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env["WORKBENCH_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    return env


def test_the_first_pipeline_snippet_runs(tmp_path):
    from workbench.cli.demo_data import write_sample

    (tmp_path / "data").mkdir()
    write_sample(tmp_path / "data" / "sales.csv", rows=3000)
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "snippets" / "first_pipeline.py")],
                          cwd=tmp_path, env=_env(tmp_path / "home"), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "succeeded 4" in proc.stdout  # job.status, job.result.rows: four regions
    assert proc.stdout.count("north") == 2  # in the preview and in the dataset read back


def test_the_site_builds_strictly(tmp_path):
    """`mkdocs build --strict`: a broken link, a missing page or a bad reference fails it."""
    mkdocs = shutil.which("mkdocs")
    assert mkdocs, "mkdocs is a dev dependency: pip install -e '.[dev]'"
    site = tmp_path / "site"
    proc = subprocess.run([mkdocs, "build", "--strict", "-d", str(site)], cwd=ROOT,
                          env=_env(tmp_path / "home"), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cli_page = (site / "reference" / "cli" / "index.html").read_text()
    assert "workbench ingest" in cli_page and "--partition-by" in cli_page
    yaml_page = (site / "reference" / "yaml" / "index.html").read_text()
    assert "FileSource" in yaml_page and "in_range" in yaml_page
    api_page = (site / "reference" / "python" / "index.html").read_text()
    assert "workbench.submit" in api_page
    assert (site / "notebooks" / "01-quickstart" / "index.html").exists()


def test_a_preview_prints_as_a_table():
    import polars as pl

    from workbench.api import Preview

    frame = Preview(pl.DataFrame({"a": [1, 2]}))
    assert repr(frame) == str(frame) == str(pl.DataFrame({"a": [1, 2]}))
