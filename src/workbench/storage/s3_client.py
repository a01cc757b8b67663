"""The S3 client: URL and key checks, one boto3 client per endpoint and credentials, and the
options Polars needs to read the same objects.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..settings import Settings


T = TypeVar("T")


MIN_PART_SIZE = 5 * 1024 * 1024  # S3 and R2: every part but the last at least 5 MiB


MAX_PARTS = 10_000


_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# ----------------------------------------------------------------------------- addresses
def check_key(key: str) -> str:
    """A relative ``/``-separated key with no empty, ``.`` or ``..`` segment and no control
    character; anything else could reach outside the namespace prefix it was built under."""
    if not isinstance(key, str) or not key or key.startswith("/") or "\\" in key \
            or _CONTROL.search(key):
        raise ValueError(f"invalid storage key {key!r}")
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts[:-1]) or parts[-1] in (".", ".."):
        raise ValueError(f"invalid storage key {key!r}: empty, '.' or '..' segment")
    return key


def check_prefix(prefix: str) -> str:
    """A key prefix: empty, or a key optionally ending in ``/``."""
    if prefix in ("", None):
        return ""
    check_key(prefix.rstrip("/") or "x/")  # a lone "/" is refused by check_key's rule
    return prefix


def parse_url(url: str) -> tuple[str, str | None, str, str]:
    """``(scheme, account, bucket, prefix)`` of an ``s3://`` or ``r2://`` URL."""
    scheme, _, rest = url.partition("://")
    if scheme not in ("s3", "r2") or not rest:
        raise ConfigError(f"not an s3:// or r2:// URL: {url!r}")
    account = None
    if scheme == "r2":
        account, _, rest = rest.partition("/")
        if not account or not re.fullmatch(r"[A-Za-z0-9]+", account):
            raise ConfigError(f"invalid R2 account in {url!r}",
                              hint="use r2://<account id>/<bucket>/<prefix>")
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        raise ConfigError(f"invalid bucket name {bucket!r} in {url!r}",
                          hint="3-63 lower-case letters, digits, '.' or '-'")
    prefix = prefix.strip("/")
    if prefix:
        try:
            check_key(prefix)
        except ValueError:
            raise ConfigError(f"invalid key prefix {prefix!r} in {url!r}") from None
    return scheme, account, bucket, prefix


def r2_endpoint(account: str) -> str:
    return f"https://{account}.r2.cloudflarestorage.com"


# ----------------------------------------------------------------------------- clients
_CLIENTS: dict[tuple, Any] = {}


_CLIENTS_LOCK = threading.Lock()


def endpoint_without_userinfo(endpoint_url: str | None) -> str | None:
    """``endpoint_url`` without a ``user:password@`` (up to the last ``@`` before the host).

    Requests are signed with the access key and secret (SigV4); neither boto3 nor Polars'
    object store sends an endpoint's userinfo anywhere, but both copy the endpoint into what
    they build from it, a presigned URL first of all, which is handed to browsers and printed.
    So the userinfo is never part of the endpoint a client is made with.
    """
    if not endpoint_url or "://" not in endpoint_url:
        return endpoint_url
    scheme, _, rest = endpoint_url.partition("://")
    _userinfo, at, host_and_path = rest.rpartition("@")  # the userinfo may hold '@', '/', ...
    if not at:
        return endpoint_url
    return f"{scheme}://{host_and_path}"


def make_client(*, endpoint_url: str | None, region: str, addressing: str,
                access_key_id: str | None, secret_access_key: str | None,
                max_pool_connections: int = 16) -> Any:
    """A boto3 S3 client, cached per process for the same endpoint and credentials.

    * checksums only "when_required": boto3 >= 1.36 otherwise adds CRC32 trailers that R2 and
      older S3-compatible servers refuse;
    * botocore's retries off (``total_max_attempts=1``): ``retry.py`` is the one retry layer;
    * explicit timeouts, so a dead endpoint fails in seconds and is classified as transient.
    """
    # heavy optional dependency: imported on first use
    import boto3
    # heavy optional dependency: imported on first use
    from botocore.config import Config

    if addressing not in ("path", "virtual", "auto"):
        raise ConfigError(f"WORKBENCH_S3_ADDRESSING must be path, virtual or auto, not {addressing!r}")
    if not access_key_id or not secret_access_key:
        raise ConfigError(
            "no S3 credentials are configured",
            hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or WORKBENCH_S3_ACCESS_KEY_ID / "
                 "WORKBENCH_S3_SECRET_ACCESS_KEY)")
    # never in a presigned URL (nor anything else the client builds from its endpoint)
    endpoint_url = endpoint_without_userinfo(endpoint_url)
    # AWS itself has no region "auto"; R2 and most S3-compatible servers accept any region.
    region_name = "us-east-1" if (region == "auto" and not endpoint_url) else region
    cache_key = (endpoint_url, region_name, addressing, access_key_id, secret_access_key,
                 max_pool_connections)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(cache_key)
        if client is None:
            config = Config(
                region_name=region_name,
                signature_version="s3v4",
                s3={"addressing_style": addressing},
                retries={"mode": "standard", "total_max_attempts": 1},
                connect_timeout=5,
                read_timeout=60,
                tcp_keepalive=True,
                max_pool_connections=max_pool_connections,
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
            # A private session: boto3's default one is shared, and its credential chain must
            # not pick up ~/.aws files when settings say otherwise.
            session = boto3.session.Session(aws_access_key_id=access_key_id,
                                            aws_secret_access_key=secret_access_key,
                                            region_name=region_name)
            client = session.client("s3", endpoint_url=endpoint_url, config=config)
            _CLIENTS[cache_key] = client
    return client


def client_for_settings(settings: Settings, *, endpoint_url: str | None = None) -> Any:
    return make_client(
        endpoint_url=endpoint_url or settings.s3_endpoint_url, region=settings.s3_region,
        addressing=settings.s3_addressing, access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key)


def polars_options(*, endpoint_url: str | None, region: str, addressing: str,
                   access_key_id: str | None, secret_access_key: str | None) -> dict[str, str]:
    """``storage_options`` for Polars' object-store reader/writer (they hold the secret: never
    log or store them)."""
    opts: dict[str, str] = {
        "aws_region": "us-east-1" if (region == "auto" and not endpoint_url) else region,
    }
    endpoint_url = endpoint_without_userinfo(endpoint_url)
    if endpoint_url:
        opts["aws_endpoint_url"] = endpoint_url
        if endpoint_url.startswith("http://"):
            opts["aws_allow_http"] = "true"
    if access_key_id:
        opts["aws_access_key_id"] = access_key_id
    if secret_access_key:
        opts["aws_secret_access_key"] = secret_access_key
    opts["aws_virtual_hosted_style_request"] = "true" if addressing == "virtual" else "false"
    return opts


def client_error(code: str | None, message: str | None) -> Exception:
    # heavy optional dependency: imported on first use
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code or "", "Message": message or ""}}, "DeleteObjects")
