from __future__ import annotations

import subprocess
import sys

import workbench as wb


def test_all_names_resolve():
    for name in wb.__all__:
        assert getattr(wb, name) is not None, name


def test_import_is_light():
    """Importing workbench loads no front end, broker or cloud client."""
    code = ("import sys, workbench; "
            "print(sorted(m for m in ('ipywidgets', 'celery', 'boto3', 'papermill', 'redis') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
