"""The CLI as a script would use it: a real subprocess, --json on stdout, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def wb(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env["WORKBENCH_HOME"] = str(home)
    proc = subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          env=env, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


def test_demo_ingest_datasets_show_jobs(home, tmp_path):
    out = json.loads(wb("demo", "--rows", "5000", "--json", home=home).stdout)
    assert out["result"]["name"] == "demo_sales_by_region" and len(out["rows"]) == 4
    assert out["ingest"]["rows"] == 5000

    sales = tmp_path / "sales.csv"
    sales.write_text("region,amount\nn,1\ns,NA\n")
    ds = json.loads(wb("ingest", str(sales), "--name", "sales", "--json", home=home).stdout)
    assert ds["rows"] == 2 and ds["version"] == 1
    assert {f["name"]: f["type"] for f in ds["schema"]["fields"]} == {"region": "String", "amount": "Int64"}

    listing = json.loads(wb("datasets", "--json", home=home).stdout)
    assert {d["name"] for d in listing["datasets"]} == {"sales", "demo_sales", "demo_sales_by_region"}

    shown = json.loads(wb("show", "sales", "--json", home=home).stdout)
    assert shown["versions"][0]["version"] == 1 and Path(shown["locations"][0]).exists()
    assert shown["profile"]["columns"]["amount"]["null_count"] == 1

    jobs = json.loads(wb("jobs", "--json", home=home).stdout)["jobs"]
    assert len(jobs) == 3 and all(j["status"] == "succeeded" for j in jobs)

    text = wb("show", "sales", home=home).stdout
    assert "sales v1" in text and "amount" in text


def test_show_prints_the_exact_distinct_count(home, tmp_path):
    """The profile's exact distinct count, not the first pass's estimate (HyperLogLog was 1.7 %
    low on 400,000 unique ids); an estimate would carry "≈"."""
    ids = tmp_path / "ids.csv"
    ids.write_text("id,k\n" + "".join(f"{i},{i % 3}\n" for i in range(400_000)))
    wb("ingest", str(ids), "--name", "ids", home=home)
    lines = {ln.split()[0]: ln for ln in wb("show", "ids", home=home).stdout.splitlines()[1:]
             if ln.startswith("  ") and ln.split()}
    assert ", distinct 400,000" in lines["id"] and "≈" not in lines["id"], lines["id"]
    assert ", distinct 3" in lines["k"], lines["k"]


def test_run_spec_file(home, tmp_path):
    data = tmp_path / "o.csv"
    data.write_text("region,amount\nn,1\nn,2\ns,3\n")
    spec = tmp_path / "p.yaml"
    spec.write_text(f"""
name: totals
source: {{kind: file, path: "{data}"}}
steps:
  - {{op: sql, query: "SELECT region, sum(amount) AS total FROM input GROUP BY ALL ORDER BY 1"}}
checks:
  - {{check: not_null, columns: [region]}}
sink: {{kind: dataset, name: totals}}
""")
    out = json.loads(wb("run", str(spec), "--json", home=home).stdout)
    assert out["rows"] == 2 and out["job_id"]
    assert json.loads(wb("validate", str(spec), "--json", home=home).stdout)["valid"] is True


def test_failure_prints_error_object_without_traceback(home, tmp_path):
    proc = wb("ingest", str(tmp_path / "missing.csv"), "--name", "x", "--json", home=home, check=False)
    assert proc.returncode == 1
    err = json.loads(proc.stdout)["error"]
    assert set(err) == {"type", "message", "file", "row", "column", "step", "hint"}
    assert err["file"] and "Traceback" not in proc.stderr + proc.stdout
    jobs = json.loads(wb("jobs", "--json", home=home).stdout)["jobs"]
    assert jobs[0]["status"] == "failed" and jobs[0]["error"]["type"] == err["type"]


def test_show_unknown_dataset(home):
    proc = wb("show", "nope", "--json", home=home, check=False)
    assert proc.returncode == 1 and json.loads(proc.stdout)["error"]["type"] == "NotFound"


def test_numbers_past_the_catalogs_range_are_usage_errors(home, tmp_path):
    """A version or limit the catalog cannot hold is a usage error naming the bounds (it was an
    OverflowError from SQLite, exit 3); in a spec it is refused before any job."""
    sales = tmp_path / "sales.csv"
    sales.write_text("region,amount\nn,1\n")
    wb("ingest", str(sales), "--name", "sales", home=home)
    for args in (("show", "sales", "--version", "99999999999999999999"),
                 ("show", "sales", "--version", "0"), ("jobs", "--limit", "9223372036854775808"),
                 ("verify", "sales", "--version", "99999999999999999999")):
        proc = wb(*args, "--json", home=home, check=False)
        err = json.loads(proc.stdout)["error"]
        assert proc.returncode == 2 and err["type"] == "UsageError", (args, proc.stdout)
        assert "between 1 and 9223372036854775807" in err["message"]
    spec = tmp_path / "huge.json"
    spec.write_text(json.dumps({"source": {"kind": "dataset", "name": "sales",
                                           "version": 99999999999999999999},
                                "sink": {"kind": "dataset", "name": "copy"}}))
    proc = wb("run", str(spec), "--json", home=home, check=False)
    err = json.loads(proc.stdout)["error"]
    assert proc.returncode == 1 and err["type"] == "SpecError", proc.stdout
    assert "version" in err["message"]
    assert len(json.loads(wb("jobs", "--json", home=home).stdout)["jobs"]) == 1  # the ingest
    # the Python API's calls reach the catalog's own bound: not found, not an overflow
    code = ("import workbench as wb, json\n"
            "try:\n    wb.info('sales', version=10**20)\n"
            "except Exception as e:\n    print(json.dumps(e.to_dict()))")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("WORKBENCH_")}
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                         env={**env, "WORKBENCH_HOME": str(home)}, timeout=120)
    err = json.loads(out.stdout)
    assert err["type"] == "NotFound" and "no version 100000000000000000000" in err["message"], err


def test_schema_prints_json_schema(home):
    schema = json.loads(wb("schema", home=home).stdout)
    assert schema["title"] == "Pipeline"


def test_plain_lines_when_not_a_terminal(home, tmp_path):
    data = tmp_path / "o.csv"
    data.write_text("a\n1\n2\n")
    proc = wb("ingest", str(data), "--name", "o", home=home)
    assert "\r" not in proc.stderr and "done: o v1" in proc.stderr
