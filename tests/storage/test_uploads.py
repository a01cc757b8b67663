"""The presigned upload flow, driven with plain HTTP PUTs as a browser would send them."""

from __future__ import annotations

import hashlib
import os
import time
import urllib.request

import pytest
from s3_helpers import PART, context_for, put

from workbench.catalog import uploads as uploads_table
from workbench.errors import ConfigError, NotFound, SourceError, SpecError
from workbench.maintenance import gc
from workbench.uploads import confirm_upload, create_upload, upload_uri

pytestmark = pytest.mark.services


@pytest.fixture
def ctx(s3_settings):
    return context_for(s3_settings, "alice")


def put_urllib(url: str, body: bytes) -> int:
    req = urllib.request.Request(url, data=body, method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status


def test_single_put_flow(ctx):
    data = b"id,amount\n" + b"".join(f"{i},{i * 3}\n".encode() for i in range(5000))
    info = create_upload(ctx, "orders 2026.csv", len(data), expires=600)
    assert info["multipart"] is False and info["max_size"] == len(data)
    assert info["key"] == f"alice/uploads/{info['upload_id']}/orders_2026.csv"
    assert info["expires_at"] > time.time() + 500
    assert "testing" not in info["url"].split("X-Amz-Credential")[0]  # no secret in the URL
    assert put(info["url"], data, info["headers"]) == 200

    done = confirm_upload(ctx, info["upload_id"])
    assert done["status"] == "confirmed" and done["size"] == len(data)
    pinned = f"alice/uploads/{info['upload_id']}/confirmed/orders_2026.csv"  # what was checked
    assert done["key"] == pinned and not ctx.storage.exists(info["key"])
    assert done["uri"] == ctx.storage.uri(pinned) == upload_uri(ctx, info["upload_id"])
    assert ctx.storage.get_bytes(pinned) == data
    assert confirm_upload(ctx, info["upload_id"]) == done  # idempotent


def test_multipart_flow_with_checksum(ctx):
    data = os.urandom(2 * PART + 4321)
    digest = hashlib.sha256(data).hexdigest()
    info = create_upload(ctx, "big.bin", len(data), sha256=digest, single_put_max=PART)
    assert info["multipart"] is True and info["part_size"] == PART
    parts = info["parts"]
    assert [p["size"] for p in parts] == [PART, PART, 4321]
    for p in reversed(parts):  # any order
        start = (p["part_number"] - 1) * info["part_size"]
        assert put_urllib(p["url"], data[start:start + p["size"]]) == 200

    done = confirm_upload(ctx, info["upload_id"])
    assert done["sha256"] == digest
    assert hashlib.sha256(ctx.storage.get_bytes(done["key"])).hexdigest() == digest
    assert ctx.storage.list_uploads(f"alice/uploads/{info['upload_id']}/") == []


def test_incomplete_multipart_names_missing_parts_then_completes(ctx):
    data = os.urandom(2 * PART + 10)
    info = create_upload(ctx, "big.bin", len(data), single_put_max=PART)
    p1, p2, p3 = info["parts"]
    put_urllib(p1["url"], data[:PART])
    put_urllib(p3["url"], data[2 * PART:])
    with pytest.raises(SourceError, match="2 of 3 parts arrived; missing parts 2") as exc:
        confirm_upload(ctx, info["upload_id"])
    assert "PUT the missing parts" in exc.value.hint
    put_urllib(p2["url"], data[PART:2 * PART])
    done = confirm_upload(ctx, info["upload_id"])
    assert done["size"] == len(data) and ctx.storage.get_bytes(done["key"]) == data


def test_wrong_size_is_refused_and_can_be_uploaded_again(ctx):
    info = create_upload(ctx, "a.csv", 100)
    put(info["url"], b"x" * 60, info["headers"])  # moto does not check the signed length
    with pytest.raises(SourceError, match="holds 60 bytes but 100 were declared"):
        confirm_upload(ctx, info["upload_id"])
    assert not ctx.storage.exists(info["key"])
    put(info["url"], b"y" * 100, info["headers"])
    assert confirm_upload(ctx, info["upload_id"])["status"] == "confirmed"


def test_wrong_checksum_is_refused(ctx):
    info = create_upload(ctx, "a.csv", 5, sha256="0" * 64)
    put(info["url"], b"hello", info["headers"])
    with pytest.raises(SourceError, match="does not match its SHA-256"):
        confirm_upload(ctx, info["upload_id"])
    assert not ctx.storage.exists(info["key"])


def test_nothing_uploaded(ctx):
    info = create_upload(ctx, "a.csv", 5)
    with pytest.raises(SourceError, match="nothing was uploaded"):
        confirm_upload(ctx, info["upload_id"])
    with pytest.raises(NotFound, match="not confirmed"):
        upload_uri(ctx, info["upload_id"])


def test_bad_requests(ctx):
    with pytest.raises(SpecError):
        create_upload(ctx, "a.csv", 0)
    with pytest.raises(SpecError, match="7 days"):
        create_upload(ctx, "a.csv", 10, expires=8 * 86400)
    with pytest.raises(SpecError, match="larger than the limit"):
        create_upload(ctx, "a.csv", 10 ** 6, max_size=1000)
    info = create_upload(ctx, "../../etc/passwd", 10)
    assert info["key"] == f"alice/uploads/{info['upload_id']}/passwd"
    for bad in ("not-an-id", "../" + "0" * 30, "f" * 32):
        with pytest.raises(NotFound):
            confirm_upload(ctx, bad)


def test_another_namespace_cannot_see_an_upload(ctx, s3_settings):
    info = create_upload(ctx, "a.csv", 5)
    put(info["url"], b"hello", info["headers"])
    bob = context_for(s3_settings, "bob")
    with pytest.raises(NotFound):
        confirm_upload(bob, info["upload_id"])
    confirm_upload(ctx, info["upload_id"])
    with pytest.raises(NotFound):
        upload_uri(bob, info["upload_id"])


def test_expired_uploads_are_refused_and_collected(ctx):
    single = create_upload(ctx, "a.csv", 5)
    put(single["url"], b"hello", single["headers"])
    multi = create_upload(ctx, "b.bin", PART + 1, single_put_max=PART)
    put_urllib(multi["parts"][0]["url"], os.urandom(PART))  # a part, never completed
    confirmed = create_upload(ctx, "c.csv", 5)
    put(confirmed["url"], b"hello", confirmed["headers"])
    pinned = confirm_upload(ctx, confirmed["upload_id"])["key"]
    past = time.time() - 1
    ctx.catalog.execute(uploads_table.update().values(expires_at=past))  # the clock moves on

    with pytest.raises(NotFound, match="expired"):
        confirm_upload(ctx, single["upload_id"])

    report = gc(ctx, retention_seconds=86400)
    assert report["uploads_expired"] == 2  # the confirmed one is kept for the retention
    assert not ctx.storage.exists(single["key"])
    assert ctx.storage.list_uploads("alice/uploads/") == []
    assert ctx.storage.exists(pinned)

    report = gc(ctx, retention_seconds=86400, now=time.time() + 2 * 86400)
    assert report["uploads_expired"] == 1
    assert list(ctx.storage.list("alice/uploads/")) == []


def test_local_storage_has_no_presigned_uploads(local_settings):
    with pytest.raises(ConfigError, match="object storage") as exc:
        create_upload(context_for(local_settings), "a.csv", 5)
    assert "s3://" in exc.value.hint


def test_bucket_cors_for_browser_uploads(ctx, s3_server):
    from s3_helpers import admin_client

    ctx.storage.allow_browser_uploads(["http://localhost:8888"])
    rules = admin_client(s3_server.url).get_bucket_cors(Bucket=ctx.storage.bucket)["CORSRules"]
    assert rules[0]["AllowedOrigins"] == ["http://localhost:8888"]
    assert "PUT" in rules[0]["AllowedMethods"] and rules[0]["ExposeHeaders"] == ["ETag"]
