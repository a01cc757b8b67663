"""The parameterized example notebooks pointed at real servers, the way CI points them:
object storage at an S3 server, the distributed run at a Redis broker with a Celery worker."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import nbformat
import pytest

from workbench import scheduling
from workbench.context import Context
from servers import redis_db

pytestmark = pytest.mark.services

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def outputs(uri: str) -> str:
    nb = nbformat.read(uri, as_version=4)
    return "".join("".join(o.get("text", "")) for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))


def checked(uri) -> list[str]:
    """The text each ``# NBVAL_CHECK_OUTPUT`` cell printed, in order."""
    nb = nbformat.read(uri, as_version=4)
    return ["".join("".join(o.get("text", "")) for o in c.get("outputs", [])) for c in nb.cells
            if c.cell_type == "code" and "NBVAL_CHECK_OUTPUT" in c.source]


def events_read_back(home: Path) -> None:
    """The notebook's ``events`` dataset, read with this process's settings (storage and catalog
    as the run had them), equals row for row a bare Polars read of the file it was ingested
    from, and that file holds the notebook's 28 days."""
    import datetime

    import polars as pl
    from polars.testing import assert_frame_equal

    import workbench as wb

    source = pl.read_csv(home / "demo" / "events.csv", try_parse_dates=True).sort("day")
    assert_frame_equal(source, pl.DataFrame({
        "day": [datetime.date(2026, 1, d) for d in range(1, 29)],
        "clicks": [d * 7 for d in range(1, 29)]}), check_exact=True)
    assert_frame_equal(wb.read("events").collect().sort("day"), source, check_exact=True)


def test_object_storage_notebook_writes_to_the_s3_server(s3_server, wb_home, tmp_path, monkeypatch):
    import boto3

    bucket = f"wb-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server.url, aws_access_key_id="testing",
                 aws_secret_access_key="testing", region_name="us-east-1").create_bucket(Bucket=bucket)
    run = scheduling.run_notebook(Context.from_settings(), NOTEBOOKS / "05-object-storage.ipynb", {
        "workbench_home": str(tmp_path / "nbhome"), "s3_endpoint_url": s3_server.url,
        "bucket": bucket})
    text = outputs(run["output_uri"])
    assert run["status"] == "succeeded", run["error"]
    assert f"storage: s3://{bucket}/workbench" in text
    assert f"s3://{bucket}/workbench/default/datasets/events" in text
    keys = [o["Key"] for o in boto3.client(
        "s3", endpoint_url=s3_server.url, aws_access_key_id="testing", aws_secret_access_key="testing",
        region_name="us-east-1").list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.endswith(".manifest.json") for k in keys)
    # the rows read back from the bucket are those of the local run saved in the notebook
    clicks = 7 * sum(range(1, 29))
    assert checked(run["output_uri"]) == checked(NOTEBOOKS / "05-object-storage.ipynb") \
        == [f"28 {clicks}\n"]
    # and the rows themselves: the dataset in the bucket, read here, is the source file's
    for k, v in {"WORKBENCH_HOME": str(tmp_path / "nbhome"),
                 "WORKBENCH_STORAGE_URL": f"s3://{bucket}/workbench",
                 "WORKBENCH_S3_ENDPOINT_URL": s3_server.url, "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    events_read_back(tmp_path / "nbhome")


def test_object_storage_notebook_without_a_server_says_it_skips(wb_home, tmp_path, monkeypatch):
    run = scheduling.run_notebook(Context.from_settings(), NOTEBOOKS / "05-object-storage.ipynb",
                                  {"workbench_home": str(tmp_path / "nbhome")})
    assert run["status"] == "succeeded", run["error"]
    assert "skipping the remote part" in outputs(run["output_uri"])
    assert checked(run["output_uri"]) == checked(NOTEBOOKS / "05-object-storage.ipynb")
    # the local fallback's rows are the source file's too (so the same as the bucket's above)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "nbhome"))
    events_read_back(tmp_path / "nbhome")


def test_celery_notebook_runs_on_a_worker(redis_server, wb_home, tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "worker"))
    from wb_cluster import make_cluster

    cluster = make_cluster(tmp_path, redis_db(redis_server))
    cluster.start_worker("nbw", queues="ingestion,transformation,persistence,pipeline")
    try:
        run = scheduling.run_notebook(Context.from_settings(), NOTEBOOKS / "06-distributed-celery.ipynb", {
            "workbench_home": str(cluster.home), "broker_url": cluster.broker_url})
        text = outputs(run["output_uri"])
        assert run["status"] == "succeeded", run["error"]
        assert "submitting to Celery workers" in text
        # the worker's rows are those of the local run saved in the notebook, and those Polars
        # computes here from the same file
        import polars as pl

        (remote,) = checked(run["output_uri"])
        (local,) = checked(NOTEBOOKS / "06-distributed-celery.ipynb")
        assert remote.splitlines()[0] == "succeeded celery"
        assert local.splitlines()[0] == "succeeded local"
        expected = (pl.DataFrame({"host": [f"h{i % 5}" for i in range(50_000)],
                                  "cpu": [i % 100 for i in range(50_000)]})
                    .group_by("host").agg(pl.col("cpu").mean()).sort("host").rows())
        assert remote.splitlines()[1] == local.splitlines()[1] == str(expected)
    finally:
        cluster.stop()


def test_run_output_to_an_s3_prefix(s3_server, wb_home, tmp_path, monkeypatch):
    import boto3

    from test_scheduling import make_notebook

    bucket = f"wb-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=s3_server.url, aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    for k, v in {"WORKBENCH_S3_ENDPOINT_URL": s3_server.url, "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    nb = make_notebook(tmp_path / "daily.ipynb", ["1 / 0"])  # a failing run still stores its output
    run = scheduling.run_notebook(Context.from_settings(), nb, {}, f"s3://{bucket}/reports/")
    assert run["status"] == "failed" and run["failed_cell"] == 0
    assert run["error"]["type"] == "ZeroDivisionError"
    key = run["output_uri"].split(f"s3://{bucket}/", 1)[1]
    assert key.startswith("reports/daily-") and key.endswith(".ipynb")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert b"ZeroDivisionError" in body
