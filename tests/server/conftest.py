from __future__ import annotations

import pytest

from api_client import start_server


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """A Jupyter Server with the extension on the embedded default (local storage, SQLite
    catalog, jobs in the server process): no broker. Jobs submitted over HTTP run in the server,
    which runs registered Python steps only: the tests' steps are registered."""
    root = tmp_path_factory.mktemp("srv-root")
    home = root / "wbhome"
    wb = start_server(root, {"WORKBENCH_HOME": str(home), "WORKBENCH_PYTHON_STEPS": "srvtest_steps"})
    wb.home = home  # type: ignore[attr-defined]
    yield wb
    wb.stop()


@pytest.fixture
def api(embedded):
    """A requests session that sends the server's token."""
    with embedded.session() as s:
        yield s
