"""Sources in a bucket: one object, a prefix, a glob; streamed, never copied whole."""

from __future__ import annotations

import gzip

import polars as pl
import pytest
from s3_helpers import admin_client

from workbench.errors import ConfigError, NotFound, SourceError
from workbench.storage.s3 import S3Storage, parse_url
from workbench.storage.s3_sources import (
    expand, glob_regex, open_source, polars_storage_options, pyarrow_filesystem, scan_url,
)

pytestmark = pytest.mark.services


@pytest.fixture
def landing(s3_server, bucket):
    c = admin_client(s3_server.url)
    objects = {
        "2026/orders-01.csv.gz": gzip.compress(b"id,amount\n1,10\n2,20\n"),
        "2026/orders-02.csv.gz": gzip.compress(b"id,amount\n3,30\n"),
        "2026/returns-01.csv.gz": gzip.compress(b"id,amount\n9,-1\n"),
        "2026/deep/orders-03.csv.gz": gzip.compress(b"id,amount\n4,40\n"),
        "2026/": b"",  # a folder marker, as consoles make them
        "single.csv": b"id,amount\n1,5\n",
    }
    for key, body in objects.items():
        c.put_object(Bucket=bucket, Key=key, Body=body)
    return bucket


def paths(items):
    return [i["path"].split("/", 3)[3] for i in items]


def test_single_object(landing, s3_settings):
    items = expand(f"s3://{landing}/single.csv", s3_settings)
    assert items == [{"path": f"s3://{landing}/single.csv", "size": len(b"id,amount\n1,5\n")}]


def test_prefix(landing, s3_settings):
    assert paths(expand(f"s3://{landing}/2026/", s3_settings)) == [
        "2026/deep/orders-03.csv.gz", "2026/orders-01.csv.gz", "2026/orders-02.csv.gz",
        "2026/returns-01.csv.gz"]
    # a key with no object of its own is read as a folder
    assert len(expand(f"s3://{landing}/2026/deep", s3_settings)) == 1


def test_globs(landing, s3_settings):
    assert paths(expand(f"s3://{landing}/2026/orders-*.csv.gz", s3_settings)) == [
        "2026/orders-01.csv.gz", "2026/orders-02.csv.gz"]
    assert paths(expand(f"s3://{landing}/2026/**/orders-*.csv.gz", s3_settings)) == [
        "2026/deep/orders-03.csv.gz", "2026/orders-01.csv.gz", "2026/orders-02.csv.gz"]
    assert paths(expand(f"s3://{landing}/2026/orders-0[2-9].csv.gz", s3_settings)) == [
        "2026/orders-02.csv.gz"]


def test_glob_regex_rules():
    assert glob_regex("a/*.csv").match("a/x.csv") and not glob_regex("a/*.csv").match("a/b/x.csv")
    assert glob_regex("a/**/x.csv").match("a/x.csv") and glob_regex("a/**/x.csv").match("a/b/c/x.csv")
    assert glob_regex("f?.csv").match("f1.csv") and not glob_regex("f?.csv").match("f12.csv")
    assert glob_regex("f[!0].csv").match("f1.csv") and not glob_regex("f[!0].csv").match("f0.csv")


def test_nothing_there_is_a_clear_error(landing, s3_settings):
    with pytest.raises(SourceError, match="no objects match") as exc:
        expand(f"s3://{landing}/2026/*.parquet", s3_settings)
    assert exc.value.file == f"s3://{landing}/2026/*.parquet"
    with pytest.raises(SourceError, match="no object or prefix"):
        expand(f"s3://{landing}/nope.csv", s3_settings)
    with pytest.raises(NotFound, match="wb-not-a-bucket"):
        expand("s3://wb-not-a-bucket/2026/*.csv", s3_settings)
    with pytest.raises(ConfigError, match="invalid bucket"):
        expand("s3://A_B/x.csv", s3_settings)


def test_open_source_streams_gzip(landing, s3_settings):
    with open_source(f"s3://{landing}/2026/orders-01.csv.gz", s3_settings) as raw:
        text = gzip.GzipFile(fileobj=raw).read()
    assert text == b"id,amount\n1,10\n2,20\n"


def test_polars_reads_with_the_options(landing, s3_settings):
    opts = polars_storage_options(s3_settings)
    assert opts["aws_allow_http"] == "true" and opts["aws_virtual_hosted_style_request"] == "false"
    df = pl.scan_csv(f"s3://{landing}/single.csv", storage_options=opts).collect()
    assert df.to_dicts() == [{"id": 1, "amount": 5}]


def test_pyarrow_filesystem_reads_too(landing, s3_settings):
    fs = pyarrow_filesystem(s3_settings)
    with fs.open_input_stream(f"{landing}/single.csv") as f:
        assert f.read() == b"id,amount\n1,5\n"


def test_r2_urls(s3_settings):
    settings = s3_settings.with_(s3_endpoint_url=None, s3_region="us-east-1")
    storage = S3Storage.from_url("r2://0123abcd/analytics/workbench", settings)
    assert storage.endpoint_url == "https://0123abcd.r2.cloudflarestorage.com"
    assert storage.region == "auto" and storage.bucket == "analytics"
    assert storage.uri("ns/datasets/x/v000001.manifest.json") == \
        "s3://analytics/workbench/ns/datasets/x/v000001.manifest.json"
    assert storage.url == "r2://0123abcd/analytics/workbench"
    opts = polars_storage_options(settings, "r2://0123abcd/landing/a.csv")
    assert opts["aws_endpoint_url"] == "https://0123abcd.r2.cloudflarestorage.com"
    assert opts["aws_region"] == "auto" and "aws_allow_http" not in opts
    assert scan_url("r2://0123abcd/landing/a.csv") == "s3://landing/a.csv"
    assert parse_url("s3://bucket/a/b/") == ("s3", None, "bucket", "a/b")
    for bad in ("r2://bad-acct!/b/p", "s3://b/../x", "s3://xy", "gs://bucket/x"):
        with pytest.raises(ConfigError):
            parse_url(bad)
