"""s3:// sources on a real S3 server (moto over HTTP): listing and opening go through
``workbench.storage.s3_sources``; text is copied (and hashed) on the way in, Parquet is
scanned where it lies."""

from __future__ import annotations

import gzip
import hashlib
import io
import uuid
from types import SimpleNamespace

import polars as pl
import pytest

from workbench.engines.readers import scan_file
from workbench.errors import SourceError
from workbench.settings import Settings
from workbench.spec.models import FileSource

pytestmark = pytest.mark.services


@pytest.fixture
def s3(s3_server, tmp_path):
    import boto3

    bucket = f"src-{uuid.uuid4().hex[:10]}"
    client = boto3.client("s3", endpoint_url=s3_server.url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=bucket)
    settings = Settings(home=tmp_path / "home", storage_url=str(tmp_path / "store"),
                        catalog_url=f"sqlite:///{tmp_path / 'c.db'}", s3_endpoint_url=s3_server.url,
                        s3_region="us-east-1", s3_addressing="path",
                        s3_access_key_id="testing", s3_secret_access_key="testing")
    # readers use only the context's settings
    return SimpleNamespace(client=client, bucket=bucket, ctx=SimpleNamespace(settings=settings))


def _put(s3, key: str, data: bytes) -> str:
    s3.client.put_object(Bucket=s3.bucket, Key=key, Body=data)
    return f"s3://{s3.bucket}/{key}"


def test_s3_glob_of_csv_and_gzip(s3):
    plain = b"id,v\n1,NA\n2,3\n"
    _put(s3, "in/a.csv", plain)
    gz = gzip.compress(b"id,v\n3,4\n")
    _put(s3, "in/b.csv.gz", gz)
    scan = scan_file(FileSource(path=f"s3://{s3.bucket}/in/*"), s3.ctx)
    try:
        df = scan.frame.collect()
        assert sorted(df.rows(), key=lambda r: r[0]) == [(1, None), (2, 3), (3, 4)]
        assert [i["path"] for i in scan.inputs] == [f"s3://{s3.bucket}/in/a.csv",
                                                    f"s3://{s3.bucket}/in/b.csv.gz"]
        assert scan.inputs[1]["sha256"] == hashlib.sha256(gz).hexdigest()
        assert scan.bytes_total == len(plain) + len(gz)
    finally:
        scan.cleanup()


def test_s3_parquet_is_scanned_in_place(s3):
    buf = io.BytesIO()
    pl.DataFrame({"a": [1, 2, 3]}).write_parquet(buf)
    url = _put(s3, "p/x.parquet", buf.getvalue())
    scan = scan_file(FileSource(path=url), s3.ctx)
    assert scan.rows_total == 3 and scan.frame.collect()["a"].to_list() == [1, 2, 3]
    assert scan.inputs[0]["local_path"] == url


def test_s3_truncated_gzip_and_missing_key(s3):
    url = _put(s3, "t/a.csv.gz", gzip.compress(b"a\n" + b"1\n" * 100_000)[:-40])
    with pytest.raises(SourceError) as info:
        scan_file(FileSource(path=url), s3.ctx)
    assert info.value.file == url and "truncated" in info.value.message
    with pytest.raises(SourceError) as info:
        scan_file(FileSource(path=f"s3://{s3.bucket}/nothing/here.csv"), s3.ctx)
    assert "here.csv" in (info.value.file or "")
