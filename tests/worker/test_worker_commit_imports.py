"""A worker imports the Iceberg library before its pool processes fork, so that no pool
process pays the imports inside its first commit (0.7-0.9 s measured on a fan-out commit)."""

import os
import subprocess
import sys

import pytest

PROBE = (
    "import sys\n"
    "from workbench.worker import app\n"
    "app._import_commit_libraries()\n"
    "print('pyiceberg.table' in sys.modules)\n"
)


@pytest.mark.parametrize("catalog, imported", [("sql", "True"), ("none", "False")])
def test_the_worker_start_imports_what_a_commit_uses(tmp_path, catalog, imported):
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path), "WORKBENCH_ICEBERG_CATALOG": catalog}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == imported, out.stderr
