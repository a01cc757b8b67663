"""Helpers shared by the storage tests (a module of its own: conftest is not importable)."""

from __future__ import annotations

import uuid

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
