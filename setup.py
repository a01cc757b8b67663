"""Data files that pyproject.toml cannot list: the Jupyter Server config that enables the API
on install, and the prebuilt JupyterLab panel (built here from ``labextension/`` when Node is
available and the assets are missing; never required, so ``pip install -e .`` needs no Node).

``WORKBENCH_SKIP_LABEXTENSION=1`` skips the JS build; CI builds it explicitly in ``.ci/run``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "labextension"
BUILT = HERE / "src" / "workbench" / "server" / "labextension"
SHARE = "share/jupyter/labextensions/workbench-panel"


def build_labextension() -> None:
    if (BUILT / "package.json").exists() or os.environ.get("WORKBENCH_SKIP_LABEXTENSION"):
        return
    jlpm = shutil.which("jlpm")
    if not (SOURCE / "package.json").exists() or shutil.which("node") is None or jlpm is None:
        print("workbench: Node or jlpm not found; the JupyterLab panel is not built "
              "(the API works without it)", file=sys.stderr)
        return
    try:
        subprocess.run([jlpm, "install"], cwd=SOURCE, check=True)
        subprocess.run([jlpm, "build"], cwd=SOURCE, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"workbench: building the JupyterLab panel failed ({exc}); the API works without "
              "it. Build it with: cd labextension && jlpm install && jlpm build", file=sys.stderr)


def data_files() -> list[tuple[str, list[str]]]:
    out = [("etc/jupyter/jupyter_server_config.d",
            ["jupyter-config/jupyter_server_config.d/workbench.json"])]
    if BUILT.is_dir():
        folders: dict[str, list[str]] = {}
        for path in sorted(BUILT.rglob("*")):
            if path.is_file():
                rel = path.relative_to(BUILT)
                folders.setdefault(str(Path(SHARE) / rel.parent), []).append(
                    str(path.relative_to(HERE)))
        out += [(folder.rstrip("/."), files) for folder, files in folders.items()]
    return out


if __name__ == "__main__":  # setuptools runs this file as __main__; tests import data_files()
    build_labextension()
    setup(data_files=data_files())
