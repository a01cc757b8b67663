"""Sources in a bucket: one object, a prefix, or a glob, read straight from the endpoint.

``expand`` lists what a source path names; ``polars_storage_options`` is what Polars' own
object-store reader needs to scan those URLs lazily (measured faster than pyarrow's
S3FileSystem on the same objects: see ``bench/s3_ingest.py``); ``open_source`` is a streaming,
seekable reader for formats that must be decoded in Python (gzip, Excel, encodings) without a
local copy of the whole object.

Every ``s3://`` path is read with the endpoint and credentials of the settings
(``WORKBENCH_S3_*``); ``r2://<account>/<bucket>/<key>`` picks the R2 endpoint of that account.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import NotFound, SourceError
from .s3 import S3Storage, parse_url, polars_options, r2_endpoint

if TYPE_CHECKING:
    from ..settings import Settings

_WILDCARD = re.compile(r"[*?\[]")


def is_remote(path: str) -> bool:
    return path.startswith(("s3://", "r2://"))


def split(path: str) -> tuple[str, str, str | None]:
    """``(bucket, key_or_pattern, endpoint)`` of an ``s3://`` or ``r2://`` source path."""
    scheme, rest = path.split("://", 1)
    account = None
    if scheme == "r2":
        account, _, rest = rest.partition("/")
    bucket, _, key = rest.partition("/")
    # parse_url validates the bucket and account; the key may hold glob characters.
    parse_url(f"{scheme}://{account + '/' if account else ''}{bucket}")
    return bucket, key, (r2_endpoint(account) if account else None)


def _storage(path: str, settings: Settings) -> tuple[S3Storage, str]:
    bucket, key, r2 = split(path)
    endpoint = settings.s3_endpoint_url or r2
    storage = S3Storage(bucket, "", endpoint_url=endpoint,
                        region="auto" if r2 else settings.s3_region,
                        addressing=settings.s3_addressing,
                        access_key_id=settings.s3_access_key_id,
                        secret_access_key=settings.s3_secret_access_key,
                        part_size=max(settings.part_size, 5 * 1024 * 1024))
    return storage, key


def glob_regex(pattern: str) -> re.Pattern[str]:
    """``*`` and ``?`` stay within one ``/`` segment, ``**`` crosses them, ``[...]`` is a class."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            if pattern.startswith("/", i):  # "a/**/b" also matches "a/b"
                out[-1] = "(?:.*/)?"
                i += 1
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def expand(path: str, settings: Settings) -> list[dict[str, Any]]:
    """The objects a source path names, sorted by key: ``[{"path": "s3://b/k", "size": n}]``.

    ``s3://b/key`` is that object (or, when there is none, the objects under ``key/``);
    ``s3://b/dir/`` every object under the prefix; ``s3://b/dir/*.csv.gz`` a glob.
    """
    storage, key = _storage(path, settings)
    bucket = storage.bucket

    def entry(k: str, size: int) -> dict[str, Any]:
        return {"path": f"s3://{bucket}/{k}", "size": size}

    def listing(prefix: str) -> list[tuple[str, int]]:
        # Keys ending in "/" are folder markers that consoles create, never data.
        return [(o.key, o.size) for o in storage.list(prefix) if not o.key.endswith("/")]

    match = _WILDCARD.search(key)
    if match is None:
        if key and not key.endswith("/"):
            try:
                return [entry(key, storage.info(key).size)]
            except NotFound:
                found = listing(key + "/")
                if not found:
                    raise SourceError(f"no object or prefix {path!r}", file=path,
                                      hint="check the bucket and key; `aws s3 ls` with the same "
                                           "endpoint shows what is there") from None
                return [entry(k, s) for k, s in found]
        found = listing(key)
        if not found:
            raise SourceError(f"no objects under {path!r}", file=path,
                              hint="check the prefix, or give a key or a glob")
        return [entry(k, s) for k, s in found]

    literal = key[:match.start()]
    regex = glob_regex(key)
    found = [(k, s) for k, s in listing(literal) if regex.match(k)]
    if not found:
        raise SourceError(f"no objects match {path!r}", file=path,
                          hint=f"listed prefix s3://{bucket}/{literal}; check the pattern "
                               "('*' stays within one folder, '**' crosses folders)")
    return [entry(k, s) for k, s in found]


def polars_storage_options(settings: Settings, path: str | None = None) -> dict[str, str]:
    """``storage_options`` for ``pl.scan_parquet/scan_csv/...`` on ``s3://`` URLs.

    They contain the secret key: pass them to Polars, never to a log, an event or a spec.
    """
    r2 = split(path)[2] if path and path.startswith("r2://") else None
    return polars_options(endpoint_url=settings.s3_endpoint_url or r2,
                          region="auto" if r2 else settings.s3_region,
                          addressing=settings.s3_addressing,
                          access_key_id=settings.s3_access_key_id,
                          secret_access_key=settings.s3_secret_access_key)


def scan_url(path: str) -> str:
    """The ``s3://bucket/key`` URL Polars understands for a source path (``r2://`` rewritten)."""
    if path.startswith("r2://"):
        bucket, key, _ = split(path)
        return f"s3://{bucket}/{key}"
    return path


def open_source(path: str, settings: Settings) -> BinaryIO:
    """A buffered, seekable stream over one object; a dropped connection resumes where it was."""
    storage, key = _storage(path, settings)
    return storage.open_read(key)


def pyarrow_filesystem(settings: Settings, path: str | None = None) -> Any:
    """pyarrow's S3FileSystem for the same endpoint (for DuckDB/pyarrow datasets)."""
    # heavy optional dependency: imported on first use
    from pyarrow import fs

    opts = polars_storage_options(settings, path)
    endpoint = opts.get("aws_endpoint_url")
    scheme = "http" if endpoint and endpoint.startswith("http://") else "https"
    return fs.S3FileSystem(
        access_key=settings.s3_access_key_id, secret_key=settings.s3_secret_access_key,
        region=opts["aws_region"],
        endpoint_override=endpoint.split("://", 1)[1] if endpoint else None, scheme=scheme,
        force_virtual_addressing=settings.s3_addressing == "virtual",
        check_directory_existence_before_creation=False)
