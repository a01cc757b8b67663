"""The S3 server stopped mid-job: the write fails, the job is retried, and succeeds once the
server is back; one version, nothing else in the bucket."""

from __future__ import annotations

import polars as pl
import pytest

import workbench as wb
from servers import redis_db, start_moto
from wb_cluster import make_cluster, wait_for, write_csv

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
    cl = make_cluster(tmp_path_factory.mktemp("wb-s3"), redis_db(redis_server),
                      WORKBENCH_STORAGE_URL=f"s3://{BUCKET}/wb", WORKBENCH_S3_ENDPOINT_URL=moto.url,
                      WORKBENCH_S3_REGION="us-east-1", WORKBENCH_S3_ACCESS_KEY_ID="testing",
                      WORKBENCH_S3_SECRET_ACCESS_KEY="testing")
    # the cluster's quick retries (worker_env): the test holds each retry at a gate of its own
    # until the server is back, so no backoff has to outlast the restart
    cl.moto = moto  # type: ignore[attr-defined]
    cl.start_worker("s3w")
    yield cl
    cl.stop()
    moto.stop()


def test_s3_stopped_mid_job_retries_then_succeeds(s3_cluster, tmp_path):
    """Each move waits on a gate the test controls: the data flows (run 1 of the step holds
    it), S3 goes down, the run goes on and its write fails; the failed attempt is held as it
    schedules its retry until S3 is back with its bucket; the next attempt reaches the data
    (run 2, held until the test lets it write) and commits. One retry, two attempts, one
    version, nothing else in the bucket."""
    cl = s3_cluster
    src = write_csv(tmp_path / "in.csv", 5_000)
    marker, gate = tmp_path / "runs", tmp_path / "gate"
    retry_marker, retry_gate = tmp_path / "retries", tmp_path / "retry-gate"
    job = cl.runner().submit(wb.Pipeline(
        source=wb.file(str(src)),
        steps=[wb.python("wbtest_steps:gate_each_run", marker=str(marker), gate=str(gate)),
               wb.python("wbtest_steps:hold_each_retry", marker=str(retry_marker),
                         gate=str(retry_gate))],
        checks=[wb.not_null("id")], sink=wb.dataset("on_s3")))
    retried = []
    job.subscribe(lambda ev: retried.append(ev) if ev.kind == "retrying" else None)
    first = wait_for(lambda: marker.exists() and marker.read_text().split(),
                     "the first run of the step", 120)
    cl.moto.stop()  # mid-job: the data is flowing, nothing is written yet
    (tmp_path / "gate.1").touch()
    # attempt 1's write failed: it has recorded the retry and is held before announcing it
    held = wait_for(lambda: retry_marker.exists() and retry_marker.read_text().split(),
                    "attempt 1 to schedule its retry", 120)
    assert held == first  # the process that ran attempt 1
    record = cl.ctx().catalog.get_job(job.id)
    assert (record["status"], record["attempts"]) == ("retrying", 1)
    assert record["error"]["type"] == "StorageUnavailable", record["error"]
    assert retried == []
    cl.moto.start()  # an in-memory server: it comes back empty
    make_bucket(cl.moto.url)
    (tmp_path / "retry-gate.1").touch()

    wait_for(lambda: len(marker.read_text().split()) == 2, "attempt 2 to reach the data", 120)
    (tmp_path / "gate.2").touch()
    job.wait(180)
    assert job.status == "succeeded", job.error
    assert len(marker.read_text().split()) == 2  # the step's data flowed in attempts 1 and 2
    assert len(retry_marker.read_text().split()) == 1  # one retry scheduled
    assert [(e.attempt, e.error["type"]) for e in retried] == [(1, "StorageUnavailable")]
    assert [e.attempt for e in job.events if e.kind == "retrying"] == [1]
    assert job.state.retries == 1
    record = cl.ctx().catalog.get_job(job.id)
    assert (record["status"], record["attempts"]) == ("succeeded", 2)
    ds = job.result
    assert ds.rows == 5_000 and ds.uri.startswith(f"s3://{BUCKET}/wb/")
    ctx = cl.ctx()
    assert [v.version for v in ctx.catalog.list_versions(ctx.namespace, "on_s3")] == [1]
    named = sorted(f"wb/{f['key']}" for f in ds.files)
    # the version's files and manifest, and the Iceberg table's own metadata; no file of the
    # failed attempts
    keys = bucket_keys(cl.moto.url)
    meta = [k for k in keys if k.startswith("wb/default/datasets/on_s3/metadata/")]
    assert [k for k in keys if k not in meta] == sorted(
        named + ["wb/default/datasets/on_s3/v000001.manifest.json"])
    # the dataset's Iceberg table: one snapshot, and no metadata file it does not need
    from workbench import iceberg

    ice = iceberg.open_iceberg(ctx.settings, ctx.storage, ctx.catalog)
    assert [s.snapshot_id for s in iceberg.load_table(ice, ctx.namespace, "on_s3").snapshots()] \
        == [ds.snapshot_id]
    needed = iceberg.referenced_locations(ice, ctx.namespace, "on_s3")
    assert meta and all(f"s3://{BUCKET}/{k}" in needed for k in meta)
    from workbench.dataset_store import scan_dataset

    back = scan_dataset(ctx, "on_s3").select("id", "region", "qty").collect().sort("id")
    assert back.height == 5_000 and back["id"].to_list() == list(range(5_000))
    assert back.equals(pl.read_csv(src).select("id", "region", "qty").sort("id"))


def test_a_fan_out_onto_the_bucket_profiles_each_part_from_a_local_copy(s3_cluster, tmp_path):
    """parallel=True into the bucket: each part reads its own written file back from one local
    copy for its statistics (storage/read_back.py, whose own tests show the copy is what is
    read), the commit profiles the parts, and the dataset's counts are the data's own; no copy
    is left in the worker's temp folder."""
    cl = s3_cluster
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(3):
        write_csv(folder / f"p{i}.csv", 4_000, start=i * 4_000, seed=i)
    job = cl.runner().submit(wb.Pipeline(source=wb.file(str(folder / "*.csv"), parallel=True),
                                         sink=wb.dataset("fanned")))
    job.wait(300)
    assert job.status == "succeeded", job.error
    ds = job.result
    df = pl.concat([pl.read_csv(folder / f"p{i}.csv", null_values=["NA"]) for i in range(3)])
    assert ds.rows == df.height == 12_000 and len(ds.files) == 3
    cols = ds.profile["columns"]
    assert cols["id"]["distinct"] == 12_000 and cols["region"]["distinct"] == 4
    assert cols["note"]["null_count"] == df["note"].null_count()
    assert {t["value"]: t["count"] for t in cols["region"]["top_values"]} == \
        dict(df["region"].value_counts().iter_rows())
    assert not list((cl.home / "tmp").glob("wb-read-back-*"))
    assert wb_read(cl, "fanned").sort("id")["id"].to_list() == list(range(12_000))


def wb_read(cl, name: str) -> pl.DataFrame:
    from workbench.dataset_store import scan_dataset

    return scan_dataset(cl.ctx(), name).collect()
