"""The S3 server stopped mid-job: the write fails, the job is retried, and succeeds once the
server is back; one version, nothing else in the bucket."""

from __future__ import annotations

import time

import polars as pl
import pytest

import workbench as wb
from servers import start_moto
from wb_cluster import make_cluster, write_csv

pytestmark = pytest.mark.services

BUCKET = "wb-worker-s3"


def make_bucket(url: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=url, aws_access_key_id="testing",
                 aws_secret_access_key="testing", region_name="us-east-1").create_bucket(Bucket=BUCKET)


def bucket_keys(url: str) -> list[str]:
    import boto3

    c = boto3.client("s3", endpoint_url=url, aws_access_key_id="testing",
                     aws_secret_access_key="testing", region_name="us-east-1")
    return sorted(o["Key"] for o in c.list_objects_v2(Bucket=BUCKET).get("Contents", []))


@pytest.fixture(scope="module")
def s3_cluster(redis_server, tmp_path_factory):
    moto = start_moto()  # our own: the tests stop and restart it
    make_bucket(moto.url)
    cl = make_cluster(tmp_path_factory.mktemp("wb-s3"), redis_server.url.rsplit("/", 1)[0] + "/5",
                      WORKBENCH_STORAGE_URL=f"s3://{BUCKET}/wb", WORKBENCH_S3_ENDPOINT_URL=moto.url,
                      WORKBENCH_S3_REGION="us-east-1", WORKBENCH_S3_ACCESS_KEY_ID="testing",
                      WORKBENCH_S3_SECRET_ACCESS_KEY="testing",
                      # retries far enough apart for the server to come back between them
                      WORKBENCH_RETRY_BACKOFF="3", WORKBENCH_RETRY_BACKOFF_MAX="5")
    cl.moto = moto  # type: ignore[attr-defined]
    cl.start_worker("s3w")
    yield cl
    cl.stop()
    moto.stop()


@pytest.mark.xfail(strict=False, reason="known race, open: the job record can count one attempt "
                   "fewer than the retries the client saw when S3 comes back during the retry")
def test_s3_stopped_mid_job_retries_then_succeeds(s3_cluster, tmp_path):
    cl = s3_cluster
    src = write_csv(tmp_path / "in.csv", 5_000)
    marker = tmp_path / "started"
    job = cl.runner().submit(wb.Pipeline(
        source=wb.file(str(src)), steps=[wb.python("wbtest_steps:slow", marker=str(marker), seconds=1)],
        checks=[wb.not_null("id")], sink=wb.dataset("on_s3")))
    retried = []
    job.subscribe(lambda ev: retried.append(ev) if ev.kind == "retrying" else None)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    cl.moto.stop()  # mid-job: the data is flowing, nothing is written yet
    while not retried and time.monotonic() < deadline + 60:
        time.sleep(0.05)
    assert retried and retried[0].error["type"] == "StorageUnavailable"
    cl.moto.start()  # an in-memory server: it comes back empty
    make_bucket(cl.moto.url)

    job.wait(120)
    assert job.status == "succeeded", job.error
    assert job.state.retries >= 1
    record = cl.ctx().catalog.get_job(job.id)
    assert record["attempts"] == job.state.retries + 1
    ds = job.result
    assert ds.rows == 5_000 and ds.uri.startswith(f"s3://{BUCKET}/wb/")
    ctx = cl.ctx()
    assert [v.version for v in ctx.catalog.list_versions(ctx.namespace, "on_s3")] == [1]
    named = sorted(f"wb/{f['key']}" for f in ds.files)
    assert bucket_keys(cl.moto.url) == sorted(named + ["wb/default/datasets/on_s3/v000001.manifest.json"])
    from workbench.dataset_store import scan_dataset

    assert scan_dataset(ctx, "on_s3").select(pl.len()).collect().item() == 5_000
