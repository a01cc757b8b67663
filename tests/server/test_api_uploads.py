"""Presigned uploads through the HTTP API against moto's S3 server: the client PUTs the bytes
to the bucket itself, confirms, and the ingest job's events end with the dataset committed."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from api_client import error_of, start_server, stream, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from s3_helpers import PART, admin_client, make_bucket, put  # noqa: E402

pytestmark = pytest.mark.services

CSV = b"city,visits\nLyon,3\nOslo,5\nRiga,8\n"


@pytest.fixture(scope="module")
def s3_served(s3_server, tmp_path_factory):
    bucket = make_bucket(s3_server.url)
    root = tmp_path_factory.mktemp("srv-s3-root")
    wb = start_server(root, {
        "WORKBENCH_HOME": str(root / "wbhome"), "WORKBENCH_STORAGE_URL": f"s3://{bucket}/wb",
        "WORKBENCH_S3_ENDPOINT_URL": s3_server.url, "WORKBENCH_PART_SIZE": str(PART),
        "WORKBENCH_UPLOAD_SINGLE_PUT_MAX": str(PART),  # multipart above 5 MiB
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    wb.bucket = bucket  # type: ignore[attr-defined]
    wb.s3 = admin_client(s3_server.url)  # type: ignore[attr-defined]
    yield wb
    wb.stop()


@pytest.fixture
def api(s3_served):
    with s3_served.session() as s:
        yield s


def keys(wb, prefix: str) -> list[str]:
    return [o["Key"] for o in wb.s3.list_objects_v2(Bucket=wb.bucket, Prefix=prefix).get("Contents", [])]


def test_upload_confirm_and_ingest(api, s3_served):
    url = s3_served.api
    r = api.post(url + "/uploads", json={"filename": "visits.csv", "size": len(CSV),
                                         "sha256": hashlib.sha256(CSV).hexdigest()})
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["multipart"] is False and plan["method"] == "PUT"
    assert put(plan["url"], CSV, plan["headers"]) == 200  # straight to the bucket
    r = api.post(f"{url}/uploads/{plan['upload_id']}/confirm", json={"name": "visits"})
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["upload"]["status"] == "confirmed" and out["dataset"] == "visits"
    evs = stream(api, f"{url}/jobs/{out['job_id']}/events")
    assert evs[-1].event == "job_finished" and evs[-1].data["result"]["rows"] == 3
    preview = api.get(url + "/datasets/visits/preview").json()
    assert [r["city"] for r in preview["rows"]] == ["Lyon", "Oslo", "Riga"]
    # the temporary object is removed once the ingest committed
    assert keys(s3_served, f"wb/default/uploads/{plan['upload_id']}/") == []
    again = api.post(f"{url}/uploads/{plan['upload_id']}/confirm", json={})
    assert again.status_code == 200 and again.json()["upload"]["status"] == "ingested"


def test_a_multipart_upload_put_part_by_part(api, s3_served, tmp_path):
    url = s3_served.api
    body = b"day,clicks\n" + b"".join(f"2026-01-{i % 28 + 1:02d},{i}\n".encode()
                                      for i in range(700_000))
    plan = api.post(url + "/uploads", json={"filename": "clicks.csv", "size": len(body)}).json()
    assert plan["multipart"] is True and plan["part_size"] == PART
    assert [p["part_number"] for p in plan["parts"]] == [1, 2, 3]
    offset = 0
    for part in plan["parts"]:
        assert put(part["url"], body[offset:offset + part["size"]]) == 200
        offset += part["size"]
    assert offset == len(body)
    r = api.post(f"{url}/uploads/{plan['upload_id']}/confirm", json={"name": "clicks"})
    assert r.status_code == 202, r.text
    evs = stream(api, f"{url}/jobs/{r.json()['job_id']}/events")
    assert evs[-1].event == "job_finished" and evs[-1].data["result"]["rows"] == 700_000


def test_confirm_without_a_name_only_checks(api, s3_served):
    url = s3_served.api
    plan = api.post(url + "/uploads", json={"filename": "a.csv", "size": len(CSV)}).json()
    assert put(plan["url"], CSV, plan["headers"]) == 200
    r = api.post(f"{url}/uploads/{plan['upload_id']}/confirm", json={})
    assert r.status_code == 200 and r.json() == {"upload": r.json()["upload"]}
    assert r.json()["upload"]["size"] == len(CSV)


def test_upload_errors_name_what_is_wrong(api, s3_served):
    url = s3_served.api
    plan = api.post(url + "/uploads", json={"filename": "b.csv", "size": len(CSV)}).json()
    err = error_of(api.post(f"{url}/uploads/{plan['upload_id']}/confirm", json={"name": "b"}),
                   400, "SourceError")
    assert "nothing was uploaded" in err["message"] and err["file"] == "b.csv"
    assert put(plan["url"], CSV, plan["headers"]) == 200
    err = error_of(api.post(f"{url}/uploads/{plan['upload_id']}/confirm",
                            json={"name": "b", "sha256": "0" * 64}), 400, "SourceError")
    assert "SHA-256" in err["message"]
    error_of(api.post(f"{url}/uploads/{plan['upload_id']}/confirm", json={"name": "bad name"}),
             400, "SpecError")
    error_of(api.post(f"{url}/uploads/{plan['upload_id']}/confirm", json={"format": "docx"}),
             400, "SpecError")
    error_of(api.post(f"{url}/uploads/{'f' * 32}/confirm", json={}), 404, "NotFound")
    error_of(api.post(url + "/uploads", json={"filename": "c.csv", "size": -1}), 400, "SpecError")
    error_of(api.post(url + "/uploads", json={"filename": "c.csv", "size": "10"}), 400, "SpecError")
    error_of(api.post(url + "/uploads", json={"filename": "c.csv", "size": 10, "sha256": "xyz"}),
             400, "SpecError")
    assert api.get(url + "/jobs", params={"dataset": "b"}).json()["jobs"] == []  # no job started


def test_a_checksum_that_is_not_a_hex_string_is_a_spec_error(api, s3_served):
    """``"sha256": 123`` was a TypeError and ``{"sha256": 5}`` on confirm an AttributeError: 500s."""
    url = s3_served.api
    for bad in (123, 5.5, True, ["a"], {"x": 1}, "xyz"):
        err = error_of(api.post(url + "/uploads", json={"filename": "d.csv", "size": len(CSV),
                                                         "sha256": bad}), 400, "SpecError")
        assert "sha256 must be 64 hexadecimal digits" in err["message"], err
    plan = api.post(url + "/uploads", json={"filename": "d.csv", "size": len(CSV)}).json()
    assert put(plan["url"], CSV, plan["headers"]) == 200
    for bad in (5, ["a"], "0" * 63):
        err = error_of(api.post(f"{url}/uploads/{plan['upload_id']}/confirm",
                                json={"name": "d", "sha256": bad}), 400, "SpecError")
        assert "sha256 must be 64 hexadecimal digits" in err["message"], err
    assert api.get(url + "/jobs", params={"dataset": "d"}).json()["jobs"] == []
    r = api.post(f"{url}/uploads/{plan['upload_id']}/confirm",
                 json={"sha256": hashlib.sha256(CSV).hexdigest().upper()})
    assert r.status_code == 200 and r.json()["upload"]["status"] == "confirmed", r.text


def test_a_second_ingest_of_an_ingested_upload_is_refused_without_a_job(api, s3_served):
    """It answered 202 with a job bound to fail ("already ingested and removed")."""
    url = s3_served.api
    plan = api.post(url + "/uploads", json={"filename": "twice.csv", "size": len(CSV)}).json()
    assert put(plan["url"], CSV, plan["headers"]) == 200
    r = api.post(f"{url}/uploads/{plan['upload_id']}/confirm", json={"name": "twice"})
    assert r.status_code == 202, r.text
    assert stream(api, f"{url}/jobs/{r.json()['job_id']}/events")[-1].event == "job_finished"
    wait_for(lambda: api.post(f"{url}/uploads/{plan['upload_id']}/confirm", json={}).json()
             ["upload"]["status"] == "ingested", "the ingest's clean-up")
    jobs_before = api.get(url + "/jobs", params={"dataset": "twice"}).json()["jobs"]
    assert len(jobs_before) == 1
    for body in ({"name": "twice"}, {"name": "elsewhere", "mode": "append"}):
        err = error_of(api.post(f"{url}/uploads/{plan['upload_id']}/confirm", json=body),
                       409, "AlreadyExists")
        assert "already ingested" in err["message"] and err["file"] == "twice.csv", err
        assert "new upload" in err["hint"]
    assert api.get(url + "/jobs", params={"dataset": "twice"}).json()["jobs"] == jobs_before
    assert api.get(url + "/jobs", params={"dataset": "elsewhere"}).json()["jobs"] == []
    # a confirm that only checks still answers with the upload's state
    again = api.post(f"{url}/uploads/{plan['upload_id']}/confirm", json={})
    assert again.status_code == 200 and again.json()["upload"]["status"] == "ingested"
