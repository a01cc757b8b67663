"""Presigned uploads: what confirm checked is exactly what the ingest reads.

Issue case: after ``confirm``, the still-valid presigned URL accepted new bytes of the same
length; a second ``confirm`` said "confirmed" and the ingest committed the replaced rows although
the declared SHA-256 differed. Now confirm pins a server-side copy that no URL names, bytes PUT
after confirm fail a second confirm and the ingest with a clear error, and URLs expire after 15
minutes unless ``WORKBENCH_UPLOAD_URL_EXPIRES`` says otherwise. Against moto's server over HTTP.
"""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

import workbench as wb
from data_probes import assert_no_leak, s3_helpers
from workbench.context import Context
from workbench.errors import SourceError
from workbench.uploads import confirm_upload, create_upload, upload_uri

pytestmark = pytest.mark.services

GOOD = b"id,amount\n1,10\n2,20\n"
EVIL = b"id,amount\n6,66\n7,EVL"  # the same length
assert len(GOOD) == len(EVIL)


@pytest.fixture
def s3(s3_server, wb_home, monkeypatch):
    h = s3_helpers()
    bucket = h.make_bucket(s3_server.url)
    for key, value in {"WORKBENCH_STORAGE_URL": f"s3://{bucket}/wb",
                       "WORKBENCH_S3_ENDPOINT_URL": s3_server.url,
                       "WORKBENCH_S3_ACCESS_KEY_ID": "testing",
                       "WORKBENCH_S3_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    return h


def _confirmed(h, *, sha256=None):
    ctx = Context.from_settings()
    info = create_upload(ctx, "orders.csv", len(GOOD), sha256=sha256)
    assert h.put(info["url"], GOOD, info["headers"]) == 200
    done = confirm_upload(ctx, info["upload_id"])
    return ctx, info, done


def _ingest(upload_id, name="orders"):
    return wb.submit(wb.Pipeline(source=wb.upload(upload_id), sink=wb.dataset(name)),
                     runner="local").wait(60)


def test_bytes_put_after_confirm_fail_the_ingest_and_are_never_read(s3):
    ctx, info, done = _confirmed(s3, sha256=hashlib.sha256(GOOD).hexdigest())
    assert s3.put(info["url"], EVIL, info["headers"]) == 200  # the URL is still valid
    job = _ingest(info["upload_id"])
    assert job.status == "failed" and type(job.error).__name__ == "SourceError"
    assert "received new bytes after it was confirmed" in job.error.message
    assert_no_leak(["7,EVL"], job=job, ctx=ctx)
    with pytest.raises(wb.NotFound):
        wb.info("orders")
    assert ctx.storage.get_bytes(done["key"]) == GOOD  # the confirmed bytes are kept


def test_a_second_confirm_of_a_changed_object_fails(s3):
    ctx, info, done = _confirmed(s3)
    assert confirm_upload(ctx, info["upload_id"]) == done  # unchanged: the same answer
    s3.put(info["url"], EVIL, info["headers"])
    with pytest.raises(SourceError, match="received new bytes after it was confirmed"):
        confirm_upload(ctx, info["upload_id"])


def test_a_second_confirm_with_another_checksum_fails(s3):
    ctx, info, _ = _confirmed(s3, sha256=hashlib.sha256(GOOD).hexdigest())
    with pytest.raises(SourceError, match="was confirmed with SHA-256"):
        confirm_upload(ctx, info["upload_id"], sha256=hashlib.sha256(EVIL).hexdigest())


def test_the_ingest_reads_a_copy_no_presigned_url_names(s3):
    """SigV4 signs the key, so a presigned URL writes only the key it names (moto does not check
    query-string signatures, so this asserts what the URLs name and what the ingest reads)."""
    ctx, info, done = _confirmed(s3)
    uri = upload_uri(ctx, info["upload_id"])
    assert uri.endswith(f"/{info['upload_id']}/confirmed/orders.csv") and uri == done["uri"]
    assert urlsplit(info["url"]).path.endswith(f"/{info['upload_id']}/orders.csv")
    job = _ingest(info["upload_id"])
    assert job.status == "succeeded", job.error
    assert wb.read("orders").collect().to_dict(as_series=False) == {"id": [1, 2], "amount": [10, 20]}


def test_parts_put_after_a_multipart_confirm_change_nothing(s3):
    ctx = Context.from_settings()
    h = s3
    data = b"id\n" + b"1\n" * (h.PART // 2 + 10)
    info = create_upload(ctx, "big.csv", len(data), single_put_max=h.PART // 2,
                         sha256=hashlib.sha256(data).hexdigest())
    for p in info["parts"]:
        start = (p["part_number"] - 1) * info["part_size"]
        assert h.put(p["url"], data[start:start + p["size"]]) == 200
    done = confirm_upload(ctx, info["upload_id"])
    first = info["parts"][0]
    # the multipart upload is complete: S3 answers 404 NoSuchUpload (moto: 500); never 200
    assert h.put(first["url"], b"9" * first["size"]) >= 400
    assert confirm_upload(ctx, info["upload_id"]) == done
    assert hashlib.sha256(ctx.storage.get_bytes(done["key"])).hexdigest() == done["sha256"]


def test_presigned_urls_expire_after_15_minutes_by_default(s3, monkeypatch):
    ctx = Context.from_settings()
    info = create_upload(ctx, "a.csv", 10)
    assert info["expires_in"] == 900
    assert parse_qs(urlsplit(info["url"]).query)["X-Amz-Expires"] == ["900"]
    monkeypatch.setenv("WORKBENCH_UPLOAD_URL_EXPIRES", "120")
    info = create_upload(Context.from_settings(), "b.csv", 10)
    assert parse_qs(urlsplit(info["url"]).query)["X-Amz-Expires"] == ["120"]
    parts = create_upload(Context.from_settings(), "c.bin", s3.PART + 1, single_put_max=s3.PART)
    assert all(parse_qs(urlsplit(p["url"]).query)["X-Amz-Expires"] == ["120"] for p in parts["parts"])
