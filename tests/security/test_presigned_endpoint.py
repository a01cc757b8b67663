"""A presigned URL never carries the S3 endpoint's userinfo (SECURITY.md, point 9).

`WORKBENCH_S3_ENDPOINT_URL=http://KEY:SECRET@host` used to come back inside every presigned URL
(`workbench upload-url`, the HTTP `POST /uploads`): URLs handed to browsers, printed and logged.
The endpoint a client is made with has no userinfo; the upload still works (the bytes PUT to the
URL are confirmed and ingested) on moto's S3 server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "storage"))
sys.path.insert(0, str(HERE.parent / "server"))

from s3_helpers import PART, make_bucket, put  # noqa: E402

pytestmark = pytest.mark.services

CSV = b"a,b\n1,x\n"


def _endpoint(s3_server) -> tuple[str, list[str]]:
    """moto's endpoint with a unique user and password in it, and those secrets."""
    user, password = f"AKIAEND{uuid.uuid4().hex[:8].upper()}", f"StoPw_{uuid.uuid4().hex[:10]}"
    host = s3_server.url.split("://", 1)[1]
    return f"http://{user}:{password}@{host}", [user, password, f"{user}:{password}@"]


def _assert_clean(url: str, secrets: list[str], s3_server) -> None:
    for secret in secrets:
        assert secret not in url
    parts = urlsplit(url)
    assert "@" not in parts.netloc and parts.username is None and parts.password is None
    assert f"{parts.scheme}://{parts.netloc}" == s3_server.url  # the endpoint's host and port


def _cli(tmp_path: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    full.update(env)
    full["PYTHONPATH"] = str(HERE.parents[1] / "src")
    return subprocess.run([sys.executable, "-m", "workbench", *argv], cwd=tmp_path, env=full,
                          capture_output=True, text=True, timeout=180)


@pytest.fixture
def cli_env(s3_server, tmp_path) -> tuple[dict[str, str], list[str]]:
    endpoint, secrets = _endpoint(s3_server)
    env = {"WORKBENCH_HOME": str(tmp_path / "home"),
           "WORKBENCH_STORAGE_URL": f"s3://{make_bucket(s3_server.url)}/wb",
           "WORKBENCH_S3_ENDPOINT_URL": endpoint, "WORKBENCH_PART_SIZE": str(PART),
           "WORKBENCH_UPLOAD_SINGLE_PUT_MAX": str(PART),
           "WORKBENCH_KEYS_DIR": os.environ["WORKBENCH_KEYS_DIR"],
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    return env, secrets


def test_upload_url_has_no_endpoint_userinfo_and_the_upload_works(cli_env, s3_server, tmp_path):
    env, secrets = cli_env
    out = _cli(tmp_path, env, "upload-url", "--filename", "a.csv", "--size", str(len(CSV)),
               "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    info = json.loads(out.stdout)
    _assert_clean(info["url"], secrets, s3_server)
    text = _cli(tmp_path, env, "upload-url", "--filename", "b.csv", "--size", "10")
    assert text.returncode == 0 and "PUT with" in text.stdout
    everything = out.stdout + out.stderr + text.stdout + text.stderr
    for secret in secrets:
        assert secret not in everything
    # the URL still does its job: the bytes arrive, are confirmed and ingested
    assert put(info["url"], CSV, info["headers"]) == 200
    done = _cli(tmp_path, env, "confirm", info["upload_id"], "--name", "uploaded", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "uploaded" in done.stdout
    for secret in secrets:
        assert secret not in done.stdout + done.stderr


def test_multipart_part_urls_have_no_endpoint_userinfo(cli_env, s3_server, tmp_path):
    env, secrets = cli_env
    from workbench.uploads import SINGLE_PUT_MAX

    size = SINGLE_PUT_MAX + 1024  # one URL per part above it
    out = _cli(tmp_path, env, "upload-url", "--filename", "big.csv", "--size", str(size), "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    info = json.loads(out.stdout)
    assert info["multipart"] and len(info["parts"]) >= 2
    for part in info["parts"]:
        _assert_clean(part["url"], secrets, s3_server)
    for secret in secrets:
        assert secret not in out.stdout + out.stderr


def test_http_post_uploads_has_no_endpoint_userinfo(s3_server, tmp_path):
    from api_client import start_server

    endpoint, secrets = _endpoint(s3_server)
    root = tmp_path / "root"
    root.mkdir()
    wb = start_server(root, {
        "WORKBENCH_HOME": str(root / "wbhome"),
        "WORKBENCH_STORAGE_URL": f"s3://{make_bucket(s3_server.url)}/wb",
        "WORKBENCH_S3_ENDPOINT_URL": endpoint, "WORKBENCH_PART_SIZE": str(PART),
        "WORKBENCH_UPLOAD_SINGLE_PUT_MAX": str(PART),
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    try:
        with wb.session() as s:
            r = s.post(wb.api + "/uploads", json={"filename": "visits.csv", "size": len(CSV)})
            assert r.status_code in (200, 201), r.text
            plan = r.json()
            _assert_clean(plan["url"], secrets, s3_server)
            big = s.post(wb.api + "/uploads", json={"filename": "big.csv", "size": PART + 1})
            assert big.status_code in (200, 201), big.text
            for part in big.json()["parts"]:
                _assert_clean(part["url"], secrets, s3_server)
            assert put(plan["url"], CSV, plan["headers"]) == 200
            done = s.post(f"{wb.api}/uploads/{plan['upload_id']}/confirm",
                          json={"name": "visits"})
            assert done.status_code in (200, 202), done.text
            replies = r.text + big.text + done.text
        log = (wb.server.workdir / "server.log").read_text(errors="replace")
        for secret in secrets:
            assert secret not in replies and secret not in log
    finally:
        wb.stop()
