"""Storage in an S3-compatible bucket (Cloudflare R2, AWS S3, MinIO, moto) through boto3.

URLs: ``s3://bucket/prefix`` (endpoint from ``WORKBENCH_S3_ENDPOINT_URL``) and
``r2://<account>/<bucket>/prefix`` (endpoint ``https://<account>.r2.cloudflarestorage.com``,
region ``auto``). Credentials come from settings only and are kept out of ``repr``, errors and
logs.

Guarantees, the same as ``LocalStorage``: an object written with ``open_write`` appears only on
``close()`` (a multipart upload completed at the end, or one PUT for a small object), ``abort()``
leaves neither an object nor a pending multipart upload, and ``put_bytes(if_absent=True)`` is a
conditional PUT (``If-None-Match: *``) so exactly one writer of a manifest wins.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterator

from ..errors import AlreadyExists, ConfigError, NotFound, WorkbenchError
from .base import ObjectInfo
from .errors import classify
from .retry import RetryPolicy, retry_call

if TYPE_CHECKING:
    from ..settings import Settings

from .s3_client import (
    MIN_PART_SIZE, T, check_key, check_prefix, client_error, make_client, parse_url, polars_options,
    r2_endpoint,
)
from .s3_reader import S3Reader
from .s3_writer import S3Writer


# ----------------------------------------------------------------------------- storage
class S3Storage:
    """An S3 bucket (and key prefix) as workbench storage."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 region: str = "auto", addressing: str = "path",
                 access_key_id: str | None = None, secret_access_key: str | None = None,
                 part_size: int = 16 * 1024 * 1024, concurrency: int = 4,
                 retry: RetryPolicy | None = None, url: str | None = None) -> None:
        if part_size < MIN_PART_SIZE:
            raise ConfigError(f"part size {part_size} is below the S3 minimum of 5 MiB",
                              hint="set WORKBENCH_PART_SIZE to at least 5242880")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.region = region
        self.addressing = addressing
        self.part_size = part_size
        self.concurrency = max(1, concurrency)
        self.retry = retry or RetryPolicy()
        self.url = url or (f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}")
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._client: Any = None
        # Retry observers (events, logs); each gets (attempt, delay, error).
        self.on_retry: Callable[[int, float, WorkbenchError], None] | None = None

    @classmethod
    def from_url(cls, url: str, settings: Settings, *, retry: RetryPolicy | None = None,
                 concurrency: int = 4) -> S3Storage:
        scheme, account, bucket, prefix = parse_url(url)
        endpoint = settings.s3_endpoint_url
        region = settings.s3_region
        if scheme == "r2":
            endpoint = endpoint or r2_endpoint(account or "")
            region = "auto"
        return cls(bucket, prefix, endpoint_url=endpoint, region=region,
                   addressing=settings.s3_addressing, access_key_id=settings.s3_access_key_id,
                   secret_access_key=settings.s3_secret_access_key, part_size=settings.part_size,
                   concurrency=concurrency, retry=retry, url=url.rstrip("/"))

    def __repr__(self) -> str:  # never the credentials
        return f"S3Storage({self.url!r}, endpoint={self.endpoint_url!r})"

    # ------------------------------------------------------------------ plumbing
    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = make_client(
                endpoint_url=self.endpoint_url, region=self.region, addressing=self.addressing,
                access_key_id=self._access_key_id, secret_access_key=self._secret_access_key,
                max_pool_connections=max(16, self.concurrency * 2))
        return self._client

    def full_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _full_prefix(self, prefix: str) -> str:
        check_prefix(prefix)
        if not self.prefix:
            return prefix
        return f"{self.prefix}/{prefix}" if prefix else f"{self.prefix}/"

    def _rel(self, full: str) -> str:
        return full[len(self.prefix) + 1:] if self.prefix else full

    def classify(self, exc: BaseException, key: str | None = None,
                 operation: str | None = None) -> WorkbenchError:
        return classify(exc, bucket=self.bucket, key=key, endpoint=self.endpoint_url,
                        operation=operation,
                        secrets=(self._secret_access_key, self._access_key_id))

    def call(self, operation: str, key: str | None = None, **params: Any) -> Any:
        """One S3 API call with our retries; errors classified and naming bucket/key."""
        method = getattr(self.client, operation)
        return self._retry(lambda: method(Bucket=self.bucket, **params), key, operation)

    def _retry(self, fn: Callable[[], T], key: str | None, operation: str) -> T:
        return retry_call(fn, policy=self.retry,
                          classify=lambda e: self.classify(e, key, operation),
                          on_retry=self.on_retry)

    # ------------------------------------------------------------------ Storage protocol
    def open_write(self, key: str) -> S3Writer:
        return S3Writer(self, self.full_key(key))

    def open_read(self, key: str) -> BinaryIO:
        raw = S3Reader(self, self.full_key(key))
        return io.BufferedReader(raw, buffer_size=1024 * 1024)  # type: ignore[return-value]

    def put_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        full = self.full_key(key)
        extra = {"IfNoneMatch": "*"} if if_absent else {}
        try:
            self.call("put_object", full, Key=full, Body=bytes(data), **extra)
        except AlreadyExists:
            raise AlreadyExists(f"object {key!r} already exists in {self.url}", file=key) from None

    def get_bytes(self, key: str) -> bytes:
        full = self.full_key(key)
        return self._retry(lambda: self.client.get_object(Bucket=self.bucket, Key=full)["Body"].read(),
                           full, "get_object")

    def exists(self, key: str) -> bool:
        full = self.full_key(key)
        try:
            self.call("head_object", full, Key=full)
        except NotFound:
            # HEAD has no body, so a missing bucket looks like a missing key here; the next
            # write or listing names the bucket (NoSuchBucket).
            return False
        return True

    def info(self, key: str) -> ObjectInfo:
        full = self.full_key(key)
        head = self.call("head_object", full, Key=full)
        return ObjectInfo(key, int(head["ContentLength"]), head["LastModified"].timestamp())

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        full_prefix = self._full_prefix(prefix)
        token: str | None = None
        while True:
            params: dict[str, Any] = {"Prefix": full_prefix, "MaxKeys": 1000}
            if token:
                params["ContinuationToken"] = token
            page = self.call("list_objects_v2", full_prefix, **params)
            for obj in page.get("Contents", []) or []:
                yield ObjectInfo(self._rel(obj["Key"]), int(obj["Size"]),
                                 obj["LastModified"].timestamp())
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    def delete(self, key: str) -> None:
        full = self.full_key(key)
        self.call("delete_object", full, Key=full)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix`` and abort the multipart uploads left there."""
        full_prefix = self._full_prefix(prefix)
        self.abort_uploads(prefix)
        # Listed keys are used as they are: whatever lies under the prefix goes.
        keys = [f"{self.prefix}/{o.key}" if self.prefix else o.key for o in self.list(prefix)]
        for i in range(0, len(keys), 1000):
            batch = keys[i:i + 1000]
            resp = self.call("delete_objects", full_prefix,
                             Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            errors = resp.get("Errors") or []
            if errors:
                first = errors[0]
                raise self.classify(client_error(first.get("Code"), first.get("Message")),
                                    first.get("Key"), "delete_objects")
        return len(keys)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.full_key(key)}"

    def storage_options(self) -> dict[str, str] | None:
        return polars_options(endpoint_url=self.endpoint_url, region=self.region,
                              addressing=self.addressing, access_key_id=self._access_key_id,
                              secret_access_key=self._secret_access_key)

    # ------------------------------------------------------------------ multipart and presigning
    def list_uploads(self, prefix: str = "") -> list[dict[str, Any]]:
        """Pending multipart uploads under ``prefix``: ``{"key", "upload_id", "initiated"}``."""
        full_prefix = self._full_prefix(prefix)
        out: list[dict[str, Any]] = []
        params: dict[str, Any] = {"Prefix": full_prefix}
        while True:
            page = self.call("list_multipart_uploads", full_prefix, **params)
            for up in page.get("Uploads", []) or []:
                out.append({"key": self._rel(up["Key"]), "upload_id": up["UploadId"],
                            "initiated": up["Initiated"].timestamp()})
            if not page.get("IsTruncated"):
                return out
            params = {"Prefix": full_prefix, "KeyMarker": page.get("NextKeyMarker"),
                      "UploadIdMarker": page.get("NextUploadIdMarker")}

    def abort_uploads(self, prefix: str = "", *, initiated_before: float | None = None) -> int:
        """Abort pending multipart uploads under ``prefix`` (those of dead writers)."""
        n = 0
        for up in self.list_uploads(prefix):
            if initiated_before is not None and up["initiated"] >= initiated_before:
                continue
            full = f"{self.prefix}/{up['key']}" if self.prefix else up["key"]
            try:
                self.call("abort_multipart_upload", full, Key=full, UploadId=up["upload_id"])
            except NotFound:
                continue  # completed or aborted meanwhile
            n += 1
        return n

    def create_upload(self, key: str, *, content_type: str | None = None) -> str:
        full = self.full_key(key)
        extra = {"ContentType": content_type} if content_type else {}
        return self.call("create_multipart_upload", full, Key=full, **extra)["UploadId"]

    def abort_upload(self, key: str, upload_id: str) -> None:
        full = self.full_key(key)
        try:
            self.call("abort_multipart_upload", full, Key=full, UploadId=upload_id)
        except NotFound:
            pass  # already completed, aborted or expired: nothing is pending

    def list_parts(self, key: str, upload_id: str) -> list[dict[str, Any]]:
        full = self.full_key(key)
        parts: list[dict[str, Any]] = []
        params: dict[str, Any] = {"Key": full, "UploadId": upload_id}
        while True:
            page = self.call("list_parts", full, **params)
            parts += [{"PartNumber": p["PartNumber"], "ETag": p["ETag"], "Size": p["Size"]}
                      for p in page.get("Parts", []) or []]
            if not page.get("IsTruncated"):
                return parts
            params["PartNumberMarker"] = page["NextPartNumberMarker"]

    def complete_upload(self, key: str, upload_id: str, parts: list[dict[str, Any]]) -> None:
        full = self.full_key(key)
        self.call("complete_multipart_upload", full, Key=full, UploadId=upload_id,
                  MultipartUpload={"Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]}
                                             for p in sorted(parts, key=lambda p: p["PartNumber"])]})

    def presign_put(self, key: str, *, size: int, expires: int,
                    content_type: str = "application/octet-stream") -> str:
        """A URL a browser can PUT exactly ``size`` bytes to (Content-Length and type signed)."""
        full = self.full_key(key)
        return self.client.generate_presigned_url(
            "put_object", ExpiresIn=expires,
            Params={"Bucket": self.bucket, "Key": full, "ContentLength": size,
                    "ContentType": content_type})

    def presign_part(self, key: str, upload_id: str, part_number: int, *, size: int,
                     expires: int) -> str:
        full = self.full_key(key)
        return self.client.generate_presigned_url(
            "upload_part", ExpiresIn=expires,
            Params={"Bucket": self.bucket, "Key": full, "UploadId": upload_id,
                    "PartNumber": part_number, "ContentLength": size})

    def allow_browser_uploads(self, origins: list[str], *, max_age: int = 3600) -> None:
        """Set the bucket's CORS rule so pages from ``origins`` (e.g. the JupyterLab URL) can PUT
        to presigned URLs and read the ``ETag`` of each part. Replaces the bucket's CORS rules."""
        self.call("put_bucket_cors", None, CORSConfiguration={"CORSRules": [{
            "AllowedOrigins": list(origins), "AllowedMethods": ["PUT", "GET", "HEAD"],
            "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": max_age}]})

    def presign_get(self, key: str, *, expires: int = 3600) -> str:
        full = self.full_key(key)
        return self.client.generate_presigned_url(
            "get_object", ExpiresIn=expires, Params={"Bucket": self.bucket, "Key": full})


