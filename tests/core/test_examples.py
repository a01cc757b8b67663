"""`workbench init` and every pipeline in examples/ run as they are, through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from workbench.spec import load_pipeline

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def cli(*args: str, cwd: Path, home: Path, rc: int = 0) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env["WORKBENCH_HOME"] = str(home)
    proc = subprocess.run([sys.executable, "-m", "workbench", *args, "--json"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == rc, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_init_writes_a_pipeline_that_runs(tmp_path):
    home = tmp_path / "home"
    out = cli("init", "project", "--rows", "2000", cwd=tmp_path, home=home)
    assert Path(out["pipeline"]) == Path("project/pipeline.yaml")
    text = (tmp_path / "project" / "pipeline.yaml").read_text()
    assert sum(line.startswith("#") for line in text.splitlines()) >= 8  # it explains itself
    result = cli("run", "pipeline.yaml", cwd=tmp_path / "project", home=home)
    assert result["name"] == "sales_by_region" and result["rows"] == 4
    again = cli("init", "project", cwd=tmp_path, home=home, rc=1)
    assert again["error"]["type"] == "AlreadyExists" and "--force" in again["error"]["hint"]


def test_every_example_is_a_valid_spec_in_short_form():
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert len(files) >= 6
    for f in files:
        load_pipeline(f)  # raises SpecError naming the file if not
        data = yaml.safe_load(f.read_text())
        assert "kind" not in json.dumps(data), f"{f.name} should use the short form"


def test_the_examples_run_in_order(tmp_path):
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES, work)
    subprocess.run([sys.executable, "make_data.py"], cwd=work, check=True, timeout=60)
    home = tmp_path / "home"

    sales = cli("run", "01-checks.yaml", cwd=work, home=home)
    assert sales["rows"] == 1000
    assert any(c["name"].startswith("not_null(quantity") and not c["passed"] for c in sales["checks"])

    months = cli("run", "02-glob.yaml", cwd=work, home=home)
    assert months["rows"] == 12  # 3 monthly files x 4 regions

    cli("ingest", "data/customers.csv", "--name", "customers", cwd=work, home=home)
    segments = cli("run", "03-join-dataset.yaml", cwd=work, home=home)
    assert segments["rows"] == 2

    cli("ingest", "data/products.csv", "--name", "products", cwd=work, home=home)
    products = cli("run", "04-upsert.yaml", cwd=work, home=home)
    assert products["rows"] == 25  # 20 products, 5 of them repriced, 5 new

    card = cli("run", "05-database.yaml", cwd=work, home=home)
    assert card["rows"] == 200  # two in three of 300 payments are by card

    first = cli("run", "06-incremental.yaml", cwd=work, home=home)
    assert first["rows"] == 300
    second = cli("run", "06-incremental.yaml", cwd=work, home=home)
    assert second["rows"] == 300  # nothing new: nothing appended
