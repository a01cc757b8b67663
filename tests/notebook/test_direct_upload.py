"""The upload form's browser-direct path against a real S3 server: the kernel only plans and
confirms; the bytes go by HTTP PUT to the presigned URL, as the browser's picker sends them."""

from __future__ import annotations

import http.client
import uuid
from urllib.parse import urlsplit

import pytest

import workbench as wb
from workbench.notebook.upload import UploadForm

pytestmark = pytest.mark.services

CSV = b"region,amount\n" + b"".join(f"r{i % 7},{i}\n".encode() for i in range(20_000))


def put(url: str, body: bytes, headers: dict[str, str]) -> int:
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("PUT", f"{u.path}?{u.query}", body=body,
                 headers={"Content-Length": str(len(body)), **headers})
    status = conn.getresponse().status
    conn.close()
    return status


@pytest.fixture
def s3_env(s3_server, wb_home, monkeypatch):
    import boto3

    bucket = f"wb-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server.url, aws_access_key_id="testing",
                 aws_secret_access_key="testing", region_name="us-east-1").create_bucket(Bucket=bucket)
    for k, v in {"WORKBENCH_STORAGE_URL": f"s3://{bucket}/wb", "WORKBENCH_S3_ENDPOINT_URL": s3_server.url,
                 "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    return bucket


def test_direct_upload_plans_confirms_and_ingests(s3_env):
    form = UploadForm()
    assert form.direct and form.file_upload is None
    sent: list[dict] = []
    form.picker.send = sent.append  # what would go to the browser
    form.picker.filename, form.picker.size = "orders.csv", len(CSV)
    assert form.name.value == "orders"
    assert form.ingest() is None  # the browser does the rest
    plan = sent[0]
    assert plan["type"] == "plan" and not plan["multipart"] and plan["size"] == len(CSV)
    assert put(plan["url"], CSV, plan["headers"]) == 200  # browser -> bucket, not via the kernel
    form._on_browser_message({"type": "uploaded", "upload_id": plan["upload_id"]})
    form.job.wait(60)
    assert form.job.status == "succeeded", form.job.state.error
    assert wb.read("orders").collect().height == 20_000
    assert form.cleaned.wait(30)
    ctx = form.ctx
    assert not list(ctx.storage.list(f"{ctx.namespace}/uploads/"))  # the temporary object is gone


def test_direct_upload_failures_are_shown(s3_env):
    form = UploadForm()
    sent: list[dict] = []
    form.picker.send = sent.append
    form.picker.filename, form.picker.size = "orders.csv", len(CSV)
    form.ingest()
    form._on_browser_message({"type": "failed", "message": "HTTP 403: SignatureDoesNotMatch"})
    assert "HTTP 403" in form.status.value and "CORS" in form.status.value
    # the browser says it is done but nothing arrived: confirm refuses it, nothing is ingested
    form._on_browser_message({"type": "uploaded", "upload_id": sent[0]["upload_id"]})
    assert "nothing was uploaded" in form.status.value
    assert not form.ingest_button.disabled
