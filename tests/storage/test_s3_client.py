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


# ----------------------------------------------------------------------------- the product's client
def _settings_from_env(monkeypatch, endpoint: str, **env: str):
    """Settings read from the environment, the way every workbench process reads them (the
    ``wb_home`` fixture has cleared every other WORKBENCH_ variable)."""
    from workbench.settings import Settings

    monkeypatch.setenv("WORKBENCH_STORAGE_URL", "s3://wb-env-bucket/wb")
    monkeypatch.setenv("WORKBENCH_S3_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings.from_env()


def test_the_client_the_product_builds_has_its_timeouts_and_one_retry_layer(wb_home, monkeypatch):
    """What s3_client promises of every client: a dead endpoint fails in seconds (connect 5 s),
    a stalled answer after 60 s, keep-alive on, and botocore's own retries off (one attempt per
    call) so that retry.py, with backoff and jitter, is the only retry layer."""
    from workbench.storage import open_storage
    from workbench.storage.retry import RetryPolicy

    storage = open_storage(_settings_from_env(monkeypatch, "http://127.0.0.1:1"))
    assert isinstance(storage, S3Storage)
    cfg = storage.client.meta.config
    assert (cfg.connect_timeout, cfg.read_timeout, cfg.tcp_keepalive) == (5, 60, True)
    assert cfg.retries == {"mode": "standard", "total_max_attempts": 1}
    assert cfg.signature_version == "s3v4"
    assert storage.retry == RetryPolicy(attempts=5, base=0.25, cap=8.0)
    # the sources' clients (another bucket, same settings) are built the same way
    from workbench.storage.s3_sources import _storage

    source, _ = _storage("s3://wb-other-bucket/in.csv",
                         _settings_from_env(monkeypatch, "http://127.0.0.1:1"))
    scfg = source.client.meta.config
    assert (scfg.connect_timeout, scfg.read_timeout, scfg.retries) == (
        5, 60, {"mode": "standard", "total_max_attempts": 1})


@pytest.mark.parametrize("value", [None, "path", "virtual"])
def test_the_addressing_variable_sets_every_client_the_product_builds(wb_home, monkeypatch, value):
    """WORKBENCH_S3_ADDRESSING (default path), read from the environment: the storage's boto3
    client, the presigned upload URLs it gives browsers, a source's client, and the options
    Polars, pyarrow and Iceberg get all address the bucket that way."""
    from workbench.iceberg_catalog import io_properties
    from workbench.storage import open_storage
    from workbench.storage.s3_sources import _storage, polars_storage_options, pyarrow_filesystem

    env = {"WORKBENCH_S3_ADDRESSING": value} if value else {}
    settings = _settings_from_env(monkeypatch, "http://s3.example.test:9000", **env)
    style = value or "path"
    virtual = style == "virtual"
    storage = open_storage(settings)
    assert storage.client.meta.config.s3["addressing_style"] == style
    url = storage.presign_put("uploads/a.csv", size=3, expires=60).split("?")[0]
    assert url == ("http://wb-env-bucket.s3.example.test:9000/wb/uploads/a.csv" if virtual
                   else "http://s3.example.test:9000/wb-env-bucket/wb/uploads/a.csv")
    source, key = _storage("s3://wb-other-bucket/in.csv", settings)
    assert source.client.meta.config.s3["addressing_style"] == style
    assert source.client.generate_presigned_url(
        "get_object", Params={"Bucket": "wb-other-bucket", "Key": key}).split("?")[0] == (
        "http://wb-other-bucket.s3.example.test:9000/in.csv" if virtual
        else "http://s3.example.test:9000/wb-other-bucket/in.csv")
    flag = "true" if virtual else "false"
    assert storage.storage_options()["aws_virtual_hosted_style_request"] == flag
    assert polars_storage_options(settings, "s3://wb-other-bucket/in.csv")[
        "aws_virtual_hosted_style_request"] == flag
    assert pyarrow_filesystem(settings).__reduce__()[1][0]["force_virtual_addressing"] is virtual
    assert io_properties(storage).get("s3.force-virtual-addressing") == ("true" if virtual else None)


def test_an_unknown_addressing_in_the_environment_is_a_config_error_naming_it(wb_home, monkeypatch):
    from workbench.storage import open_storage

    settings = _settings_from_env(monkeypatch, "http://s3.example.test:9000",
                                  WORKBENCH_S3_ADDRESSING="sideways")
    with pytest.raises(ConfigError, match="WORKBENCH_S3_ADDRESSING must be path, virtual or auto, "
                                          "not 'sideways'"):
        open_storage(settings).client


@pytest.mark.parametrize("value", [None, "virtual"])
def test_upload_url_follows_the_addressing_variable(wb_home, tmp_path, value):
    """The CLI, a process of its own reading only its environment, presigns for the style set."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update({"WORKBENCH_HOME": str(wb_home), "WORKBENCH_STORAGE_URL": "s3://wb-env-bucket/wb",
                "WORKBENCH_S3_ENDPOINT_URL": "http://s3.example.test:9000",
                "AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret",
                "WORKBENCH_ICEBERG_CATALOG": "none",
                "WORKBENCH_KEYS_DIR": os.environ["WORKBENCH_KEYS_DIR"]})
    if value:
        env["WORKBENCH_S3_ADDRESSING"] = value
    out = subprocess.run([sys.executable, "-m", "workbench", "upload-url", "--filename", "a.csv",
                          "--size", "10", "--json"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["multipart"] is False
    assert info["url"].split("?")[0] == (
        f"http://wb-env-bucket.s3.example.test:9000/wb/{info['key']}" if value
        else f"http://s3.example.test:9000/wb-env-bucket/wb/{info['key']}")
