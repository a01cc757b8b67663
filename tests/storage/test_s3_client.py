"""How S3 clients are built: R2-safe checksums, one retry layer, settings-only credentials."""

from __future__ import annotations

import pytest

from workbench.errors import ConfigError
from workbench.storage.s3 import S3Storage, make_client, polars_options


def test_client_config_for_r2():
    client = make_client(endpoint_url="https://acct.r2.cloudflarestorage.com", region="auto",
                         addressing="virtual", access_key_id="AKIA1", secret_access_key="s1")
    cfg = client.meta.config
    assert cfg.request_checksum_calculation == "when_required"
    assert cfg.response_checksum_validation == "when_required"
    assert cfg.retries["total_max_attempts"] == 1  # retry.py is the only retry layer
    assert cfg.s3["addressing_style"] == "virtual"
    assert client.meta.region_name == "auto"
    assert make_client(endpoint_url="https://acct.r2.cloudflarestorage.com", region="auto",
                       addressing="virtual", access_key_id="AKIA1", secret_access_key="s1") is client


def test_aws_without_endpoint_gets_a_real_region():
    client = make_client(endpoint_url=None, region="auto", addressing="path",
                         access_key_id="AKIA1", secret_access_key="s1")
    assert client.meta.region_name == "us-east-1"
    assert polars_options(endpoint_url=None, region="auto", addressing="path",
                          access_key_id="a", secret_access_key="b")["aws_region"] == "us-east-1"


def test_missing_credentials_and_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="no S3 credentials") as exc:
        S3Storage("bucket", endpoint_url="http://127.0.0.1:1").client
    assert "AWS_ACCESS_KEY_ID" in exc.value.hint
    with pytest.raises(ConfigError, match="ADDRESSING"):
        make_client(endpoint_url=None, region="auto", addressing="sideways",
                    access_key_id="a", secret_access_key="b")
    with pytest.raises(ConfigError, match="5 MiB"):
        S3Storage("bucket", part_size=1024 * 1024)
