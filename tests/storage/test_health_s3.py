"""Health of an S3 storage: `workbench doctor`, `status.health()` and the HTTP `/health` say
storage is ok (with its masked base URL) when the bucket answers, and down with the real error
when it does not. A moto server of this module's own is stopped for the second half.

The health check used to ask the storage for ``uri("")``, which an object store refuses
("invalid storage key ''"): every S3 deployment reported its storage down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from s3_helpers import make_bucket
from servers import start_moto

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "server"))

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def s3_home(tmp_path_factory):
    """A private moto server, a bucket on it, and a workbench environment storing there; the
    endpoint carries a userinfo, which must show nowhere."""
    moto = start_moto()
    bucket = make_bucket(moto.url)
    secret = f"EndPw{uuid.uuid4().hex[:10]}"
    root = tmp_path_factory.mktemp("s3-health")
    env = {"WORKBENCH_HOME": str(root / "home"), "WORKBENCH_STORAGE_URL": f"s3://{bucket}/wb",
           "WORKBENCH_S3_ENDPOINT_URL": moto.url.replace("://", f"://AKIAEND:{secret}@"),
           "WORKBENCH_KEYS_DIR": os.environ["WORKBENCH_KEYS_DIR"],
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    yield moto, bucket, secret, env, root
    moto.stop()


def _doctor(env: dict[str, str]) -> tuple[int, dict, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    base["PYTHONPATH"] = str(HERE.parents[1] / "src")
    out = subprocess.run([sys.executable, "-m", "workbench", "doctor", "--json"],
                         env={**base, **env}, capture_output=True, text=True, timeout=180)
    text = subprocess.run([sys.executable, "-m", "workbench", "doctor"], env={**base, **env},
                          capture_output=True, text=True, timeout=180)
    checks = {c["check"]: c for c in json.loads(out.stdout)["checks"]}
    return out.returncode, checks, out.stdout + out.stderr + text.stdout + text.stderr


def _health_here(env: dict[str, str]) -> dict:
    from workbench.context import Context
    from workbench.runners.status import health
    from workbench.settings import Settings

    with pytest.MonkeyPatch.context() as mp:
        for var in list(os.environ):
            if var.startswith("WORKBENCH_"):
                mp.delenv(var)
        for key, value in env.items():
            mp.setenv(key, value)
        return health(Context.from_settings(Settings.from_env()))


def test_s3_storage_health_is_ok_then_down_when_the_bucket_stops_answering(s3_home):
    from api_client import start_server

    moto, bucket, secret, env, root = s3_home
    # --------------------------------------------------------------- the bucket answers
    rc, checks, shown = _doctor(env)
    assert checks["storage"]["status"] == "ok", checks["storage"]
    assert checks["storage"]["detail"] == f"s3://{bucket}/wb answers"
    assert checks["storage write"]["status"] == "ok"
    assert "invalid storage key" not in shown and rc == 0
    report = _health_here(env)
    assert report["storage"]["state"] == "ok" and report["storage"]["url"] == f"s3://{bucket}/wb"
    assert report["ok"] is True

    (root / "srv").mkdir()
    wb = start_server(root / "srv", env)
    try:
        with wb.session() as s:
            up = s.get(wb.api + "/health", timeout=60)
            assert up.status_code == 200, up.text
            assert up.json()["storage"]["state"] == "ok", up.json()
            assert up.json()["storage"]["url"] == f"s3://{bucket}/wb"
            # ----------------------------------------------------- the bucket does not
            moto.stop()
            down = s.get(wb.api + "/health", timeout=120)
        assert down.json()["storage"]["state"] == "down", down.json()
        error = down.json()["storage"]["error"]
        assert error["type"] == "StorageUnavailable"
        assert "cannot reach the S3 endpoint http://***@127.0.0.1" in error["message"]
        log = (wb.server.workdir / "server.log").read_text(errors="replace")
    finally:
        wb.stop()

    rc, checks, shown_down = _doctor(env)
    assert rc == 1 and checks["storage"]["status"] == "fail"
    assert "cannot reach the S3 endpoint" in checks["storage"]["detail"]
    assert "invalid storage key" not in checks["storage"]["detail"]
    report = _health_here(env)
    assert report["storage"]["state"] == "down" and report["ok"] is False
    assert report["storage"]["error"]["type"] == "StorageUnavailable"
    for text in (shown, shown_down, up.text, down.text, json.dumps(report), log):
        assert secret not in text


def test_a_missing_bucket_is_down_with_its_error(s3_home):
    moto, bucket, secret, env, root = s3_home
    if moto.proc is None:
        moto.start()  # the test above stopped it
    env = {**env, "WORKBENCH_STORAGE_URL": f"s3://no-such-{uuid.uuid4().hex[:12]}/wb"}
    report = _health_here(env)
    assert report["storage"]["state"] == "down"
    assert "no-such-" in report["storage"]["error"]["message"]
    assert secret not in json.dumps(report)
