"""The import contracts in pyproject.toml hold: lower layers never import higher ones (not even
inside a function), engines never import runners, workers or front ends, storage imports no
engine, and no package has an import cycle."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def lint_imports(cwd: Path, src: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([exe, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True)


def test_import_contracts_hold():
    result = lint_imports(ROOT, ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


def test_a_back_edge_inside_a_function_breaks_the_build(tmp_path):
    """A lower layer importing a higher one inside a function is caught, not only at the top."""
    shutil.copytree(ROOT / "src", tmp_path / "src")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    engine = tmp_path / "src" / "workbench" / "engines" / "steps.py"
    engine.write_text(engine.read_text() + "\n\ndef _back_edge():\n"
                      "    from ..runners import get_runner\n\n    return get_runner\n")
    result = lint_imports(tmp_path, tmp_path / "src")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "workbench.engines.steps -> workbench.runners" in result.stdout.replace("\n", " ") \
        or "workbench.engines.steps is not allowed to import workbench.runners" in result.stdout
