"""The storage commands, as a script would call them with --json."""

from __future__ import annotations

import hashlib
import json

import pytest
from s3_helpers import put

from workbench.cli import main

pytestmark = pytest.mark.services


@pytest.fixture
def cli(s3_settings, monkeypatch, capsys):
    for k, v in {"WORKBENCH_STORAGE_URL": s3_settings.storage_url,
                 "WORKBENCH_S3_ENDPOINT_URL": s3_settings.s3_endpoint_url,
                 "WORKBENCH_CATALOG_URL": s3_settings.catalog_url,
                 "WORKBENCH_PART_SIZE": str(s3_settings.part_size),
                 "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)

    def run(*argv: str) -> tuple[int, dict]:
        code = main([*argv, "--json"])
        out = capsys.readouterr().out.strip().splitlines()
        return code, json.loads(out[-1])

    return run


def test_upload_confirm_ingest_verify_delete_gc(cli):
    data = b"id,region\n" + b"".join(f"{i},r{i % 3}\n".encode() for i in range(1000))
    code, up = cli("upload-url", "--filename", "regions.csv", "--size", str(len(data)),
                   "--sha256", hashlib.sha256(data).hexdigest())
    assert code == 0 and up["multipart"] is False
    assert put(up["url"], data, up["headers"]) == 200

    code, ds = cli("confirm", up["upload_id"], "--name", "regions")
    assert code == 0, ds
    assert ds["name"] == "regions" and ds["rows"] == 1000
    assert ds["upload"]["status"] == "ingested"
    code, again = cli("confirm", up["upload_id"])  # the temporary object is gone; the record stays
    assert code == 0 and again["status"] == "ingested"

    code, report = cli("verify", "regions")
    assert code == 0 and report["ok"] is True and report["files"] == 1

    code, deleted = cli("delete", "regions", "--version", "1")
    assert code == 0 and deleted["version"] == 1
    code, err = cli("verify", "regions")
    assert code == 1 and err["error"]["type"] == "NotFound"

    code, report = cli("gc", "--retention", "0")
    assert code == 0 and report["versions_purged"] == 1 and report["errors"] == []


def test_verify_reports_damage_with_a_nonzero_exit(cli, s3_settings, tmp_path):
    from s3_helpers import context_for

    import workbench as wb

    (tmp_path / "a.csv").write_text("x\n1\n2\n")
    ds = wb.ingest(str(tmp_path / "a.csv"), name="a")
    context_for(s3_settings).storage.put_bytes(ds.files[0]["key"], b"not the same bytes")
    code, report = cli("verify", "a")
    assert code == 1 and report["ok"] is False
    assert report["error"]["type"] == "CheckFailed"
    assert report["mismatched"][0]["key"] == ds.files[0]["key"]


def test_errors_are_json(cli):
    code, out = cli("confirm", "0" * 32)
    assert code == 1 and out["error"]["type"] == "NotFound"
    code, out = cli("upload-url", "--filename", "a.csv", "--size", "0")
    assert code == 1 and out["error"]["type"] == "SpecError"
    code, out = cli("gc", "--retention", "soon")
    assert code == 1 and "duration" in out["error"]["message"]
    code, out = cli("delete", "../etc")
    assert code == 1 and out["error"]["type"] == "SpecError"
