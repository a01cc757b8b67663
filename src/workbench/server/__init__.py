"""The workbench inside Jupyter Server: a REST API under ``/workbench/api/v1/`` and the
"Workbench" JupyterLab sidebar that uses it.

Enabled on install by ``jupyter-config/jupyter_server_config.d/workbench.json`` (shipped as data
files into ``etc/jupyter``); the prebuilt JupyterLab extension ships in
``share/jupyter/labextensions/workbench-panel``. Handlers call the public API and the layers
below it, nothing else: this package is a front end, like ``workbench.cli`` and
``workbench.notebook``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

LABEXTENSION_NAME = "workbench-panel"
LABEXTENSION_DIR = Path(__file__).parent / "labextension"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "workbench.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """For ``jupyter labextension develop``: where the built panel lives in the source tree."""
    return [{"src": "labextension", "dest": LABEXTENSION_NAME}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    # the routes import tornado (heavy optional dependency): imported when the server loads us
    from .routes import handlers

    web_app = serverapp.web_app
    web_app.add_handlers(".*$", handlers(web_app.settings["base_url"]))
    serverapp.log.info("workbench: API at %sworkbench/api/v1/", web_app.settings["base_url"])


# Jupyter Server before 2 looked for this name.
load_jupyter_server_extension = _load_jupyter_server_extension
