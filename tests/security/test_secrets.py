"""Secrets are masked: the userinfo of every URL (S3 endpoint, broker, catalog, DSN) is replaced
by ``***`` in errors, logs, job records, events and notebook run records, by one function
(``workbench.masking.mask_url`` / ``mask_text``) in the foundation layer.

Each probe puts a unique secret into a URL, makes the system fail on it (or work with it), and
then searches every output for the secret's bytes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import workbench as wb
from data_probes import redis_dump
from probes import all_output
from servers import free_port, redis_db, start_redis
from wb_cluster import make_cluster
from workbench.masking import mask_text, mask_url

pytestmark = pytest.mark.services


def _secret() -> str:
    return f"pw{uuid.uuid4().hex[:12]}"


# ----------------------------------------------------------------------------- the one function
@pytest.mark.parametrize("url, shown", [
    ("http://user:SECRET@host:9000", "http://***@host:9000"),
    ("https://TOKENONLY@r2.example.com/bucket", "https://***@r2.example.com/bucket"),
    ("redis://:SECRET@redis:6379/0", "redis://***@redis:6379/0"),
    ("rediss://default:SECRET@redis:6380/1", "rediss://***@redis:6380/1"),
    ("postgresql://etl:SECRET@dw:5432/wh", "postgresql://etl:***@dw:5432/wh"),
    ("postgresql+psycopg://etl:SECRET@dw/wh", "postgresql+psycopg://etl:***@dw/wh"),
    ("postgresql://etl@dw/wh?sslmode=require&password=SECRET",
     "postgresql://etl@dw/wh?sslmode=require&password=***"),
    ("https://b.s3.example/k?X-Amz-Credential=SECRET&X-Amz-Signature=SECRET",
     "https://b.s3.example/k?X-Amz-Credential=***&X-Amz-Signature=***"),
    ("host=db user=etl password='SE CRET' dbname=wh", "host=db user=etl password=*** dbname=wh"),
    ("sqlite:////var/lib/x.db", "sqlite:////var/lib/x.db"),
])
def test_mask_url_hides_every_credential_form(url, shown):
    assert mask_url(url) == shown
    assert "SECRET" not in mask_url(url) and "TOKENONLY" not in mask_url(url)
    text = f"could not reach {url} (timeout)"
    assert "SECRET" not in mask_text(text) and "TOKENONLY" not in mask_text(text)


def test_settings_and_errors_never_show_a_url_credential(monkeypatch):
    from workbench.errors import StorageUnavailable, WorkbenchError
    from workbench.settings import Settings

    secret = _secret()
    monkeypatch.setenv("WORKBENCH_BROKER_URL", f"redis://:{secret}@127.0.0.1:1/0")
    monkeypatch.setenv("WORKBENCH_CATALOG_URL", f"postgresql://u:{secret}@127.0.0.1:1/c")
    monkeypatch.setenv("WORKBENCH_S3_ENDPOINT_URL", f"http://user:{secret}@127.0.0.1:1")
    assert secret not in repr(Settings.from_env())
    err = StorageUnavailable(f"cannot reach http://user:{secret}@host", hint=f"see redis://:{secret}@r")
    for shown in (str(err), json.dumps(err.to_dict()), repr(WorkbenchError.from_dict(err.to_dict()))):
        assert secret not in shown


# ----------------------------------------------------------------------------- S3 endpoint
def test_s3_endpoint_with_userinfo_is_masked_in_the_cli_error_and_job_record(s3_server, tmp_path):
    """The issue's case: WORKBENCH_S3_ENDPOINT_URL=http://user:pw@host, printed and stored."""
    import os

    secret = _secret()
    src = tmp_path / "in.csv"
    src.write_text("a\n1\n")
    home = tmp_path / "home"
    port = s3_server.url.rsplit(":", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update({"WORKBENCH_HOME": str(home), "WORKBENCH_STORAGE_URL": "s3://no-such-bucket-x/p",
                # a closed port: every request fails, and the message names the endpoint
                "WORKBENCH_S3_ENDPOINT_URL": f"http://user:{secret}@127.0.0.1:{free_port()}",
                "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "WORKBENCH_MAX_RETRIES": "0", "WORKBENCH_KEYS_DIR": os.environ["WORKBENCH_KEYS_DIR"]})
    assert port  # the real S3 server exists; this probe points beside it
    out = subprocess.run([sys.executable, "-m", "workbench", "ingest", str(src), "--name", "t",
                          "--json"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 1
    err = json.loads(out.stdout.strip().splitlines()[-1])["error"]
    assert err["type"] == "StorageUnavailable" and "http://***@127.0.0.1" in err["message"]
    assert secret not in out.stdout + out.stderr
    db = (home / "catalog.db").read_bytes() + b"".join(
        p.read_bytes() for p in home.glob("catalog.db*"))
    assert secret.encode() not in db


def test_s3_endpoint_userinfo_on_a_worker_reaches_no_record_event_log_or_redis(redis_server,
                                                                               tmp_path):
    secret = _secret()
    cl = make_cluster(tmp_path, redis_db(redis_server),
                      WORKBENCH_S3_ENDPOINT_URL=f"http://user:{secret}@127.0.0.1:{free_port()}",
                      AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      WORKBENCH_SOURCE_ROOTS="s3://bucket-x/")
    cl.start_worker("s3leak", concurrency=1)
    try:
        # the source is on S3, through the worker's endpoint: the read fails there
        job = cl.runner().submit(wb.Pipeline(source=wb.file("s3://bucket-x/in.csv"),
                                             sink=wb.dataset("leak")))
        job.wait(180)
        assert job.status == "failed"
        assert "http://***@127.0.0.1" in job.error.message
        events = json.dumps([e.to_dict() for e in job.events])
        assert secret not in events and secret not in str(job.error)
        assert secret.encode() not in all_output(cl)
    finally:
        cl.stop()


def test_s3_secret_key_on_workers_reaches_no_log_record_event_redis_key_or_object(
        redis_server, s3_server, tmp_path, monkeypatch):
    """README: secrets never appear in errors, logs, job records or specs. Workers write datasets
    to a bucket and read sources from it with a secret access key made at random for this test
    (moto takes any key); afterwards its bytes are in no worker log, no file of the home, no
    catalog row (job records, events, the Iceberg tables' rows), no Redis key, value, stream or
    Celery message, no job's events or error, and no object in the bucket (data, manifests,
    Iceberg metadata, stored results)."""
    import os

    import boto3

    from wb_cluster import write_csv

    secret = f"wbS3secret{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}"
    key_id = f"AKIAWB{uuid.uuid4().hex[:14].upper()}"
    bucket = f"wb-secret-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=s3_server.url, region_name="us-east-1",
                      aws_access_key_id=key_id, aws_secret_access_key=secret)
    s3.create_bucket(Bucket=bucket)
    src = write_csv(tmp_path / "in.csv", 3_000)
    s3.put_object(Bucket=bucket, Key="landing/in.csv", Body=src.read_bytes())
    for k in range(2):
        s3.put_object(Bucket=bucket, Key=f"landing/parts/p{k}.csv",
                      Body=write_csv(tmp_path / f"p{k}.csv", 1_000, start=k * 1_000).read_bytes())

    creds = {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}
    for k, v in creds.items():  # the kernel holds them too, as a user's would
        monkeypatch.setenv(k, v)
    cl = make_cluster(tmp_path, redis_db(redis_server), **creds,
                      WORKBENCH_STORAGE_URL=f"s3://{bucket}/wb", WORKBENCH_S3_ENDPOINT_URL=s3_server.url,
                      WORKBENCH_S3_REGION="us-east-1",
                      WORKBENCH_SOURCE_ROOTS=f"{tmp_path.parent},s3://{bucket}/landing/")
    worker = cl.start_worker("s3secret", concurrency=1)
    try:
        # the worker holds the secret (its storage reads it from there, as README says)
        assert f"AWS_SECRET_ACCESS_KEY={secret}".encode() in \
            open(f"/proc/{worker.pid}/environ", "rb").read().split(b"\0")
        assert "WORKBENCH_S3_SECRET_ACCESS_KEY" not in cl.env and not os.environ.get(
            "WORKBENCH_S3_SECRET_ACCESS_KEY")
        runner = cl.runner()
        jobs = {
            "write": runner.submit(wb.Pipeline(
                source=wb.file(str(src)), checks=[wb.not_null("id")],
                sink=wb.dataset("written"))),
            "read": runner.submit(wb.Pipeline(
                source=wb.file(f"s3://{bucket}/landing/in.csv"),
                steps=[wb.sql("SELECT region, count(*) AS n FROM input GROUP BY region")],
                sink=wb.dataset("read_back"))),
            "fanout": runner.submit(wb.Pipeline(
                source=wb.file(f"s3://{bucket}/landing/parts/*.csv", parallel=True),
                steps=[wb.filter("qty > 0")], sink=wb.dataset("fanned"))),
            "rows": runner.submit(wb.Pipeline(
                source=wb.file(f"s3://{bucket}/landing/in.csv"), steps=[wb.limit(5)])),
            "missing": runner.submit(wb.Pipeline(
                source=wb.file(f"s3://{bucket}/landing/missing.csv"),
                sink=wb.dataset("never"))),
        }
        for name, job in jobs.items():
            job.wait(240)
            assert job.status == ("failed" if name == "missing" else "succeeded"), (name, job.error)
        assert jobs["write"].result.rows == 3_000 and jobs["fanout"].result.rows == 2_000
        assert jobs["read"].result.rows == 4 and jobs["rows"].result.height == 5
        assert "split into 2 tasks, one per file" in jobs["fanout"].state.messages
        assert f"s3://{bucket}/landing/missing.csv" in jobs["missing"].error.message

        seen = bytearray(all_output(cl))  # worker logs, Redis, every catalog row
        for job in jobs.values():
            seen += json.dumps([e.to_dict() for e in job.events], default=str).encode()
            seen += json.dumps(cl.ctx().catalog.get_job(job.id), default=str).encode()
            seen += f"{job.error}{job.error!r}".encode()
        for path in cl.home.rglob("*"):  # the SQLite catalog's own files, logs, keys
            if path.is_file():
                seen += path.read_bytes()
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                for o in page.get("Contents", [])]
        # what the scan covers: every kind of object the jobs wrote
        assert any(k.endswith(".parquet") and "/datasets/written/" in k for k in keys)
        assert any(k.endswith(".manifest.json") and "/datasets/fanned/" in k for k in keys)
        assert any("/datasets/read_back/metadata/" in k for k in keys)
        for k in keys:
            seen += s3.get_object(Bucket=bucket, Key=k)["Body"].read()
        assert len(seen) > 100_000
        assert secret.encode() not in seen
    finally:
        cl.stop()


# ----------------------------------------------------------------------------- broker
def test_broker_password_never_reaches_logs_errors_or_redis(tmp_path):
    secret = _secret()
    redis = start_redis(password=secret)
    try:
        cl = make_cluster(tmp_path, redis.url)
        cl.start_worker("pw", concurrency=1)
        try:
            src = tmp_path / "in.csv"
            src.write_text("a\n1\n")
            job = cl.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("pw")))
            assert job.wait(120).status == "succeeded"
            assert secret.encode() not in all_output(cl)
            # the client's error for a broker that is down names it without the password
            from workbench.runners.celery_runner import CeleryRunner

            down = f"redis://:{secret}@127.0.0.1:{free_port()}/0"
            with pytest.raises(wb.errors.BrokerUnavailable) as exc:
                CeleryRunner(cl.ctx(), broker_url=down).submit(
                    wb.Pipeline(source=wb.file(str(src))))
            assert secret not in str(exc.value) and "redis://***@127.0.0.1" in str(exc.value)
            assert secret.encode() not in redis_dump(cl)
        finally:
            cl.stop()
    finally:
        redis.stop()


def test_a_bad_broker_url_is_named_without_its_password(monkeypatch):
    from workbench.errors import ConfigError
    from workbench.worker.config import WorkerConfig

    secret = _secret()
    monkeypatch.setenv("WORKBENCH_BROKER_URL", f"amqp://guest:{secret}@rabbit:5672//")
    with pytest.raises(ConfigError) as exc:
        WorkerConfig.from_env()
    assert secret not in str(exc.value) and "amqp://***@rabbit" in str(exc.value)


# ----------------------------------------------------------------------------- catalog, DSN
def test_catalog_password_is_masked_when_the_catalog_is_down(tmp_path):
    from workbench.catalog import Catalog

    secret = _secret()
    with pytest.raises(wb.errors.StorageUnavailable) as exc:
        Catalog(f"postgresql://wb:{secret}@127.0.0.1:{free_port()}/wb").list_jobs(limit=1)
    assert secret not in str(exc.value) and "wb:***@127.0.0.1" in str(exc.value)


def test_connection_password_on_a_worker_stays_out_of_records_events_and_logs(redis_server,
                                                                             tmp_path):
    secret = _secret()
    cl = make_cluster(tmp_path, redis_db(redis_server),
                      WORKBENCH_CONN_SHOP=f"postgresql://app:{secret}@127.0.0.1:{free_port()}/shop")
    cl.start_worker("dsn", concurrency=1)
    try:
        job = cl.runner().submit(wb.Pipeline(source=wb.query("SELECT 1", db="shop")))
        job.wait(180)
        assert job.status == "failed" and "app:***@127.0.0.1" in job.error.message
        assert secret not in json.dumps([e.to_dict() for e in job.events])
        assert secret.encode() not in all_output(cl)
    finally:
        cl.stop()


# ----------------------------------------------------------------------------- notebook runs
def test_notebook_run_record_masks_a_url_in_the_cells_error(wb_home, tmp_path):
    from workbench import scheduling
    from workbench.context import Context

    secret = _secret()
    nb = tmp_path / "leaky.ipynb"
    nb.write_text(json.dumps({
        "cells": [{"cell_type": "code", "id": "c1", "metadata": {}, "execution_count": None,
                   "outputs": [], "source": f"raise ConnectionError('no answer from http://svc:{secret}@api.x')"}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}))
    ctx = Context.from_settings()
    run = scheduling.run_notebook(ctx, nb)
    assert run["status"] == "failed" and "http://***@api.x" in run["error"]["message"]
    rows = [json.dumps([str(v) for v in r]) for r in ctx.catalog.execute(
        scheduling.notebook_runs.select())]
    assert secret not in "".join(rows)


def test_log_lines_are_masked_in_text_format_too():
    import io
    import logging

    from workbench.worker.logs import install

    secret = _secret()
    buf = io.StringIO()
    logger = logging.getLogger(f"wbtest.{uuid.uuid4().hex}")
    logger.propagate = False
    handler = logging.StreamHandler(buf)
    logger.addHandler(handler)
    install(logger, fmt="text")
    logger.warning("retrying http://user:%s@s3.example", secret)
    install(logger, fmt="json")
    logger.warning("retrying redis://:%s@redis:6379/0", secret)
    assert secret not in buf.getvalue() and buf.getvalue().count("***@") == 2


def test_no_secret_in_the_keys_certificates_or_the_signed_messages(tmp_path):
    """The certificates and the task messages are public; the private keys never leave the
    key files (checked in Redis by every probe of test_signing)."""
    from workbench.worker.signing import init_keys

    info = init_keys(tmp_path / "k")
    for role in ("worker", "client"):
        key = Path(info[role]["key"]).read_text()
        cert = Path(info[role]["certificate"]).read_text()
        body = "".join(key.splitlines()[1:-1])
        assert body[:40] not in cert and "PRIVATE" not in cert
