"""Datasets on S3 end to end: ingest from the bucket, read back lazily, a killed write, and
one namespace trying to reach another's datasets."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pydantic
import pytest
from s3_helpers import admin_client, context_for

import workbench as wb
from workbench.errors import NotFound, SpecError
from workbench.maintenance import gc, soft_delete, verify
from workbench.spec.models import DatasetSource

pytestmark = pytest.mark.services
HERE = Path(__file__).parent


@pytest.fixture
def s3_env(s3_settings, monkeypatch):
    """The environment a user sets for S3 storage (see the issue's example)."""
    env = {"WORKBENCH_STORAGE_URL": s3_settings.storage_url,
           "WORKBENCH_S3_ENDPOINT_URL": s3_settings.s3_endpoint_url,
           "WORKBENCH_CATALOG_URL": s3_settings.catalog_url,
           "WORKBENCH_PART_SIZE": str(s3_settings.part_size),
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def test_ingest_from_the_bucket_and_read_back_lazily(s3_env, s3_settings, s3_server, bucket):
    c = admin_client(s3_server.url)
    c.put_object(Bucket=bucket, Key="landing/2026/orders-01.csv.gz",
                 Body=gzip.compress(b"id,amount\n1,10.5\n2,NA\n"))
    c.put_object(Bucket=bucket, Key="landing/2026/orders-02.csv.gz",
                 Body=gzip.compress(b"id,amount\n3,30\n"))
    ds = wb.ingest(f"s3://{bucket}/landing/2026/orders-*.csv.gz", name="orders")
    assert ds.rows == 3 and ds.uri == f"s3://{bucket}/wb/default/datasets/orders/"
    assert [i["path"] for i in ds.inputs] == [f"s3://{bucket}/landing/2026/orders-01.csv.gz",
                                              f"s3://{bucket}/landing/2026/orders-02.csv.gz"]
    lf = wb.read("orders")
    assert isinstance(lf, pl.LazyFrame)
    assert lf.select(pl.col("amount").sum()).collect().item() == pytest.approx(40.5)
    keys = [o["Key"] for o in c.list_objects_v2(Bucket=bucket, Prefix="wb/")["Contents"]]
    assert f"wb/default/datasets/orders/v{ds.version:06d}.manifest.json" in keys
    assert all(k.startswith("wb/default/datasets/orders/") for k in keys)
    assert verify(context_for(s3_settings), "orders")["ok"]


def test_one_namespace_cannot_reach_another(s3_env, s3_settings, monkeypatch, tmp_path):
    csv = tmp_path / "sales.csv"
    csv.write_text("id,amount\n1,10\n2,20\n")
    monkeypatch.setenv("WORKBENCH_NAMESPACE", "alice")
    wb.ingest(str(csv), name="sales")
    assert wb.read("sales").collect().height == 2

    monkeypatch.setenv("WORKBENCH_NAMESPACE", "bob")
    with pytest.raises(NotFound):
        wb.read("sales")
    with pytest.raises(NotFound):
        wb.info("sales", version=1)
    assert wb.list_datasets() == []
    bob = context_for(s3_settings, "bob")
    with pytest.raises(NotFound):
        verify(bob, "sales")
    with pytest.raises(NotFound):
        soft_delete(bob, "sales")
    job = wb.submit(wb.Pipeline(source=wb.from_dataset("sales"), sink=wb.dataset("copy")),
                    runner="local")
    job.wait()
    assert job.status == "failed" and job.error.to_dict()["type"] == "NotFound"
    job = wb.submit(wb.Pipeline(source=wb.file(str(csv)),
                                steps=[wb.sql("SELECT * FROM sales")], sink=None), runner="local")
    job.wait()
    assert job.status == "failed"  # alice's dataset is no relation in bob's SQL
    # Names are names, never paths: nothing reaches alice's keys through them.
    for bad in ("../alice/datasets/sales", "alice/datasets/sales", "/sales", "sales\x00"):
        with pytest.raises(pydantic.ValidationError, match="invalid dataset name"):
            DatasetSource(name=bad)
        with pytest.raises(SpecError):
            verify(bob, bad)
    # bob's gc never touches alice's data
    gc(bob, retention_seconds=0, now=time.time() + 10 * 86400)
    monkeypatch.setenv("WORKBENCH_NAMESPACE", "alice")
    assert wb.read("sales").collect().height == 2


def kill_halfway(csv: Path, name: str, job_id: str, tmp_path: Path) -> None:
    """Run an ingest in a child process and SIGKILL it once two Parquet parts are uploading."""
    marker = tmp_path / f"{job_id}.halfway"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(wb.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, str(HERE / "s3_killed_writer.py"), str(csv), name,
                              job_id, str(marker)],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()[-3000:]
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.fixture
def big_csv(tmp_path) -> tuple[Path, int]:
    rng = np.random.default_rng(3)
    n = 1_500_000  # about 30 MB of Parquet: six 5 MiB parts
    pl.DataFrame({"a": rng.random(n), "b": rng.random(n)}).write_csv(tmp_path / "big.csv")
    return tmp_path / "big.csv", n


def assert_killed_state(ctx) -> list:
    with pytest.raises(NotFound):
        wb.read("big")  # no visible version
    assert not [o for o in ctx.storage.list("default/datasets/big/")
                if o.key.endswith(".manifest.json")]
    pending = ctx.storage.list_uploads("default/datasets/big/")
    assert pending, "the killed writer's multipart upload is left pending"
    assert ctx.catalog.get_job("job-killed")["status"] == "running"  # as far as anyone knows
    return pending


def test_killed_write_is_cleaned_by_gc(s3_env, s3_settings, big_csv, tmp_path):
    csv, n = big_csv
    kill_halfway(csv, "big", "job-killed", tmp_path)
    ctx = context_for(s3_settings)
    pending = assert_killed_state(ctx)

    # While its heartbeat is fresh, the job might still be alive: gc leaves it alone.
    assert gc(ctx, retention_seconds=3600)["attempts_removed"] == 0
    assert ctx.storage.list_uploads("default/datasets/big/") == pending
    # Past the retention with no heartbeat, the attempt is dead: uploads aborted, files removed.
    report = gc(ctx, retention_seconds=3600, now=time.time() + 7200)
    assert report["attempts_removed"] == 1 and report["multipart_aborted"] == len(pending)
    assert ctx.storage.list_uploads("default/datasets/big/") == []
    assert list(ctx.storage.list("default/datasets/big/")) == []

    ds = wb.ingest(str(csv), name="big")  # and the next job just works
    assert ds.rows == n and len(ds.files) == 1
    assert verify(ctx, "big")["ok"]


def test_killed_write_is_cleaned_by_the_next_run_of_the_job(s3_env, s3_settings, big_csv,
                                                             tmp_path):
    """A redelivered task (same job id) removes the dead attempt's leftovers, then commits."""
    from workbench.execute import run_job
    from workbench.spec.models import DatasetSink, FileSource, Pipeline

    csv, n = big_csv
    kill_halfway(csv, "big", "job-killed", tmp_path)
    ctx = context_for(s3_settings)
    assert_killed_state(ctx)
    result = run_job(Pipeline(source=FileSource(path=str(csv)), sink=DatasetSink(name="big")),
                     job_id="job-killed", ctx=ctx)
    assert result["rows"] == n and result["version"] == 1
    assert ctx.storage.list_uploads("default/datasets/big/") == []
    assert {"/".join(o.key.split("/")[4:6]) for o in ctx.storage.list("default/datasets/big/data/")
            } == {"job-killed/a2"}
    assert verify(ctx, "big")["ok"]
