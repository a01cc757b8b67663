"""Helpers shared by the storage tests (a module of its own: conftest is not importable)."""

from __future__ import annotations

import http.client
import uuid
from urllib.parse import urlsplit

from workbench.storage.retry import RetryPolicy

PART = 5 * 1024 * 1024
# Short waits keep the retry paths fast in tests; the shape (growth, jitter, cap) is the same.
FAST_RETRY = RetryPolicy(attempts=3, base=0.01, cap=0.05)


def admin_client(endpoint: str):
    """A plain boto3 client for test setup (region us-east-1: moto refuses to create buckets
    in region "auto")."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing",
                        aws_secret_access_key="testing", region_name="us-east-1")


def make_bucket(endpoint: str, name: str | None = None) -> str:
    name = name or f"wb-{uuid.uuid4().hex[:16]}"
    admin_client(endpoint).create_bucket(Bucket=name)
    return name


def write_version(ctx, name: str, df, *, job_id: str, attempt: int = 1, mode: str = "overwrite",
                  record_job: bool = True):
    """Commit a dataset version the way the dataset writer does: data files under the
    attempt's prefix through ``open_write``, then the manifest and the catalog row."""
    from workbench.dataset_store import HashingWriter, commit_version, data_prefix, previous_files
    from workbench.engines.profile import schema_dict

    if record_job:
        ctx.catalog.create_job(job_id=job_id, namespace=ctx.namespace, spec={}, runner="local",
                               name=name, status="running")
        ctx.catalog.start_attempt(job_id, "test")
    key = data_prefix(ctx.namespace, name, job_id, attempt) + "part-00000.parquet"
    target = ctx.storage.open_write(key)
    hw = HashingWriter(target)
    df.write_parquet(hw)
    target.close()
    files = [{"key": key, "rows": df.height, "bytes": hw.bytes, "sha256": hw.sha256}]
    base = previous_files(ctx, name)[0] if mode == "append" else []
    ds = commit_version(ctx, name=name, job_id=job_id, files=files, rows=df.height,
                        schema=schema_dict(df.schema), profile={"columns": {}}, spec=None,
                        inputs=[], bytes_in=0, checks=[], mode=mode, base_files=base)
    if record_job:
        ctx.catalog.finish_job(job_id, "succeeded", result={"version": ds.version})
    return ds


def context_for(settings, namespace: str = "default"):
    """A Context in ``namespace`` over the settings' storage and catalog."""
    from workbench.catalog import open_catalog
    from workbench.context import Context
    from workbench.storage import open_storage

    settings = settings.with_(namespace=namespace)
    storage = open_storage(settings)
    if hasattr(storage, "retry"):
        storage.retry = FAST_RETRY
    return Context(settings, storage, open_catalog(settings.catalog_url))


def put(url: str, body: bytes, headers: dict[str, str] | None = None) -> int:
    """One PUT with http.client, the way fetch()/XMLHttpRequest sends a File."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("PUT", f"{u.path}?{u.query}", body=body,
                 headers={"Content-Length": str(len(body)), **(headers or {})})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status
