"""The extension is enabled by installing the package: the wheel's data files carry the Jupyter
Server config (and the built panel when it exists)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_the_server_config_that_enables_the_extension():
    setup = runpy.run_path(str(REPO / "setup.py"), run_name="setup_under_test")
    files = dict(setup["data_files"]())
    (config,) = files["etc/jupyter/jupyter_server_config.d"]
    data = json.loads((REPO / config).read_text())
    assert data == {"ServerApp": {"jpserver_extensions": {"workbench.server": True}}}


def test_extension_points_name_the_server_module_and_the_panel():
    import workbench
    import workbench.server

    assert workbench.server._jupyter_server_extension_points() == [{"module": "workbench.server"}]
    assert workbench._jupyter_server_extension_points() == [{"module": "workbench.server"}]
    (paths,) = workbench._jupyter_labextension_paths()
    assert paths["dest"] == "workbench-panel"
    assert (Path(workbench.__file__).parent / paths["src"]).parent == Path(workbench.server.__file__).parent


def test_the_docs_describe_every_endpoint():
    import re

    from workbench.server.routes import ROUTES, methods

    docs = (REPO / "docs" / "server.md").read_text()
    described = set(re.findall(r"^`(GET|POST|PUT|PATCH|DELETE) (/[^`]*)`$", docs, re.M))
    registered = {(m.upper(), t) for t, h in ROUTES for m in methods(h)}
    assert described == registered
    readme = (REPO / "README.md").read_text()
    assert "jupyter server list" in readme and "/workbench/api/v1" in readme
